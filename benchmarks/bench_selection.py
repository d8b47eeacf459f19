"""Settings chosen without target test labels (issue #15), on the real MNIST / MNIST-M of ../shared/data.

1. The DANN sweep ``experiments/select_dann_defaults.toml`` (8 configurations x 2 seeds, shortened runs):
   every validator's pick, its target test accuracy, the oracle's, the gap, the Spearman correlation.
2. The pseudo-label sweep ``experiments/select_pseudo_label_defaults.toml`` (8 x 2, 5 rounds), started from
   the DANN configuration the pre-registered validator picked (its seed-0 run).
3. The final protocol: the picked DANN configuration, full data and ``--final-epochs``, then the picked
   pseudo-label configuration for ``--rounds`` rounds, over ``--seeds``; mean ± sd of target and source
   test accuracy. No target test label enters any choice: the selector is fixed in advance (``--selector``,
   default im, as the sweep files record); the oracle rows are diagnostics.

Starts from an empty --out unless --reuse; every step is a resumable sweep, so an interrupted benchmark
rerun with --reuse finishes only what is missing.

    python benchmarks/bench_selection.py [--jobs 2] [--out runs/bench-selection] [--reuse]
"""

from __future__ import annotations

import argparse
import json
import re
import time
from pathlib import Path
from typing import Any

import numpy as np

from common import add_out_args, out_dir, shared_dir, write_results

from dlapps.sweep_config import SweepConfig
from dlapps.runner.runs import RunOptions
from dlapps.sweep import Point, run_sweep

ROOT = Path(__file__).resolve().parents[1]
SHORTENED = {"limit", "epochs", "tsne-points", "from", "rounds"}  # the sweeps' own shortening, not a choice


def picked_options(sweep_dir: Path) -> tuple[str, dict[str, Any], list[dict[str, Any]]]:
    """The point the sweep's --select-by validator picked, its options (without the shortening) and the
    whole selection table."""
    m = json.loads((sweep_dir / "metrics.json").read_text())
    cfg = json.loads((sweep_dir / "config.json").read_text())["options"]["points"]
    point = m["selected_point"]
    opts = next(o for d, o in cfg.items() if d.rsplit("-s", 1)[0] == point_dir(point))
    return point, {k: v for k, v in opts.items() if k != "command" and k not in SHORTENED}, m["selection"]


def point_dir(point: str) -> str:
    """A sweep point's run-dir name without its seed suffix (the sweep's own naming rule)."""
    return Point(point, {}, 0).dirname.rsplit("-s", 1)[0]


def sweep_file(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def toml_value(v: Any) -> str:
    return json.dumps(v) if isinstance(v, str) else ("true" if v is True else "false" if v is False else str(v))


def summary(picks: list[dict[str, Any]]) -> dict[str, Any]:
    """The best label-free validator (smallest gap) and the table."""
    free = [p for p in picks if p["validator"] not in ("oracle", "target_val")]
    best = min(free, key=lambda p: p["gap"])
    return {"table": picks, "best_validator": best["validator"], "best_gap": best["gap"]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--selector", default="im", help="the pre-registered validator (fixed before any result)")
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--final-epochs", type=int, default=20)
    ap.add_argument("--rounds", type=int, default=10)
    add_out_args(ap, "runs/bench-selection")
    args = ap.parse_args()
    shared_dir()
    out = out_dir(args).resolve()
    t0 = time.perf_counter()
    res: dict[str, Any] = {"selector": args.selector, "seeds": args.seeds}

    # 1. DANN configurations
    d_sweep = run_sweep(SweepConfig(file=ROOT / "experiments" / "select_dann_defaults.toml", jobs=args.jobs,
                                    select_by=args.selector), RunOptions(out=str(out / "dann"), quiet=True)).run_dir
    d_point, d_opts, d_picks = picked_options(d_sweep)
    res["dann_sweep"] = {"picked": d_point, **summary(d_picks)}
    print(f"DANN sweep: {args.selector} picks {d_point}")

    # 2. pseudo-label configurations, from the picked DANN configuration's seed-0 run
    start = next(p for p in d_sweep.iterdir() if p.is_dir() and p.name.endswith("-s0")
                 and p.name.rsplit("-s", 1)[0] == point_dir(d_point))
    text = (ROOT / "experiments" / "select_pseudo_label_defaults.toml").read_text()
    text = re.sub(r'(?m)^from = ".*"$', f"from = {json.dumps(str(start))}", text)
    p_sweep = run_sweep(SweepConfig(file=sweep_file(out / "files" / "select_pseudo_label_defaults.toml", text),
                                    jobs=args.jobs, select_by=args.selector),
                        RunOptions(out=str(out / "pseudo-label"), quiet=True)).run_dir
    p_point, p_opts, p_picks = picked_options(p_sweep)
    res["pseudo_label_sweep"] = {"picked": p_point, **summary(p_picks)}
    print(f"pseudo-label sweep: {args.selector} picks {p_point}")

    # 3. the final protocol, full data, over the seeds
    base = "\n".join(f"{k} = {toml_value(v)}" for k, v in {**d_opts, "epochs": args.final_epochs,
                                                            "tsne-points": 0}.items())
    f_dann = sweep_file(out / "files" / "final_dann.toml",
                        f'command = "adapt dann"\nseeds = {args.seeds}\n[base]\n{base}\n')
    # one single-threaded process per seed: three on two cores beat two-then-one (no OpenMP threads to spin)
    dann_dir = run_sweep(SweepConfig(file=f_dann, jobs=len(args.seeds)),
                         RunOptions(out=str(out / "final-dann"), quiet=True)).run_dir
    runs = sorted(p for p in dann_dir.iterdir() if p.is_dir() and (p / "report.md").exists())
    pl_base = "\n".join(f"{k} = {toml_value(v)}" for k, v in {**p_opts, "rounds": args.rounds}.items())
    points = "".join(f'[[points]]\nfrom = {json.dumps(str(r))}\n' for r in runs)
    f_pl = sweep_file(out / "files" / "final_pseudo_label.toml",
                      f'command = "adapt pseudo-label"\nseeds = [0]\n[base]\n{pl_base}\n{points}')
    pl_dir = run_sweep(SweepConfig(file=f_pl, jobs=len(args.seeds)),
                       RunOptions(out=str(out / "final-pseudo-label"), quiet=True)).run_dir
    dm = [json.loads((r / "metrics.json").read_text()) for r in runs]
    pm = [json.loads((p / "metrics.json").read_text()) for p in sorted(pl_dir.iterdir())
          if p.is_dir() and (p / "report.md").exists()]

    def stats(ms: list[dict[str, Any]], dom: str) -> dict[str, float]:
        v = [m[dom]["class_acc"] for m in ms]
        return {"mean": float(np.mean(v)), "sd": float(np.std(v, ddof=1)) if len(v) > 1 else 0.0, "values": v}

    res["final"] = {"dann_options": d_opts, "pseudo_label_options": p_opts, "epochs": args.final_epochs,
                    "rounds": args.rounds,
                    "dann": {"target": stats(dm, "target"), "source": stats(dm, "source")},
                    "dann_plus_pseudo_labels": {"target": stats(pm, "target"), "source": stats(pm, "source")},
                    "validators_share": {"dann": float(np.mean([m["timing"]["validators_share"] for m in dm])),
                                         "pseudo_label": float(np.mean([m["timing"]["validators_share"] for m in pm]))}}
    res["wall_s"] = time.perf_counter() - t0
    f = res["final"]
    print(f"final ({len(dm)} seeds): DANN target {f['dann']['target']['mean']:.4f} ± {f['dann']['target']['sd']:.4f}; "
          f"+ pseudo-labels target {f['dann_plus_pseudo_labels']['target']['mean']:.4f} ± "
          f"{f['dann_plus_pseudo_labels']['target']['sd']:.4f}, source {f['dann_plus_pseudo_labels']['source']['mean']:.4f}")
    for name in ("dann_sweep", "pseudo_label_sweep"):
        s = res[name]
        print(f"{name}: best label-free validator {s['best_validator']} (gap {s['best_gap']:.4f}); " + "; ".join(
            f"{p['validator']} gap {p['gap']:.4f} rho {p['rho']:+.2f}" for p in s["table"] if p["validator"] != "oracle"))
    write_results("selection", res)


if __name__ == "__main__":
    main()
