"""``dlapps study``: the study's experiments with its own settings, and its tables beside ours."""

from __future__ import annotations

from pathlib import Path

import click

from dlapps.choices import choices
from dlapps.study.run import SECTIONS, StudyConfig, run_study


@click.command()
@click.option("--only", multiple=True, type=click.Choice(SECTIONS), help="Run only these sections (repeatable).")
@click.option("--tables", default="", help="Only the points these tables need, e.g. 4,5,7,10 (default: all).")
@click.option("--quick", is_flag=True, help="Embedded data and shortened runs (minutes); not comparable.")
@click.option("--seeds", type=int, default=0, show_default=True,
              help="Seeds per training point (0 = 3, or 1 with --quick).")
@click.option("--jobs", type=int, default=1, show_default=True, help="Sweep points run in parallel.")
@click.option("--backend", type=click.Choice(choices(StudyConfig, "backend")), default=StudyConfig.backend, show_default=True)
@click.option("--address", default=None, help="Ray cluster address (default: a local Ray instance).")
@click.option("--threads", type=int, default=1, show_default=True,
              help="Torch threads per point (1: numbers independent of --jobs; 0: cores / jobs).")
@click.option("--out", type=click.Path(file_okay=False), default=None,
              help="Study dir [default: runs/study or runs/study-quick]; rerunning finishes what is missing.")
@click.option("--report-only", is_flag=True, help="Run nothing; rebuild the report from the finished points.")
@click.option("--quiet", is_flag=True)
def study(only: tuple[str, ...], tables: str, quick: bool, seeds: int, jobs: int, backend: str, address: str | None,
          threads: int, out: str | None, report_only: bool, quiet: bool) -> None:
    """Reproduce the study (RDFIA Section 2, Report 2): its tables with 'study reported | dlapps | difference'."""
    try:
        table_list = [int(t) for t in tables.replace(" ", "").split(",") if t]
    except ValueError:
        raise click.BadParameter(f"{tables!r}: give table numbers separated by commas, e.g. 4,5,7",
                                 param_hint="--tables") from None
    cfg = StudyConfig(only=list(only), tables=table_list, quick=quick, seeds=seeds, jobs=jobs, backend=backend,
                      address=address, threads=threads, report_only=report_only)
    d = run_study(cfg, Path(out) if out else None, quiet=quiet)
    click.echo(f"done: {d}/report.html")
