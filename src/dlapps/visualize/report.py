"""visualize's figures and saved images: saliency rows, fooling triptychs, class-visualization progress."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import numpy as np
import torch

from dlapps.runner.figures import plt, to_numpy_image
from dlapps.runner.runs import RunDir, atomic_write_bytes


def _norm_map(m: torch.Tensor) -> np.ndarray:
    m = m.numpy()
    return (m - m.min()) / (m.max() - m.min() + 1e-12)


def save_png(run: RunDir, x: torch.Tensor, name: str) -> Path:
    from PIL import Image

    a = x.mul(255).round().byte().permute(1, 2, 0).numpy()
    buf = io.BytesIO()
    Image.fromarray(a[..., 0] if a.shape[2] == 1 else a).save(buf, format="PNG")
    p = run.path / "adversarial" / name
    atomic_write_bytes(p, buf.getvalue())
    return p


def fool_figure(run: RunDir, x: torch.Tensor, results: list[dict[str, Any]], lm) -> None:
    from PIL import Image

    n = min(len(results), 8)
    fig, axes = plt.subplots(n, 3, figsize=(7, 2.4 * n), squeeze=False)
    for i in range(n):
        adv = torch.from_numpy(np.asarray(Image.open(run.path / results[i]["png"]), dtype=np.float32) / 255)
        adv = adv[None] if adv.ndim == 2 else adv.permute(2, 0, 1)
        diff = ((adv - x[i]) * 10 + 0.5).clamp(0, 1)
        for ax, img, title in zip(axes[i], (x[i], adv, diff),
                                  (f"original: {results[i]['original']}", f"adversarial: {results[i]['target']}",
                                   "difference ×10")):
            ax.imshow(to_numpy_image(img), cmap="gray")
            ax.set_title(title[:34], fontsize=8)
            ax.axis("off")
    fig.tight_layout()
    run.save_figure(fig, "fooling")


def saliency_figure(x: torch.Tensor, t: torch.Tensor, names: list[str], maps: dict[str, torch.Tensor],
                    methods: list[str], class_names: list[str]):
    """One row per image: the image (titled with its target class), then map | overlay per method."""
    cols = 1 + 2 * len(methods)
    fig, axes = plt.subplots(len(x), cols, figsize=(1.9 * cols, 2.0 * len(x)), squeeze=False)
    for i in range(len(x)):
        img = to_numpy_image(x[i])
        axes[i, 0].imshow(img, cmap="gray")
        axes[i, 0].set_title(f"{names[i][:18]}\n→ {class_names[int(t[i])][:18]}", fontsize=7)
        for j, m in enumerate(methods):
            s = _norm_map(maps[m][i])
            axes[i, 1 + 2 * j].imshow(s, cmap="hot")
            axes[i, 1 + 2 * j].set_title(m, fontsize=7)
            axes[i, 2 + 2 * j].imshow(img, cmap="gray")
            axes[i, 2 + 2 * j].imshow(s, cmap="jet", alpha=0.45)
            axes[i, 2 + 2 * j].set_title("overlay", fontsize=7)
    for ax in axes.flat:
        ax.axis("off")
    fig.tight_layout()
    return fig


def progress_figure(name: str, r: Any):
    """A class visualization's frames, one panel per saved iteration."""
    fig, axes = plt.subplots(1, len(r.frames), figsize=(1.8 * len(r.frames), 2.2), squeeze=False)
    for ax, (it, fr) in zip(axes[0], r.frames):
        ax.imshow(to_numpy_image(fr), cmap="gray")
        ax.set_title(f"iter {it}", fontsize=8)
        ax.axis("off")
    fig.suptitle(f"{name}: p = {r.target_prob:.3f}")
    return fig


def classviz_figure(finals: list[tuple[str, Any]]):
    """The final image of every visualized class, titled with its probability."""
    fig, axes = plt.subplots(1, len(finals), figsize=(2.6 * len(finals), 2.9), squeeze=False)
    for ax, (name, r) in zip(axes[0], finals):
        ax.imshow(to_numpy_image(r.image), cmap="gray")
        ax.set_title(f"{name[:20]}\np = {r.target_prob:.3f}", fontsize=8)
        ax.axis("off")
    return fig
