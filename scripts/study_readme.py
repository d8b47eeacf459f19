"""Copy the published study's summary into README.md from study-results/ (never by hand).

README.md holds the block between ``<!-- study:results -->`` and ``<!-- /study:results -->``; this script
rewrites it from study-results/report.md (its summary box) and the finished points' config.json files (the
commits that ran them, the dates, how many points are finished).

    python scripts/study_readme.py          # rewrite the block
    python scripts/study_readme.py --check  # exit 1 if README.md is out of date (a test runs this)
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
STUDY = ROOT / "study-results"
START, END = "<!-- study:results -->", "<!-- /study:results -->"
COST_START, COST_END = "<!-- study:cost -->", "<!-- /study:cost -->"


def _finished() -> tuple[int, int, set[str], list[str]]:
    """(finished points, points the whole study plans, commits that ran the finished ones, their dates)."""
    from dlapps.study.results import StudyData, study_extra_seeds
    from dlapps.study.run import study_plans
    from dlapps.study.verdict import FIRST_SEEDS
    from dlapps.sweep import expand, status

    done = planned = 0
    commits: set[str] = set()
    dates: list[str] = []
    # decided by what ran in study-results/ (a substitute or the study's own network), not by probing for
    # VGG16's weights here: the probe would start a 528 MB download where there is a network, and count the
    # unrun VGG16 sweep as planned where the weights are present
    plans = study_plans(quick=False, ran_in=STUDY)
    # the study's seeds, and the replacement seeds asked for so far, resolved once by StudyData
    data = StudyData(STUDY, FIRST_SEEDS, study_extra_seeds(STUDY, plans, FIRST_SEEDS))
    files = {p.file for p in plans if p.file is not None}
    for file in sorted(files):
        for point in expand(data.spec(file)):
            planned += 1
            run = STUDY / file.stem / point.dirname
            if not status(run).finished:
                continue
            done += 1
            cfg = json.loads((run / "config.json").read_text())
            commits.add(cfg.get("environment", {}).get("commit", "unknown"))
            dates.append(cfg.get("created", "")[:10])
    return done, planned, commits, sorted(d for d in dates if d)


def render() -> str:
    report = (STUDY / "report.md").read_text(encoding="utf-8")
    summary = report.split("## Summary", 1)[1].split("</div>", 1)[0].strip()
    done, planned, commits, dates = _finished()
    when = f"{dates[0]} to {dates[-1]}" if dates and dates[0] != dates[-1] else (dates[0] if dates else "—")
    # only a partial run has a rest to point at
    finished = (f"all {planned} runs the study plans have finished" if done == planned else
                f"{done} of the {planned} runs the study plans have finished (the rest say \"not run\" below "
                "and in the report)")
    return "\n".join([
        f"From `study-results/`: {finished}, run {when} at commit{'s' if len(commits) > 1 else ''} "
        f"{', '.join(f'`{c}`' for c in sorted(commits)) or '—'} with `DLAPPS_DATA=../shared/data "
        "DLAPPS_WEIGHTS=../shared/weights dlapps study --out study-results` (one `--only` section at a time, "
        "`--jobs 2`, or two chains of `--jobs 1` side by side: `scripts/run_study.sh`). The runs planned include "
        "the replacement seeds asked for so far. The full report, every table with its claims and per-epoch "
        "figures: "
        "[study-results/report.md](study-results/report.md) (and `report.html`, its figures beside it).",
        "", summary])


def _minutes(app: str, epochs: int, data: str = "") -> list[float]:
    """Training minutes (train + validation time over every epoch, so a resumed run counts whole) of each
    finished top-level study run of one app that ran ``epochs`` epochs (on ``data``, where given)."""
    from dlapps.study.plan import run_cost
    from dlapps.sweep import read_metrics, status

    out = []
    for run in sorted(STUDY.glob("*/*-s*")):
        if not run.is_dir() or not status(run).finished:
            continue
        cfg = json.loads((run / "config.json").read_text(encoding="utf-8"))
        m = read_metrics(run)
        cost = run_cost(m) if m else None
        opts = cfg.get("options", {})
        if (cfg.get("app") == app and cost and cost[1] == epochs == opts.get("epochs")
                and (not data or opts.get("data") == data)):
            out.append(cost[0] / 60)
    return out


def render_cost() -> str:
    """What a study point costs, from the finished runs' own timings (the sentence the README had typed)."""
    import statistics

    parts = []
    for what, app, epochs, data in (("A 20-epoch DANN point", "adapt", 20, ""),
                                    ("a 5-epoch GAN point on MNIST", "generate", 5, "mnist")):
        mins = _minutes(app, epochs, data)
        if mins:
            parts.append(f"{what} trains for {min(mins):.0f}-{max(mins):.0f} min (median "
                         f"{statistics.median(mins):.0f}, over the {len(mins)} published that ran all {epochs} "
                         "epochs)")
    return ("; ".join(parts) + " on one core of this 2-core machine beside another run (the sum of their epochs' "
            "train and validation times, so a resumed point counts whole).") if parts else ""


def _replace(readme: str, start: str, end: str, body: str) -> str:
    block = f"{start}\n{body}\n{end}"
    return re.sub(re.escape(start) + r".*?" + re.escape(end), lambda _: block, readme, flags=re.S)


def updated_readme(readme: str) -> str:
    if START not in readme or not (STUDY / "report.md").exists():
        return readme
    readme = _replace(readme, START, END, render())
    return _replace(readme, COST_START, COST_END, render_cost()) if COST_START in readme else readme


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--check", action="store_true")
    args = ap.parse_args()
    path = ROOT / "README.md"
    old = path.read_text(encoding="utf-8")
    new = updated_readme(old)
    if args.check:
        if new != old:
            print("README.md's study block differs from study-results/: run python scripts/study_readme.py")
            sys.exit(1)
        return
    path.write_text(new, encoding="utf-8")
    print("README.md study block updated" if new != old else "README.md already up to date")


if __name__ == "__main__":
    main()
