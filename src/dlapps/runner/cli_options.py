"""Options shared by every command (run controls, compute controls, data source) and small parsing helpers.
The top-level ``dlapps.cli`` and every app's ``cli`` import from here, never from each other, so the command
line has no import cycle. The list of the apps lives in ``dlapps.apps``.
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Any, Callable

import click

from dlapps.runner.options import cli_options
from dlapps.runner.runs import RunOptions
from dlapps.runner.presets import apply_to_click

RUN_FIELDS = tuple(f.name for f in dataclasses.fields(RunOptions))
COMPUTE_FIELDS = ("threads", "device", "quiet")  # for commands that compute inside an existing run dir


def run_options(f: Callable) -> Callable:
    """Add RunOptions' fields (--out, --resume, --seed, --device, --threads, --quiet, --preset, --tensorboard)
    and pass them as ``opts: RunOptions``; a preset fills the command's options the user left at their
    defaults."""
    @cli_options(RunOptions)
    @functools.wraps(f)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        run = {k: kwargs.pop(k) for k in RUN_FIELDS}
        kwargs = apply_to_click(click.get_current_context(), run["preset"], kwargs)
        return f(*args, opts=RunOptions(**run), **kwargs)

    return wrapper


def compute_options(f: Callable) -> Callable:
    """--threads/--device/--quiet (RunOptions' own) for commands that compute inside an existing run dir (no
    --out/--resume): sets the threads and passes ``device`` (a torch.device) and ``quiet``."""
    @cli_options(RunOptions, only=COMPUTE_FIELDS)
    @functools.wraps(f)
    def wrapper(*args: Any, threads: int, device: str, **kwargs: Any) -> Any:
        from dlapps.core.compute import resolve_device, set_threads  # torch: only when the command runs, not for --help

        set_threads(threads)
        return f(*args, device=resolve_device(device), **kwargs)

    return wrapper


def finish(result: Any) -> None:
    """Print where a finished run wrote its report."""
    click.echo(f"done: {result.run_dir}/report.html")
