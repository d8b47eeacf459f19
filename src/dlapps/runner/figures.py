"""Shared plotting helpers: image grids, curves, confusion matrices (matplotlib, Agg backend)."""

from __future__ import annotations

from typing import Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402


def to_numpy_image(x: torch.Tensor | np.ndarray) -> np.ndarray:
    """(C, H, W) float in [0, 1] or uint8 -> (H, W[, 3]) array for imshow."""
    if isinstance(x, torch.Tensor):
        x = x.detach().cpu()
        if x.dtype == torch.uint8:
            x = x.float() / 255
        x = x.clamp(0, 1).numpy()
    if x.ndim == 3 and x.shape[0] in (1, 3):
        x = x.transpose(1, 2, 0)
    if x.ndim == 3 and x.shape[2] == 1:
        x = x[..., 0]
    return x


def image_grid(images: torch.Tensor, nrow: int, title: str = "", row_labels: Sequence[str] | None = None,
               scale: float = 0.6):
    """A figure of a (N, C, H, W) batch in [0, 1] laid out with ``nrow`` images per row."""
    from torchvision.utils import make_grid

    grid = make_grid(images.detach().cpu().float().clamp(0, 1), nrow=nrow, padding=2, pad_value=1.0)
    rows = int(np.ceil(len(images) / nrow))
    fig, ax = plt.subplots(figsize=(max(3, nrow * scale), max(2, rows * scale) + (0.4 if title else 0)))
    ax.imshow(to_numpy_image(grid), cmap="gray", interpolation="nearest")
    ax.set_xticks([])
    ax.set_yticks([])
    if row_labels:
        h = grid.shape[1] / rows
        ax.set_yticks([h * (i + 0.5) for i in range(rows)])
        ax.set_yticklabels(row_labels)
    if title:
        ax.set_title(title)
    return fig


def curves(series: dict[str, Sequence[float]], xlabel: str, ylabel: str, title: str = "",
           x: Sequence[float] | None = None, smooth: int = 1, logy: bool = False):
    """Line plot of several named series (optionally smoothed with a running mean)."""
    fig, ax = plt.subplots(figsize=(6.4, 3.6))
    for name, ys in series.items():
        ys = np.asarray(ys, dtype=float)
        xs = np.asarray(x if x is not None else np.arange(1, len(ys) + 1), dtype=float)
        if smooth > 1 and len(ys) > smooth:
            k = np.ones(smooth) / smooth
            ax.plot(xs, ys, alpha=0.2, lw=0.8)
            ax.plot(xs[smooth - 1:], np.convolve(ys, k, mode="valid"), label=name, color=ax.lines[-1].get_color())
        else:
            ax.plot(xs, ys, label=name, marker="o" if len(ys) < 30 else None, ms=3)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if logy:
        ax.set_yscale("log")
    if title:
        ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return fig


def confusion(cm: np.ndarray, class_names: Sequence[str], title: str = ""):
    """Row-normalised confusion matrix heat map with the class names on both axes."""
    cmn = cm / np.maximum(cm.sum(1, keepdims=True), 1)
    n = len(class_names)
    fig, ax = plt.subplots(figsize=(0.45 * n + 2, 0.45 * n + 1.5))
    ax.imshow(cmn, cmap="Blues", vmin=0, vmax=1)
    ax.set_xticks(range(n))
    ax.set_xticklabels(class_names, rotation=90, fontsize=7)
    ax.set_yticks(range(n))
    ax.set_yticklabels(class_names, fontsize=7)
    for i in range(n):
        for j in range(n):
            if cmn[i, j] >= 0.01:
                ax.text(j, i, f"{cmn[i, j]:.2f}".lstrip("0"), ha="center", va="center", fontsize=5,
                        color="white" if cmn[i, j] > 0.5 else "black")
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    if title:
        ax.set_title(title)
    return fig
