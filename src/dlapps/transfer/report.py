"""transfer outputs: the layer/model comparison table (the study's Tables 2-3), C-vs-accuracy, confusion."""

from __future__ import annotations

from typing import Any

from dlapps.figures import confusion, plt
from dlapps.report import build_report
from dlapps.runs import RunDir


def write_probe_outputs(run: RunDir, cfg: Any, bundle: Any, results: list[dict[str, Any]], best: dict[str, Any]) -> None:
    rows = [[r["model"], r["layer"], "x".join(map(str, r["layer_shape"])), r["dim"], r["best_C"], r["cv_acc"],
             r["train_acc"], r["test_acc"], r["timings"]["extract_s"], r["timings"]["fit_s"],
             r["timings"]["predict_one_s"]] for r in results]
    run.write_table("comparison", ["model", "layer", "layer output", "feature dim", "best C", "CV acc", "train acc",
                                   "test acc", "extract s", "fit s", "predict one s"], rows,
                    caption=f"Linear probe on {bundle.name}: one row per model and layer")
    names = bundle.class_names
    run.write_table("per_class", ["class"] + [f"{r['model']} {r['layer']}" for r in results],
                    [[names[c]] + [r["per_class_acc"][c] for r in results] for c in range(len(names))],
                    caption="Per-class test accuracy")
    fig, ax = plt.subplots(figsize=(6.4, 3.8))
    for r in results:
        line = ax.errorbar(cfg.c_grid, r["cv_by_C"], yerr=r["cv_std_by_C"], marker="o", ms=3, capsize=2,
                           label=f"{r['model']} {r['layer']} (CV)")
        ax.plot(cfg.c_grid, r["test_by_C"], ls="--", color=line[0].get_color(), label=f"{r['model']} {r['layer']} (test)")
    ax.set_xscale("log")
    ax.set_xlabel("C")
    ax.set_ylabel("accuracy")
    ax.set_title("SVM C vs accuracy")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="center left", bbox_to_anchor=(1.02, 0.5))  # beside the axes: curves stay visible
    run.save_figure(fig, "c_vs_accuracy")
    import numpy as np

    run.save_figure(confusion(np.array(best["confusion"]), names,
                              f"Confusion, {best['model']} {best['layer']} (test acc {best['test_acc']:.3f})"),
                    "confusion")
    run.write_text("summary.md", (
        f"**Linear probe** on {bundle.name} ({bundle.source}): {len(bundle.train):,} train / {len(bundle.test):,} "
        f"test images, {cfg.classifier} with C from {cfg.c_grid} chosen by {cfg.folds}-fold CV, features pooled "
        f"'{cfg.pool}', grey images '{cfg.gray}'.\n\n"
        f"Best (by CV): **{best['model']} {best['layer']}**, test accuracy **{best['test_acc']:.4f}** at C = "
        f"{best['best_C']:g}. Weights: {best['weights']}.\n"))
    build_report([run.path], title="transfer probe")
