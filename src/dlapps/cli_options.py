"""Options shared by every command (run controls, compute controls, data source), the list of the
application command groups, and small parsing helpers. The top-level ``dlapps.cli`` and every app's
``cli`` import from here, never from each other, so the command line has no import cycle.
"""

from __future__ import annotations

import functools
import importlib
from typing import Any, Callable, get_args

import click

from dlapps import DlappsError
from dlapps.data.containers import DataSource
from dlapps.runs import Device, RunOptions

# top-level command -> "module:attribute" of its click group/command (imported when first used)
APP_COMMANDS: dict[str, str] = {
    "transfer": "dlapps.transfer.cli:transfer",
    "visualize": "dlapps.visualize.cli:visualize",
    "adapt": "dlapps.adapt.cli:adapt",
    "generate": "dlapps.generate.cli:generate",
    "demo": "dlapps.demo:demo",
    "study": "dlapps.study.cli:study",
}


def app_command(name: str) -> click.Command:
    """The click group (or command) of one application, by its top-level name."""
    module, _, attr = APP_COMMANDS[name].partition(":")
    return getattr(importlib.import_module(module), attr)


def csv_list(values: str, kind: type = str) -> list:
    """"0.1,1,10" -> [0.1, 1.0, 10.0], with one clear error for a bad value."""
    try:
        return [kind(v.strip()) for v in values.split(",") if v.strip()]
    except ValueError:
        raise DlappsError(f"cannot parse {values!r} as a comma-separated list of {kind.__name__}") from None


def run_options(f: Callable) -> Callable:
    """Add --preset/--out/--resume/--seed/--device/--threads/--quiet and pass the run controls as
    ``opts: RunOptions``; a preset fills the command's options the user left at their defaults."""
    @click.option("--preset", default=None, metavar="NAME",
                  help="Fill options not given from a named preset: study (the study's settings) or paper.")
    @click.option("--quiet", is_flag=True, help="No progress bars (they are also off when output is not a terminal).")
    @click.option("--tensorboard", is_flag=True,
                  help="Also log scalars, images and embeddings to <run dir>/tb (or DLAPPS_TENSORBOARD=1).")
    @click.option("--threads", type=int, default=0, show_default=True,
                  help="Torch CPU threads (0 = one per available core).")
    @click.option("--device", default="auto", show_default=True, type=click.Choice(get_args(Device)))
    @click.option("--seed", type=int, default=0, show_default=True, help="Random seed (same seed, same numbers on CPU).")
    @click.option("--resume", is_flag=True, help="Continue an interrupted run in --out from its last checkpoint.")
    @click.option("--out", type=click.Path(file_okay=False), default=None,
                  help="Run directory [default: runs/<app>-<command>-<timestamp>].")
    @functools.wraps(f)
    def wrapper(*args: Any, out: str | None, resume: bool, seed: int, device: str, threads: int, quiet: bool,
                preset: str | None, tensorboard: bool, **kwargs: Any) -> Any:
        from dlapps.presets import apply_to_click

        kwargs = apply_to_click(click.get_current_context(), preset, kwargs)
        opts = RunOptions(out=out, resume=resume, seed=seed, device=device, threads=threads, quiet=quiet,
                          preset=preset, tensorboard=tensorboard)
        return f(*args, opts=opts, **kwargs)

    return wrapper


def compute_options(f: Callable) -> Callable:
    """--threads/--device/--quiet for commands that compute inside an existing run dir (no --out/--resume):
    sets the threads and passes ``device`` (a torch.device) and ``quiet``."""
    @click.option("--quiet", is_flag=True, help="No progress bars.")
    @click.option("--threads", type=int, default=0, show_default=True,
                  help="Torch CPU threads (0 = one per available core).")
    @click.option("--device", default="auto", show_default=True, type=click.Choice(get_args(Device)))
    @functools.wraps(f)
    def wrapper(*args: Any, threads: int, device: str, **kwargs: Any) -> Any:
        from dlapps.compute import resolve_device, set_threads

        set_threads(threads)
        return f(*args, device=resolve_device(device), **kwargs)

    return wrapper


def data_source_option(f: Callable) -> Callable:
    return click.option("--data-source", default="auto", show_default=True,
                        type=click.Choice(get_args(DataSource)),
                        help="Where datasets come from: auto tries path, $DLAPPS_DATA, cache, download, "
                             "then the embedded fallback.")(f)


def finish(result: Any) -> None:
    """Print where a finished run wrote its report."""
    click.echo(f"done: {result.run_dir}/report.html")
