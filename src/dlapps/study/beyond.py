"""The report's section after 2-c: the study's data under stronger methods (study.toml ``[beyond.*]``), each a
sweep published in ``beyond/<sweep stem>`` of the study dir, side by side as mean ± sd over its finished seeds.
A method not published yet is listed as not run, with the command that runs it: nothing here is typed by hand."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from dlapps.runner.runs import metric
from dlapps.runner.tables import markdown_table
from dlapps.study.verdict import mean_sd
from dlapps.sweep import read_metrics, status

HEADER = ["method", "seeds", "target accuracy", "source accuracy", "chosen by", "gap to the oracle's pick",
          "ms per step", "minutes per run"]


def _seed_runs(d: Path) -> dict[int, dict[str, Any]]:
    """Seed -> metrics of each finished run ``<point>-s<seed>`` of a published sweep dir (its first point)."""
    out: dict[int, dict[str, Any]] = {}
    for run in sorted(p for p in d.iterdir() if p.is_dir()) if d.is_dir() else []:
        m = re.fullmatch(r"(.*)-s(\d+)", run.name)
        if m and status(run) == "complete" and (metrics := read_metrics(run)) is not None:
            out.setdefault(int(m[2]), metrics)
    return out


def _cell(values: list[float], digits: int = 4) -> str:
    """mean ± sample sd over the seeds ('—' when none recorded it)."""
    if not values:
        return "—"
    mean, sd = mean_sd(values)
    return f"{mean:.{digits}f}" + (f" ± {sd:.{digits}f}" if len(values) > 1 else "")


def _numbers(runs: dict[int, dict[str, Any]], key: str) -> list[float]:
    vals = [metric(m, key) for m in runs.values()]
    return [float(v) for v in vals if isinstance(v, (int, float)) and not isinstance(v, bool)]


def _minutes(m: dict[str, Any]) -> float | None:
    """One run's wall time: a DANN's total, or a pseudo-labelling run's rounds."""
    total = metric(m, "timing.total_s")
    if isinstance(total, (int, float)):
        return total / 60
    rounds = m.get("rounds")
    return sum(r.get("seconds", 0.0) for r in rounds) / 60 if isinstance(rounds, list) and rounds else None


def method_row(label: str, sweep: str, out: Path) -> list[str]:
    """One method's row: its finished seeds' numbers, or 'not run yet' with the command that runs it."""
    stem = Path(sweep).stem
    runs = _seed_runs(out / "beyond" / stem)
    if not runs:
        return [label, "not run yet", f"`dlapps sweep experiments/{sweep} --out study-results/beyond/{stem}`",
                "", "", "", "", ""]
    chosen = sorted({str(metric(m, "selected.by")) for m in runs.values() if metric(m, "selected.by")}) or ["last"]
    minutes = [x for x in (_minutes(m) for m in runs.values()) if x is not None]
    return [label, ", ".join(map(str, sorted(runs))), _cell(_numbers(runs, "target.class_acc")),
            _cell(_numbers(runs, "source.class_acc")), ", ".join(chosen),
            _cell(_numbers(runs, "selected.gap_to_oracle")), _cell(_numbers(runs, "timing.ms_per_step"), 1),
            _cell(minutes, 1)]


def beyond_part(out: Path, specs: dict[str, dict[str, Any]]) -> list[str]:
    """Each ``[beyond.*]`` entry of study.toml as a table under its title, the methods' sources below it."""
    part: list[str] = []
    for spec in specs.values():
        rows = [method_row(label, sweep, out) for label, sweep in spec["methods"].items()]
        notes = [f"- **{label}**: {note}." for label, note in spec.get("notes", {}).items()]
        part += [f"## {spec['title']}", "", spec["caption"], "", markdown_table(HEADER, rows), "", *notes, ""]
    return part
