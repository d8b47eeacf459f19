"""The study report's figures: each DANN table's per-epoch target accuracy (every seed, the study's number as a
line) and a GAN figure group's points side by side, as the study's own figures compare settings. Each returns
the PNG's path relative to the study dir, or None when nothing has run."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from dlapps.study.results import StudyData, point_histories
from dlapps.runner.runs import RunDir
from dlapps.sweep import expand, status


def epoch_figure(plan: Any, refs: list[dict[str, Any]], data: StudyData, out: Path) -> str | None:
    """Target accuracy per epoch, one line per seed, one panel per point of the table, with the study's
    number as a dashed line: how much the reported last epoch depends on where a run stopped."""
    from dlapps.runner.figures import plt  # matplotlib: only when a figure is drawn
    if plan.file is None or not plan.judged or plan.sweep_dir is None or not plan.sweep_dir.exists():
        return None
    spec = data.spec(plan.file)
    if spec.command[0] != "adapt":
        return None
    points: dict[str, float | None] = {}
    for r in refs:
        if r["table"] == plan.entry.key and r["metric"] == "target.class_acc":
            points.setdefault(r["point"], r["value"])
    for m in plan.entry.spec.get("readings", {}).values():
        for pt in m.values():
            points.setdefault(pt, None)
    panels = [(pt, ref, point_histories(plan.sweep_dir, spec, plan.quick, pt)) for pt, ref in points.items()]
    panels = [p for p in panels if p[2]]
    if not panels:
        return None
    cols = min(3, len(panels))
    rows = (len(panels) + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(4.2 * cols, 2.9 * rows), squeeze=False, sharey=True)
    for ax, (pt, ref, hist) in zip(axes.flat, panels):
        for seed, h in sorted(hist.items()):
            ax.plot(range(1, len(h) + 1), h, lw=1.2, label=f"seed {seed}")
        if ref is not None:
            ax.axhline(ref, color="k", ls="--", lw=1, label=f"study {ref:.4f}")
        ax.set_title(pt or "base", fontsize=8)
        ax.set_xlabel("epoch", fontsize=8)
        ax.tick_params(labelsize=7)
        ax.legend(fontsize=6, loc="lower right")
    for ax in list(axes.flat)[len(panels):]:
        ax.axis("off")
    axes[0][0].set_ylabel("target test accuracy", fontsize=8)
    fig.suptitle(f"{plan.entry.label}: target accuracy per epoch, every seed (dashed: the study's number)",
                 fontsize=9)
    fig.tight_layout()
    return RunDir(out).save_figure(fig, f"table{plan.entry.key}_epochs").relative_to(out).as_posix()


def point_montage(p: Any, data: StudyData, out: Path, figure: str) -> str | None:
    """One figure of every point's seed-0 ``figures/<figure>.png`` side by side, titled by point: the study's
    figures compare settings this way (e.g. its Figure 38, nz = 10 beside nz = 1000). None if none ran."""
    from dlapps.runner.figures import plt  # matplotlib: only when a figure is drawn
    if p.sweep_dir is None or not p.sweep_dir.exists():
        return None
    spec = data.spec(p.file)
    runs = [(pt.name or "base", p.sweep_dir / pt.dirname / "figures" / f"{figure}.png") for pt in expand(spec, p.quick)
            if pt.seed == min(spec.seeds) and status(p.sweep_dir / pt.dirname) == "complete"]
    runs = [(name, f) for name, f in runs if f.exists()]
    if not runs:
        return None
    cols = min(4, len(runs))
    rows = (len(runs) + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(3.6 * cols, 3.7 * rows), squeeze=False)
    for ax, (name, f) in zip(axes.flat, runs):
        ax.imshow(plt.imread(f))
        ax.set_title(name, fontsize=8)
    for ax in axes.flat:
        ax.axis("off")
    fig.suptitle(f"{p.entry.label}: {figure} of every point (seed {min(spec.seeds)})", fontsize=9)
    fig.tight_layout()
    stem = f"{p.file.stem}_{figure}"
    return RunDir(out).save_figure(fig, stem, dpi=130).relative_to(out).as_posix()
