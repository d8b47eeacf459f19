"""``dlapps study``: the study's experiments with its own settings, and its tables beside ours. The options
are StudyConfig's fields (dlapps.runner.options)."""

from __future__ import annotations

from typing import Any

import click

from dlapps.runner.options import cli_options, to_config
from dlapps.runner.runs import RunOptions
from dlapps.study.run import StudyConfig, run_study


@click.command()
@cli_options(StudyConfig)
@click.option("--out", type=click.Path(file_okay=False), default=None,
              help="Study dir [default: runs/study or runs/study-quick]; rerunning finishes what is missing.")
@click.option("--quiet", is_flag=True, help="No progress bars.")
def study(out: str | None, quiet: bool, **kw: Any) -> None:
    """Reproduce the study (RDFIA Section 2, Report 2): its tables with 'study reported | dlapps | difference'."""
    cfg = to_config(StudyConfig, kw)
    r = run_study(cfg, RunOptions(out=out, quiet=quiet))
    if not cfg.plan:
        click.echo(f"done: {r.run_dir}/report.html")
