"""Class visualization by gradient ascent on the class score (Simonyan et al. 2014; Yosinski et al. 2015):
L2 regularisation, random jitter, periodic blur, clamping to the valid pixel range."""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
import torch.nn as nn
import torchvision.transforms.functional as TF


@dataclass
class ClassVizResult:
    image: torch.Tensor                  # (C, H, W) in [0, 1]
    target_prob: float
    iterations: int
    frames: list[tuple[int, torch.Tensor]] = field(default_factory=list)
    prob_curve: list[float] = field(default_factory=list)


def class_visualization(model: nn.Module, target: int, init: torch.Tensor, iters: int = 200, lr: float = 0.01,
                        l2: float = 1e-3, jitter: int = 8, blur_every: int = 10, blur_sigma: float = 0.5,
                        frame_every: int = 25, seed: int = 0, stop_at: float = 0.0,
                        progress: bool = False) -> ClassVizResult:
    """Maximise s_target(x) - l2 * ||x - 0.5||² over x in [0, 1] by normalised gradient ascent.

    init: (C, H, W) in [0, 1] (noise or an image). Each step shifts the image by a random jitter of up
    to ``jitter`` pixels, takes a step, shifts back; every ``blur_every`` steps a Gaussian blur removes
    high frequencies. ``stop_at`` > 0 ends early once the target probability reaches it.
    """
    g = torch.Generator().manual_seed(seed)
    x = init.clone()[None]
    frames, curve = [(0, x[0].clone())], []
    it = 0
    from tqdm.auto import tqdm

    for it in tqdm(range(1, iters + 1), desc=f"class {target}", disable=(not progress) or None, leave=False):
        ox, oy = (torch.randint(-jitter, jitter + 1, (2,), generator=g).tolist() if jitter else (0, 0))
        xj = torch.roll(x, shifts=(ox, oy), dims=(2, 3)).requires_grad_(True)
        logits = model(xj)
        obj = logits[0, target] - l2 * ((xj - 0.5) ** 2).sum()
        grad, = torch.autograd.grad(obj, xj)
        with torch.no_grad():
            xj = xj + lr * grad / (grad.abs().mean() + 1e-12)  # mean step per pixel = lr
            x = torch.roll(xj, shifts=(-ox, -oy), dims=(2, 3)).clamp(0, 1)
            if blur_every and it % blur_every == 0:
                x = TF.gaussian_blur(x, kernel_size=[3, 3], sigma=blur_sigma)
            p = float(torch.softmax(model(x), 1)[0, target])
        curve.append(p)
        if frame_every and it % frame_every == 0:
            frames.append((it, x[0].clone()))
        if stop_at and p >= stop_at:
            break
    if frames[-1][0] != it:
        frames.append((it, x[0].clone()))
    return ClassVizResult(x[0].detach(), curve[-1] if curve else 0.0, it, frames, curve)
