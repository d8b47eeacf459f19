"""transfer outputs, from each command's results to its run dir: the per-layer table (inspect), top-k tables and
figure (predict), activation grids (activations), and the probe's layer/model comparison (the study's Tables
2-3), C-vs-accuracy and confusion."""

from __future__ import annotations

from typing import Any

from dlapps.runner.figures import confusion, plt, to_numpy_image
from dlapps.runner.report import build_report
from dlapps.runner.runs import RunDir
from dlapps.core.images import open_image


def write_inspect_outputs(run: RunDir, cfg: Any, rows: list[Any], total: int, flops: float,
                          size: int) -> tuple[dict[str, Any], list[list[Any]]]:
    """The per-layer table, metrics, summary and report of `transfer inspect`; returns (metrics, table rows)."""
    table = [[r.name, r.kind, "x".join(map(str, r.output_shape)), r.params, r.cumulative, f"{100 * r.share:.2f}%"]
             for r in rows]
    run.write_table("layers", ["layer", "type", "output", "params", "cumulative", "share"], table,
                    caption=f"{cfg.model}: {size}x{size} input, {total:,} parameters, {flops / 1e9:.2f} GFLOPs")
    metrics = {"model": cfg.model, "total_params": total, "flops": flops, "input_size": size, "layers": len(rows)}
    run.write_metrics(metrics)
    run.write_text("summary.md", f"**{cfg.model}**: {total:,} parameters, {flops / 1e9:.3f} GFLOPs per "
                                 f"{size}x{size} image, {len(rows)} layers.\n")
    build_report([run.path], title=f"transfer inspect {cfg.model}")
    return metrics, table


def write_predict_outputs(run: RunDir, cfg: Any, lm: Any, preds: list[dict[str, Any]]) -> dict[str, Any]:
    """The top-k table, figure, metrics and report of `transfer predict`."""
    from pathlib import Path

    metrics = {"predictions": preds, "weights": lm.weights}
    run.write_metrics(metrics)
    run.write_table("predictions", ["image", "rank", "class", "index", "probability"],
                    [[Path(p["image"]).name, k + 1, t["name"], t["index"], t["prob"]]
                     for p in preds for k, t in enumerate(p["top"])], caption=f"Top-{cfg.top} predictions, {cfg.model}")
    run.save_figure(predictions_figure(lm, preds, cfg.gray), "predictions")
    build_report([run.path], title=f"transfer predict {cfg.model}")
    return metrics


def write_activations_outputs(run: RunDir, cfg: Any, maps: dict[str, Any], img: Any) -> dict[str, Any]:
    """The activation grid, metrics and report of `transfer activations`."""
    run.save_figure(activations_figure(maps, img, f"{cfg.model} activations"), "activations")
    metrics = {"layers": {k: {"shape": list(v.shape), "mean": float(v.mean()), "max": float(v.max())}
                          for k, v in maps.items()}}
    run.write_metrics(metrics)
    build_report([run.path], title=f"transfer activations {cfg.model}")
    return metrics


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


def predictions_figure(lm: Any, preds: list[dict[str, Any]], gray: str = "replicate") -> Any:
    """Each image beside a bar chart of its top-k classes."""
    from pathlib import Path

    n = len(preds)
    fig, axes = plt.subplots(n, 2, figsize=(8, 2.6 * n), squeeze=False)
    for row, p in zip(axes, preds):
        img = open_image(Path(p["image"]), gray=gray)
        row[0].imshow(img)
        row[0].set_title(Path(p["image"]).name, fontsize=9)
        row[0].axis("off")
        names = [t["name"] for t in p["top"]][::-1]
        probs = [t["prob"] for t in p["top"]][::-1]
        row[1].barh(names, probs, color="tab:blue")
        row[1].set_xlim(0, 1)
        row[1].tick_params(labelsize=8)
        row[1].set_xlabel("probability")
    fig.tight_layout()
    return fig


def activations_figure(maps: dict[str, Any], image: Any, title: str) -> Any:
    """The input, then the first channels of each layer's feature maps."""
    import numpy as np

    cols = 8
    rows = sum(int(np.ceil(len(m) / cols)) for m in maps.values()) + 1
    fig, axes = plt.subplots(rows, cols, figsize=(cols * 1.3, rows * 1.4), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    axes[0, 0].imshow(to_numpy_image(np.asarray(image)))
    axes[0, 0].set_title("input", fontsize=7)
    r = 1
    for layer, m in maps.items():
        for c in range(len(m)):
            ax = axes[r + c // cols, c % cols]
            ax.imshow(m[c].numpy(), cmap="viridis")
            ax.set_title(f"{layer} ch{c}", fontsize=6)
        r += int(np.ceil(len(m) / cols))
    fig.suptitle(title)
    return fig
