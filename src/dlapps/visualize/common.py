"""Pixel-space model wrapper and image loading shared by saliency, attacks and class visualization."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import torch
import torch.nn as nn

from dlapps import DlappsError
from dlapps.core.data import load_dataset
from dlapps.core.images import open_image, to_rgb
from dlapps.core.models import LoadedModel, check_finite_output, resolve_class


class PixelModel(nn.Module):
    """Takes images in [0, 1] (B, C, H, W), normalises them, returns the classifier's logits.

    The network runs on channels-last activations (same maths, faster convolutions on CPU and GPU);
    its batch norms stay separate modules, since the randomisation sanity check re-initialises them."""

    def __init__(self, lm: LoadedModel):
        super().__init__()
        self.net = lm.model.eval().to(memory_format=torch.channels_last)
        self.register_buffer("mean", torch.tensor(lm.mean).view(1, -1, 1, 1))
        self.register_buffer("std", torch.tensor(lm.std).view(1, -1, 1, 1))
        for p in self.net.parameters():
            p.requires_grad_(False)
        self.name, self.weights, self.checked = lm.name, lm.weights, False

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        z = (x - self.mean) / self.std
        out = self.net(z.contiguous(memory_format=torch.channels_last) if z.ndim == 4 else z)
        if not self.checked:  # the first batch only: a broken model shows itself there
            check_finite_output(out.detach(), self.name, self.weights)
            self.checked = True
        return out


def load_pixels(lm: LoadedModel, images: Sequence[str | Path] = (), data: str | None = None, n: int = 0,
                data_source: str = "auto", split: str = "test",
                pick: Sequence[str] = ()) -> tuple[torch.Tensor, list[str], torch.Tensor | None]:
    """Images as (B, C, H, W) in [0, 1] at the model's input size, their names, and labels if known.

    Either image files, or ``data`` (a registry name such as imagenet-samples or mnist: the first
    ``n`` test images, one per class first where possible; or the images ``pick`` names, by label name or
    position, in that order).
    """
    tf = lm.pixel_transform()
    if images:
        xs = [tf(open_image(Path(p))) for p in images]
        return torch.stack(xs), [Path(p).name for p in images], None
    if not data:
        raise DlappsError("give image files or --data NAME")
    b = load_dataset(data, source=data_source)
    s = b.test if split == "test" else b.train
    y = s.labels
    order = []
    for c in torch.unique(y).tolist():  # one per class first, so a handful of images covers the classes
        order.append(int(torch.nonzero(y == c)[0]))
    rest = [i for i in range(len(y)) if i not in set(order)]
    idx = [pick_index(s, b.class_names, p) for p in pick] if pick else (order + rest)[: n or len(y)]
    ch = lm.in_channels
    if not s.encoded and tuple(s.images.shape[1:]) == (ch, lm.input_size, lm.input_size):
        xs = [s.images[i].float() / 255 for i in idx]  # already at the model's input size: no re-crop
    else:
        xs = [tf(open_image(s.images[i]) if s.encoded else to_rgb(s.pil(i))) for i in idx]
    names = [s.names[i] if s.names else f"{b.name}[{i}] ({b.class_names[int(y[i])]})" for i in idx]
    return torch.stack(xs), names, y[idx]


def pick_index(s: Any, class_names: list[str], key: str) -> int:
    """The position of the image ``key`` names in a split: the first image of that label (a digit dataset's labels
    are digits, so a label name wins), else its position."""
    if key.strip().isdigit() and key.strip() not in class_names:
        i = int(key)
        if not 0 <= i < len(s.labels):
            raise DlappsError(f"--pick {key}: there are {len(s.labels)} images")
        return i
    c = resolve_class(key, class_names)
    hit = torch.nonzero(s.labels == c)
    if len(hit) == 0:
        raise DlappsError(f"--pick {key!r}: no image of class {class_names[c]!r} in this dataset")
    return int(hit[0])


def to_255(d: torch.Tensor) -> tuple[float, float]:
    """L2 and L∞ norms of a perturbation in [0, 1] units, reported in 0-255 pixel units."""
    d = d.detach().flatten() * 255
    return float(d.norm()), float(d.abs().max())
