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


def updated_readme(readme: str) -> str:
    if START not in readme or not (STUDY / "report.md").exists():
        return readme
    block = f"{START}\n{render()}\n{END}"
    return re.sub(re.escape(START) + r".*?" + re.escape(END), lambda _: block, readme, flags=re.S)


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
