"""Helpers shared by the benchmark scripts: shared/ detection, a fresh output dir, step timing (alone or in
alternating blocks), the matmul peak."""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch


def shared_dir() -> Path:
    """../shared beside the repo (or $DLAPPS_DATA's parent); exit cleanly when it is absent."""
    root = Path(__file__).resolve().parents[1]
    cand = Path(os.environ["DLAPPS_DATA"]).parent if os.environ.get("DLAPPS_DATA") else root.parent / "shared"
    if not (cand / "data").is_dir():
        print(f"shared data not found at {cand}; this benchmark needs the real data sets", file=sys.stderr)
        sys.exit(0)
    os.environ.setdefault("DLAPPS_DATA", str(cand / "data"))
    os.environ.setdefault("DLAPPS_WEIGHTS", str(cand / "weights"))
    return cand


def fresh_out(path: str) -> Path:
    """The benchmark's output dir, emptied: its numbers must come from this run."""
    out = Path(path)
    if out.exists():
        shutil.rmtree(out)
    return out


def add_out_args(ap: argparse.ArgumentParser, default: str) -> None:
    """--out and --reuse, the run-dir options of every benchmark that trains runs."""
    ap.add_argument("--out", default=default)
    ap.add_argument("--reuse", action="store_true",
                    help="Reuse finished runs already in --out (default: start from an empty --out).")


def out_dir(args: argparse.Namespace) -> Path:
    """The parsed --out: as it is with --reuse, else emptied (see fresh_out)."""
    return Path(args.out) if args.reuse else fresh_out(args.out)


def ms_per_step(step: Callable[[], None], steps: int, warmup: int = 3) -> float:
    """Milliseconds per call of ``step`` over ``steps`` calls, after ``warmup`` untimed ones."""
    for _ in range(warmup):
        step()
    t0 = time.perf_counter()
    for _ in range(steps):
        step()
    return 1000 * (time.perf_counter() - t0) / steps


def interleaved_ms_per_step(contestants: dict[str, Callable[[], None]], blocks: int, steps: int,
                            warmup: int = 1) -> dict[str, float]:
    """ms/step of each step function, timed in alternating blocks of ``steps``; the median of its blocks.

    Alternating keeps all under the same machine conditions: this VM's speed drifts by tens of percent
    over minutes, so a reference timed once beside a long run is not a fair ratio.
    """
    times: dict[str, list[float]] = {name: [] for name in contestants}
    for _ in range(blocks):
        for name, step in contestants.items():
            times[name].append(ms_per_step(step, steps, warmup))
    return {name: float(np.median(t)) for name, t in times.items()}


def matmul_peak_gflops(n: int = 1024, seconds: float = 2.0, dtype: torch.dtype = torch.float32) -> float:
    """Measured GEMM throughput (float32 unless told) with the current thread setting (best of several runs)."""
    a, b = torch.randn(n, n, dtype=dtype), torch.randn(n, n, dtype=dtype)
    for _ in range(3):
        a @ b
    best = 0.0
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        t = time.perf_counter()
        for _ in range(5):
            a @ b
        dt = (time.perf_counter() - t) / 5
        best = max(best, 2 * n ** 3 / dt / 1e9)
    return best


def write_results(name: str, figures: dict, threads: int | None = None) -> Path:
    """benchmarks/results/<name>.json: the figures with the command line, commit, date, machine and threads
    they came from. These files are committed; README figures are copied from them (scripts/bench_figures.py)."""
    import json
    import platform
    import subprocess
    from datetime import datetime, timezone

    root = Path(__file__).resolve().parent
    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=root, capture_output=True, text=True,
                                check=True).stdout.strip()
        # uncommitted changes to what runs (the package, the benchmarks, the build); another benchmark's fresh
        # results file, the README it renders into or published study runs are not code
        dirty = bool(subprocess.run(["git", "status", "--porcelain", "--untracked-files=no", "--", ":(top)src",
                                     ":(top)benchmarks", ":(top)pyproject.toml", ":(top,exclude)benchmarks/results"],
                                    cwd=root, capture_output=True, text=True).stdout.strip())
    except (OSError, subprocess.CalledProcessError):
        commit, dirty = "unknown", False
    cpu = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name")),
               platform.processor()) if Path("/proc/cpuinfo").exists() else platform.processor()
    import shlex

    # the command line, so a shortened run (fewer epochs, blocks) is never read as the default one
    command = " ".join(["python", *map(shlex.quote, [os.path.relpath(sys.argv[0], root.parent), *sys.argv[1:]])])
    doc = {"benchmark": name, "command": command, "commit": commit + ("+uncommitted" if dirty else ""),
           "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
           "machine": {"cpu": cpu, "cores": os.cpu_count(), "python": platform.python_version(),
                       "torch": torch.__version__},
           "threads": threads if threads is not None else torch.get_num_threads(), "figures": figures}
    path = root / "results" / f"{name}.json"
    path.parent.mkdir(exist_ok=True)
    path.write_text(json.dumps(doc, indent=2, default=float) + "\n")
    print(f"wrote {path}")
    return path


def real_batches(cfg: Any) -> Callable[[], tuple[torch.Tensor, torch.Tensor, torch.Tensor]]:
    """Draws (source images, their labels, target images) of half a DANN batch each from the real domains of an
    adapt config, indexed from the in-memory tensors as ``dlapps adapt dann`` does; seeded, so runs compare."""
    from dlapps.adapt.data import DomainSpec, load_domains  # dlapps' data: only for the adapt benchmarks
    from dlapps.adapt.evaluation import CL

    src, tgt, _ = load_domains(DomainSpec(source=cfg.source, target=cfg.target, normalize=cfg.normalize))
    gen = torch.Generator().manual_seed(0)
    half = cfg.batch_size // 2

    def draw() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        bs = torch.randint(len(src.x_train), (half,), generator=gen)
        bt = torch.randint(len(tgt.x_train), (half,), generator=gen)
        xs, xt = (d.x_train[b].contiguous(memory_format=CL) for d, b in ((src, bs), (tgt, bt)))
        return xs, src.y_train[bs], xt

    return draw
