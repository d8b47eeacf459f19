"""transfer benchmark: parameter counts, the MobileNetV2 linear probe on the real 15-Scene, the cache.

* `inspect` totals for VGG16, AlexNet, ResNet50 (no weights needed);
* ImageNet MobileNetV2 (../shared/weights) features at several depths -> linear SVM with C chosen by
  5-fold CV, on the fixed 15-Scene split; beside it a plain reference: pooled final features and a
  LinearSVC at C = 1 with no search;
* probes again on the cached features with another C grid or classifier, timed against the first
  (one layer, and the five-layer table);
* extraction throughput (images/s) beside the model's FLOPs and the measured matmul peak.

    python benchmarks/bench_transfer.py [--out runs/bench-transfer]
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time

import torchvision

from common import add_out_args, matmul_peak_gflops, out_dir, shared_dir, write_results

from dlapps.runner.runs import RunOptions
from dlapps.transfer import ProbeConfig, inspect_model, run_probe
from dlapps.transfer.inspect import model_flops

LAYERS = ["features.13", "features.15", "features.16", "features.17", "features.18"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--threads", type=int, default=0)
    add_out_args(ap, "runs/bench-transfer")
    args = ap.parse_args()
    shared_dir()
    out = out_dir(args)
    res: dict[str, object] = {}
    for name in ("vgg16", "alexnet", "resnet50"):
        _, total = inspect_model(torchvision.models.get_model(name))
        res[f"params_{name}"] = total
        print(f"inspect {name}: {total:,} parameters")

    # a private feature cache, so the first probe really extracts
    os.environ["DLAPPS_CACHE"] = tempfile.mkdtemp(prefix="dlapps-bench-cache-")
    opts = lambda name: RunOptions(out=str(out / name), threads=args.threads, quiet=True)

    def timed(name: str, cfg: ProbeConfig) -> tuple[float, dict]:
        t0 = time.perf_counter()
        r = run_probe(cfg, opts(name))
        dt = time.perf_counter() - t0
        print(f"  {name}: {dt:.1f} s ({','.join(cfg.layers)}; {cfg.classifier}; C grid {cfg.c_grid})", flush=True)
        return dt, r.metrics

    # one layer: first probe (extracts), then a new C grid and a new classifier on the cached features
    one = ProbeConfig(models=["mobilenet_v2"], layers=["features.16"], data="scene15")
    print("probes of one layer (features.16):")
    t_first, _ = timed("one-first", one)
    t_grid, _ = timed("one-new-grid", ProbeConfig(**{**one.__dict__, "c_grid": [0.003, 0.03, 0.3, 3.0]}))
    t_clf, _ = timed("one-logreg", ProbeConfig(**{**one.__dict__, "classifier": "logreg"}))
    res["one_layer"] = {"first_s": t_first, "new_grid_s": t_grid, "logreg_s": t_clf,
                        "speedup_new_grid": t_first / t_grid, "speedup_logreg": t_first / t_clf}
    print(f"one layer: first {t_first:.1f} s; on cached features: new C grid {t_grid:.1f} s "
          f"({t_first / t_grid:.1f}x faster), logreg {t_clf:.1f} s ({t_first / t_clf:.1f}x faster)")

    # the per-layer table (extracts the four missing layers in one pass), then again with a new C grid
    cfg = ProbeConfig(models=["mobilenet_v2"], layers=LAYERS, data="scene15")
    print("probes of five layers:")
    t_table, first = timed("table-first", cfg)
    rows = first["results"]
    print("\nlayer         dim   best C  CV acc  test acc")
    for r in rows:
        print(f"{r['layer']:<12} {r['dim']:>5} {r['best_C']:>7g} {r['cv_acc']:.4f}  {r['test_acc']:.4f}")
    best = max(rows, key=lambda r: r["cv_acc"])
    res["probe"] = [{k: r[k] for k in ("layer", "dim", "best_C", "cv_acc", "test_acc", "test_by_C")} for r in rows]
    res["best_test_acc"], res["best_layer"] = best["test_acc"], best["layer"]
    t_table2, _ = timed("table-new-grid", ProbeConfig(**{**cfg.__dict__, "c_grid": [0.0003, 0.003, 0.03, 0.3]}))
    res["five_layers"] = {"first_s": t_table, "new_grid_s": t_table2, "speedup": t_table / t_table2}
    print(f"five layers: first {t_table:.1f} s (4 layers extracted), new C grid on cached features {t_table2:.1f} s "
          f"({t_table / t_table2:.1f}x faster)")

    # plain reference: final pooled features, LinearSVC(C=1), no scaling, no search
    from sklearn.svm import LinearSVC

    import dlapps.transfer.features as F
    from dlapps.core.data import load_dataset
    from dlapps.core.models import build_model

    lm = build_model("mobilenet_v2", "imagenet", verbose=False)
    b = load_dataset("scene15", verbose=False)
    feats = F.extract(lm, b, ["features.18"], quiet=True)
    plain = LinearSVC(C=1.0, dual="auto", max_iter=5000).fit(feats.train["features.18"], b.train.labels.numpy())
    res["plain_test_acc"] = float((plain.predict(feats.test["features.18"]) == b.test.labels.numpy()).mean())
    print(f"\nbest (by CV): {best['layer']} test accuracy {best['test_acc']:.4f}; plain pooled-feature LinearSVC "
          f"(features.18, C=1, no scaling, no CV): {res['plain_test_acc']:.4f}")

    flops = model_flops(lm.model)
    ips = rows[-1]["images_per_s"]
    peak = matmul_peak_gflops()
    res.update(images_per_s=ips, gflops_per_image=flops / 1e9, achieved_gflops=ips * flops / 1e9, peak_gflops=peak)
    print(f"extraction: {ips:.1f} images/s x {flops / 1e9:.3f} GFLOPs = {ips * flops / 1e9:.1f} GFLOP/s "
          f"({100 * ips * flops / 1e9 / peak:.0f}% of the measured {peak:.0f} GFLOP/s matmul peak; includes JPEG "
          "decoding and resizing)")
    (out / "bench.json").write_text(json.dumps(res, indent=2))
    write_results("transfer", res)


if __name__ == "__main__":
    main()
