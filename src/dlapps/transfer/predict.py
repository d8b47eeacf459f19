"""Top-k ImageNet predictions and activation-map grids for image files."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch
from torchvision.models.feature_extraction import create_feature_extractor

from dlapps.figures import plt, to_numpy_image
from dlapps.images import open_image
from dlapps.models import LoadedModel, resolve_layer
from dlapps.models import check_finite_output
from dlapps.transfer.features import graph_nodes


@torch.no_grad()
def topk(lm: LoadedModel, paths: Sequence[str | Path], k: int = 5, gray: str = "replicate") -> list[dict[str, Any]]:
    """For each image: the top-k classes (index, name, probability), using the weights' preprocessing."""
    k = min(k, len(lm.class_names))
    out = []
    for p in paths:
        img = open_image(Path(p), gray=gray)
        x = lm.preprocess(img)[None]
        prob = torch.softmax(check_finite_output(lm.model(x), lm.name, lm.weights), 1)[0]
        v, i = prob.topk(k)
        out.append({"image": str(p), "size": list(img.size),
                    "top": [{"index": int(j), "name": lm.class_names[int(j)], "prob": float(q)} for q, j in zip(v, i)]})
    return out


def predictions_figure(lm: LoadedModel, preds: list[dict[str, Any]], gray: str = "replicate"):
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


@torch.no_grad()
def activation_maps(lm: LoadedModel, path: str | Path, layers: Sequence[str], channels: int = 16,
                    gray: str = "replicate") -> dict[str, torch.Tensor]:
    """The first ``channels`` feature maps (C, H, W) of each layer for one image."""
    nodes = {layer: resolve_layer(lm.name, layer, graph_nodes(lm)) for layer in layers}
    ex = create_feature_extractor(lm.model, return_nodes={v: k for k, v in nodes.items()}).eval()
    x = lm.preprocess(open_image(Path(path), gray=gray))[None]
    feats = ex(x)
    return {layer: feats[layer][0, :channels] for layer in layers if feats[layer].ndim == 4}


def activations_figure(maps: dict[str, torch.Tensor], image, title: str):
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
