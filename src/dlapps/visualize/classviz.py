"""Class visualization by gradient ascent on the class score (Simonyan et al. 2014; Yosinski et al. 2015):
L2 regularisation, random jitter, periodic blur, clamping to the valid pixel range.

Several classes are optimised as one batch: each image has its own target, its own seeded jitter
sequence and its own gradient normalisation, so the batch gives the same result per class as one class
at a time; with ``stop_at`` each image leaves the batch when it reaches the probability.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

import torch
import torch.nn as nn
import torchvision.transforms.functional as TF
from tqdm.auto import tqdm


@dataclass
class ClassVizResult:
    image: torch.Tensor                  # (C, H, W) in [0, 1]
    target_prob: float
    iterations: int
    frames: list[tuple[int, torch.Tensor]] = field(default_factory=list)
    prob_curve: list[float] = field(default_factory=list)


def class_visualization_batch(model: nn.Module, targets: Sequence[int], inits: torch.Tensor,
                              seeds: Sequence[int], iters: int = 200, lr: float = 0.01, l2: float = 1e-3,
                              jitter: int = 8, blur_every: int = 10, blur_sigma: float = 0.5,
                              frame_every: int = 25, stop_at: float = 0.0,
                              progress: bool = False) -> list[ClassVizResult]:
    """Maximise s_t(x) - l2 * ||x - 0.5||² over x in [0, 1] for each (target t, init, seed), by
    normalised gradient ascent.

    inits: (B, C, H, W) in [0, 1] (noise or an image). Each step shifts every image by its own random
    jitter of up to ``jitter`` pixels, takes a step, shifts back; every ``blur_every`` steps a Gaussian blur
    removes high frequencies. ``stop_at`` > 0 ends an image early once its target probability reaches it.
    """
    n = len(targets)
    gens = [torch.Generator().manual_seed(s) for s in seeds]
    x = inits.detach().clone()                                          # (B, C, H, W)
    t_all = torch.as_tensor(list(targets), device=x.device)
    frames: list[list[tuple[int, torch.Tensor]]] = [[(0, x[i].cpu().clone())] for i in range(n)]
    curves: list[list[float]] = [[] for _ in range(n)]
    last = [0] * n
    active = list(range(n))
    for it in tqdm(range(1, iters + 1), desc="classviz", disable=(not progress) or None, leave=False):
        shifts = [torch.randint(-jitter, jitter + 1, (2,), generator=gens[i]).tolist() if jitter else [0, 0]
                  for i in active]
        xj = torch.stack([torch.roll(x[i], shifts=tuple(s), dims=(1, 2)) for i, s in zip(active, shifts)])
        xj.requires_grad_(True)                                         # (A, C, H, W)
        t = t_all[active]
        logits = model(xj)                                              # (A, classes)
        obj = logits.gather(1, t[:, None]).sum() - l2 * ((xj - 0.5) ** 2).sum()
        grad, = torch.autograd.grad(obj, xj)
        with torch.no_grad():
            scale = grad.abs().flatten(1).mean(1).view(-1, 1, 1, 1) + 1e-12  # mean step per pixel = lr
            xj = xj + lr * grad / scale
            xs = torch.stack([torch.roll(xj[k], shifts=(-s[0], -s[1]), dims=(1, 2))
                              for k, s in enumerate(shifts)]).clamp(0, 1)
            if blur_every and it % blur_every == 0:
                xs = TF.gaussian_blur(xs, kernel_size=[3, 3], sigma=blur_sigma)
            p = torch.softmax(model(xs), 1).gather(1, t[:, None])[:, 0].float().cpu()
            x[active] = xs
        still = []
        for k, i in enumerate(active):
            curves[i].append(float(p[k]))
            last[i] = it
            if frame_every and it % frame_every == 0:
                frames[i].append((it, x[i].cpu().clone()))
            if not (stop_at and p[k] >= stop_at):
                still.append(i)
        active = still
        if not active:
            break
    out = []
    for i in range(n):
        if frames[i][-1][0] != last[i]:
            frames[i].append((last[i], x[i].cpu().clone()))
        out.append(ClassVizResult(x[i].detach().cpu(), curves[i][-1] if curves[i] else 0.0, last[i], frames[i],
                                  curves[i]))
    return out


def class_visualization(model: nn.Module, target: int, init: torch.Tensor, iters: int = 200, lr: float = 0.01,
                        l2: float = 1e-3, jitter: int = 8, blur_every: int = 10, blur_sigma: float = 0.5,
                        frame_every: int = 25, seed: int = 0, stop_at: float = 0.0,
                        progress: bool = False) -> ClassVizResult:
    """One class from one init (C, H, W): see :func:`class_visualization_batch`."""
    return class_visualization_batch(model, [target], init[None], [seed], iters, lr, l2, jitter, blur_every,
                                     blur_sigma, frame_every, stop_at, progress)[0]
