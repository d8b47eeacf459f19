"""visualize benchmark with the ImageNet MobileNetV2 and the 20 photos of ../shared/data.

* targeted fooling, the lab's method, to a seeded random class per photo: success rate, median
  iterations, median L2 / L∞ (0-255 units), and whether the saved PNG still fools;
* PGD-L∞ at ε = 2/255 with at most 100 steps;
* vanilla gradient (and the other methods) deletion/insertion AUC vs a random map, and the cascading
  model-randomisation sanity check;
* class visualization of 5 classes: probability reached within 200 iterations.

    python benchmarks/bench_visualize.py [--out runs/bench-visualize]
"""

from __future__ import annotations

import argparse
import json

from common import add_out_args, out_dir, shared_dir, write_results

from dlapps.runner.runs import RunOptions
from dlapps.visualize.run import (ClassVizConfig, FoolConfig, SaliencyEvalConfig, run_classviz, run_fool,
                                  run_saliency_eval)

CLASSES = ["tarantula", "brown bear", "goldfinch", "pizza", "volcano"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--threads", type=int, default=0)
    add_out_args(ap, "runs/bench-visualize")
    args = ap.parse_args()
    shared_dir()
    out = out_dir(args)
    o = lambda n: RunOptions(out=str(out / n), threads=args.threads, quiet=True)
    base = dict(model="mobilenet_v2", weights="imagenet", data="imagenet-samples")
    res: dict[str, object] = {}
    for name, cfg in (("fool-lab", FoolConfig(target="random", method="gradient", max_iters=100, **base)),
                      ("fool-pgd", FoolConfig(target="random", method="pgd", eps=2.0, max_iters=100, **base))):
        m = run_fool(cfg, o(name)).metrics
        res[name] = {k: m[k] for k in ("success_rate", "iterations", "l2", "linf", "png_still_fools_rate")}
        print(f"{name}: success {100 * m['success_rate']:.0f}% of 20, median {m['iterations']} iterations, "
              f"L2 {m['l2']:.1f}, L∞ {m['linf']:.2f} (0-255), PNG still fools {100 * m['png_still_fools_rate']:.0f}%")
    m = run_saliency_eval(SaliencyEvalConfig(randomize=[1, 4, 16, 64], **base), o("saliency-eval")).metrics
    res["saliency"] = {k: {"deletion_auc": v["deletion_auc"], "insertion_auc": v["insertion_auc"]}
                       for k, v in m["methods"].items()}
    res["sanity"] = m["sanity_rank_correlation"]
    for k, v in m["methods"].items():
        print(f"{k:<22} deletion AUC {v['deletion_auc']:.4f}  insertion AUC {v['insertion_auc']:.4f}  "
              f"rank corr after randomising top layers: {m['sanity_rank_correlation'].get(k, {})}")
    m = run_classviz(ClassVizConfig(model="mobilenet_v2", weights="imagenet", targets=CLASSES, iters=200),
                     o("classviz")).metrics
    res["classviz"] = m["per_class"]
    for r in m["per_class"]:
        print(f"classviz {r['target']}: p = {r['target_prob']:.3f} after 200 iterations; first p >= 0.9 at "
              f"iteration {r['first_iter_p90']}")
    (out / "bench.json").write_text(json.dumps(res, indent=2))
    write_results("visualize", res)


if __name__ == "__main__":
    main()
