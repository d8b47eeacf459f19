"""The ``dlapps`` command line: a click group; each application adds its own sub-commands.

User mistakes (unknown names, missing files, existing run dirs, divergence) end with one line on
stderr and a non-zero exit code, never a traceback.
"""

from __future__ import annotations

import importlib
import sys
from pathlib import Path
from typing import Any

import click

from dlapps import DlappsError, __version__
from dlapps.apps import APP_COMMANDS
from dlapps.runner.options import cli_options, to_config
from dlapps.sweep_config import SweepConfig

# the commands imported when first invoked: the four apps (dlapps.apps), the demo and the study
LAZY_COMMANDS: dict[str, str] = {**APP_COMMANDS, "demo": "dlapps.demo:demo", "study": "dlapps.study.cli:study"}

EXIT_USER_ERROR = 2
EXIT_INTERRUPTED = 130  # 128 + SIGINT, as shells report it
EXIT_TERMINATED = 143   # 128 + SIGTERM


def threading_is_main() -> bool:
    """Signal handlers can only be installed from the main thread (not when main() is called from a worker)."""
    import threading

    return threading.current_thread() is threading.main_thread()


class LazyGroup(click.Group):
    """The top-level group: an application's command group is imported only when it is invoked (or when
    ``dlapps --help`` lists them), so ``dlapps adapt dann`` does not pay for torchvision, matplotlib and
    the other applications at start-up (about 3 s of imports on a 2-core machine)."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *LAZY_COMMANDS})

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name not in self.commands and name in LAZY_COMMANDS:
            module, _, attr = LAZY_COMMANDS[name].partition(":")
            self.add_command(getattr(importlib.import_module(module), attr), name)
        return super().get_command(ctx, name)

    def resolve_command(self, ctx: click.Context, args: list[str]) -> tuple[str | None, click.Command | None,
                                                                            list[str]]:
        """A misspelt command (``dlapps adpt``) gets click's "did you mean": click draws its suggestions
        from the registered commands, so register them all first (only on this error path)."""
        if args and args[0] not in self.commands and args[0] not in LAZY_COMMANDS and not args[0].startswith("-"):
            for name in LAZY_COMMANDS:
                self.get_command(ctx, name)
        return super().resolve_command(ctx, args)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"], "show_default": True})
@click.version_option(__version__, prog_name="dlapps")
def cli() -> None:
    """dlapps: transfer learning, visualization, domain adaptation and GANs as reproducible runs.

    Every computing command writes a run directory (config.json, metrics.json, tables/, figures/,
    checkpoints/, report.md, report.html). Data comes from $DLAPPS_DATA, a download, or an embedded
    fallback; weights from torchvision, $DLAPPS_WEIGHTS, a file, or random.
    """


@cli.command()
@click.argument("runs", nargs=-1, required=True, type=click.Path(exists=True, file_okay=False))
@click.option("--out", type=click.Path(file_okay=False), default=None,
              help="Where to write report.md/html [default: the run dir itself for one run, else their parent].")
@click.option("--title", default=None, help="[default: a single run's own title, else 'dlapps report'].")
def report(runs: tuple[str, ...], out: str | None, title: str | None) -> None:
    """Rebuild report.md and report.html from one or more run dirs (or sweep dirs)."""
    from dlapps.apps import load_apps  # each app's headline numbers: imported only for `dlapps report`
    from dlapps.runner.report import build_report, expand_runs  # torch and markdown: only when the command runs

    load_apps()  # each app's headline numbers for the runs' summary boxes

    md, html = build_report(expand_runs([Path(r) for r in runs]), Path(out) if out else None, title=title)
    click.echo(f"wrote {md} and {html}")


def _register_apps() -> None:
    """Import every application's command group now (tests and tools that walk ``cli.commands``);
    the command line itself imports one lazily, when it is invoked."""
    for name in LAZY_COMMANDS:
        cli.get_command(click.Context(cli), name)


class Stopped(KeyboardInterrupt):
    """SIGTERM, delivered as an exception so a run unwinds as it does on Ctrl-C (checkpoints intact)."""


def _on_sigterm(signum: int, frame: object) -> None:
    raise Stopped()


def _stopped_line(signame: str) -> str:
    from dlapps.runner.runs import LAST_CHECKPOINT  # torch: only once a run was stopped

    if LAST_CHECKPOINT:
        return (f"{signame}: stopped at {LAST_CHECKPOINT['progress']} (checkpointed in {LAST_CHECKPOINT['run']}); "
                "the same command with --resume continues")
    return f"{signame}: stopped before the first checkpoint; nothing to resume, run the command again"


def _discard_empty_runs() -> None:
    """A command that stopped before its first result leaves no run dir behind (results are always kept)."""
    runs = sys.modules.get("dlapps.runner.runs")  # no run dir can exist before a command imported runs
    if runs is not None:
        runs.discard_empty_runs()


def main(argv: list[str] | None = None) -> None:
    """Entry point: run the CLI, turning user errors into one line and a non-zero exit. SIGINT (Ctrl-C) and
    SIGTERM (a scheduler, ``kill``) stop a run with one line naming the last checkpointed epoch."""
    import signal

    previous = signal.signal(signal.SIGTERM, _on_sigterm) if threading_is_main() else None
    try:
        cli.main(args=argv, prog_name="dlapps", standalone_mode=False)
    except (click.exceptions.Abort, KeyboardInterrupt) as e:  # click wraps Ctrl-C (and our SIGTERM) in Abort
        term = isinstance(e, Stopped) or isinstance(e.__cause__, Stopped)
        click.echo(_stopped_line("SIGTERM" if term else "interrupted"), err=True)
        _discard_empty_runs()
        sys.exit(EXIT_TERMINATED if term else EXIT_INTERRUPTED)
    except click.BadParameter as e:  # an option out of its range: one line naming it and the range
        click.echo(f"error: {e.format_message()}", err=True)
        sys.exit(e.exit_code)
    except click.ClickException as e:
        e.show()
        sys.exit(e.exit_code)
    except DlappsError as e:
        click.echo(f"error: {e}", err=True)
        _discard_empty_runs()
        sys.exit(EXIT_USER_ERROR)
    except OSError as e:
        # file system problems (unwritable --out, disk full) are the user's to fix: one line, no traceback
        click.echo(f"error: {e.strerror or e}: {getattr(e, 'filename', '') or ''}".rstrip(": "), err=True)
        _discard_empty_runs()
        sys.exit(EXIT_USER_ERROR)
    finally:
        if "dlapps.runner.runs" in sys.modules:  # main() called again in one process (tests, notebooks): its own dirs only
            sys.modules["dlapps.runner.runs"].STARTED_EMPTY.clear()
        if previous is not None:  # main() called in-process (tests, notebooks) leaves the handler as it was
            signal.signal(signal.SIGTERM, previous)


@cli.command()
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@click.option("--out", type=click.Path(file_okay=False), default=None,
              help="Sweep dir [default: runs/sweep-<file stem>].")
@click.option("--quiet", is_flag=True, help="No progress bars.")
@cli_options(SweepConfig)
def sweep(file: str, out: str | None, quiet: bool, **kw: Any) -> None:
    """Run a grid of experiments from a TOML/YAML file; rerunning skips finished points."""
    from dlapps.runner.runs import RunOptions  # torch: only when the command runs
    from dlapps.sweep import run_sweep  # numpy and the sweep: only when the command runs

    r = run_sweep(to_config(SweepConfig, kw, file=file), RunOptions(out=out, quiet=quiet))
    if "plan" in r.metrics:
        click.echo(f"plan: {len(r.metrics['plan'])} points checked, nothing run (sweep dir {r.run_dir})")
    else:
        click.echo(f"done: {r.run_dir}/report.html")
