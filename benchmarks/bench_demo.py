"""The README's main job, timed: `dlapps demo` as a user runs it (a subprocess, a fresh --out, embedded data,
offline), its wall time, each part's seconds and the headline numbers of its report's summary box, read from the
demo's own files. The README's set-up paragraph is written from benchmarks/results/demo.json
(scripts/bench_figures.py), never by hand.

The demo runs its parts two at a time, one thread each, so other work on the machine slows it: the load average
before the run is recorded beside the time.

    python benchmarks/bench_demo.py [--out runs/bench-demo] [--fresh-cache]
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time

from common import add_out_args, out_dir, write_results

from dlapps.demo import demo_glance


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_out_args(ap, "runs/bench-demo")
    ap.add_argument("--fresh-cache", action="store_true",
                    help="Run with an empty DLAPPS_CACHE (a first run on a new machine: embedded data rebuilt).")
    args = ap.parse_args()
    out = out_dir(args)
    env = {**os.environ, "DLAPPS_OFFLINE": "1", "MPLBACKEND": "Agg"}
    env.pop("DLAPPS_DATA", None)  # the demo's data is the embedded default, whatever this shell points at
    cache = tempfile.TemporaryDirectory() if args.fresh_cache else None
    if cache:
        env["DLAPPS_CACHE"] = cache.name
    load = os.getloadavg()[0]
    t0 = time.perf_counter()
    p = subprocess.run([sys.executable, "-m", "dlapps", "demo", "--out", str(out)], env=env, capture_output=True,
                       text=True)
    wall = time.perf_counter() - t0
    if cache:
        cache.cleanup()
    if p.returncode != 0:
        sys.exit(f"dlapps demo failed (exit {p.returncode}): {p.stderr.strip().splitlines()[-1:]}")
    parts = {m[1]: float(m[2]) for m in re.finditer(r"^\s+(\S+) took (\d+) s$", p.stdout, flags=re.M)}
    glance = [{"what": w, "value": v, "against": a} for w, v, a, _ in demo_glance(out)]
    figures = {"wall_s": wall, "parts_s": parts, "glance": glance, "fresh_cache": args.fresh_cache,
               "load_average_before": load}
    print(f"dlapps demo: {wall:.0f} s (load average {load:.1f} before it); "
          + "; ".join(f"{g['what']} {g['value']}" for g in glance))
    write_results("demo", figures, threads=1)


if __name__ == "__main__":
    main()
