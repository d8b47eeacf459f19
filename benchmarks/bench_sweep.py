"""sweep benchmark: a 4-point quick sweep with --jobs 2 against --jobs 1 (same seeds, same table),
then an interrupted sweep rerun (only unfinished points run), and the Ray backend when installed.

    python benchmarks/bench_sweep.py [--out runs/bench-sweep]
"""

from __future__ import annotations

import argparse
import json
import shutil
import time
from pathlib import Path

from common import write_results

from dlapps.sweep_config import SweepConfig
from dlapps.runner.runs import RunOptions
from dlapps.sweep import run_sweep

SWEEP = """command = "adapt dann"
seeds = [0]
metrics = ["target.class_acc", "source.class_acc"]
[base]
epochs = 2
data-source = "embedded"
tsne-points = 0
limit = 2000
[grid]
lambda-schedule = ["exp", "linear"]
lr-step = ["per-step", "per-epoch"]
"""


def table(d: Path) -> dict:
    return json.loads((d / "metrics.json").read_text())["points"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default="runs/bench-sweep")
    args = ap.parse_args()
    out = Path(args.out)
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    f = out / "sweep.toml"
    f.write_text(SWEEP)
    times = {}
    for jobs in (1, 2):
        t0 = time.perf_counter()
        run_sweep(SweepConfig(file=f, jobs=jobs), RunOptions(out=str(out / f"jobs{jobs}"), quiet=True))
        times[jobs] = time.perf_counter() - t0
        print(f"--jobs {jobs}: {times[jobs]:.1f} s")
    same = table(out / "jobs1") == table(out / "jobs2")
    print(f"--jobs 2 / --jobs 1 = {times[2] / times[1]:.2f}; identical tables: {same}")
    # an interruption: remove two finished points, rerun, check only those ran
    d = out / "jobs2"
    pts = sorted(p for p in d.iterdir() if p.is_dir() and (p / "config.json").exists())
    for p in pts[:2]:
        shutil.rmtree(p)
    t0 = time.perf_counter()
    run_sweep(SweepConfig(file=f, jobs=1), RunOptions(out=str(d), quiet=True))
    rerun_s, rerun_same = time.perf_counter() - t0, table(d) == table(out / "jobs1")
    print(f"rerun after removing 2 of 4 points: {rerun_s:.1f} s, identical table: {rerun_same}")
    write_results("sweep", {"jobs1_s": times[1], "jobs2_s": times[2], "ratio": times[2] / times[1],
                            "identical_tables": same, "rerun_two_points_s": rerun_s, "rerun_identical": rerun_same})
    try:
        import ray  # noqa: F401
    except ImportError:
        print("Ray not installed: skipped the --backend ray check (pip install 'dlapps[ray]')")
        return
    t0 = time.perf_counter()
    run_sweep(SweepConfig(file=f, jobs=2, backend="ray"), RunOptions(out=str(out / "ray"), quiet=True))
    print(f"--backend ray (local): {time.perf_counter() - t0:.1f} s, identical table: "
          f"{table(out / 'ray') == table(out / 'jobs1')}")


if __name__ == "__main__":
    main()
