"""Class visualization by gradient ascent on the class score (Simonyan et al. 2014; Yosinski et al. 2015):
L2 regularisation, random jitter, periodic blur, clamping to the valid pixel range.

Several classes are optimised as one batch: each image has its own target, its own seeded jitter
sequence and its own gradient normalisation, so the batch gives the same result per class as one class
at a time; with ``stop_at`` each image leaves the batch when it reaches the probability.

The target probability of the current image costs a forward pass of its own (the gradient's forward
sees the jittered image), a third of an iteration. It is measured every iteration until it first
reaches 0.9 (the reported "first iteration with p >= 0.9") or, with ``stop_at``, until the image stops;
after that only at saved frames and at the last iteration.
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
    prob_curve: list[tuple[int, float]] = field(default_factory=list)  # (iteration, target probability)
    first_p90: int | None = None         # the first iteration with target probability >= 0.9


def _jittered_ascent_step(model: nn.Module, x: torch.Tensor, active: list[int], t: torch.Tensor,
                          gens: list[torch.Generator], jitter: int, lr: float, l2: float) -> torch.Tensor:
    """One normalised gradient-ascent step of the ``active`` images, each shifted by its own random jitter and
    shifted back; returns them (A, C, H, W) clamped to [0, 1]."""
    shifts = [torch.randint(-jitter, jitter + 1, (2,), generator=gens[i]).tolist() if jitter else [0, 0]
              for i in active]
    xj = torch.stack([torch.roll(x[i], shifts=tuple(s), dims=(1, 2)) for i, s in zip(active, shifts)])
    xj.requires_grad_(True)                                             # (A, C, H, W)
    logits = model(xj)                                                  # (A, classes)
    obj = logits.gather(1, t[:, None]).sum() - l2 * ((xj - 0.5) ** 2).sum()
    grad, = torch.autograd.grad(obj, xj)
    with torch.no_grad():
        scale = grad.abs().flatten(1).mean(1).view(-1, 1, 1, 1) + 1e-12  # mean step per pixel = lr
        xj = xj + lr * grad / scale
        return torch.stack([torch.roll(xj[k], shifts=(-s[0], -s[1]), dims=(1, 2))
                            for k, s in enumerate(shifts)]).clamp(0, 1)


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
    curves: list[list[tuple[int, float]]] = [[] for _ in range(n)]
    first_p90: list[int | None] = [None] * n
    last = [0] * n
    active = list(range(n))
    for it in tqdm(range(1, iters + 1), desc="classviz", disable=(not progress) or None, leave=False):
        t = t_all[active]
        xs = _jittered_ascent_step(model, x, active, t, gens, jitter, lr, l2)  # (A, C, H, W)
        with torch.no_grad():
            if blur_every and it % blur_every == 0:
                xs = TF.gaussian_blur(xs, kernel_size=[3, 3], sigma=blur_sigma)
            x[active] = xs
            saved = bool(frame_every and it % frame_every == 0)
            need = [k for k, i in enumerate(active)
                    if stop_at or first_p90[i] is None or saved or it == iters]  # who needs p now
            p = (torch.softmax(model(xs[need]), 1).gather(1, t[need][:, None])[:, 0].float().cpu().tolist()
                 if need else [])
        prob = dict(zip(need, p))
        still = []
        for k, i in enumerate(active):
            last[i] = it
            if k in prob:
                curves[i].append((it, prob[k]))
                if first_p90[i] is None and prob[k] >= 0.9:
                    first_p90[i] = it
            if saved:
                frames[i].append((it, x[i].cpu().clone()))
            if not (stop_at and prob[k] >= stop_at):
                still.append(i)
        active = still
        if not active:
            break
    out = []
    for i in range(n):
        if frames[i][-1][0] != last[i]:
            frames[i].append((last[i], x[i].cpu().clone()))
        out.append(ClassVizResult(x[i].detach().cpu(), curves[i][-1][1] if curves[i] else 0.0, last[i], frames[i],
                                  curves[i], first_p90[i]))
    return out


def class_visualization(model: nn.Module, target: int, init: torch.Tensor, iters: int = 200, lr: float = 0.01,
                        l2: float = 1e-3, jitter: int = 8, blur_every: int = 10, blur_sigma: float = 0.5,
                        frame_every: int = 25, seed: int = 0, stop_at: float = 0.0,
                        progress: bool = False) -> ClassVizResult:
    """One class from one init (C, H, W): see :func:`class_visualization_batch`."""
    return class_visualization_batch(model, [target], init[None], [seed], iters, lr, l2, jitter, blur_every,
                                     blur_sigma, frame_every, stop_at, progress)[0]
