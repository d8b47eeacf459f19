"""Targeted adversarial ("fooling") images: the lab's normalised gradient ascent, and PGD-L∞.

Both attack many images per forward pass: the model is in eval mode, so each image's gradient depends on
that image alone, and the batch gives the same result per image as one image at a time (up to float
rounding: other batch sizes run other kernels). Each image leaves the batch at its own success (its
iteration count is its own) and the next waiting image takes its place.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch
import torch.nn as nn
import torch.nn.functional as F
from tqdm.auto import tqdm


@dataclass
class AttackResult:
    x_adv: torch.Tensor       # (C, H, W) in [0, 1]
    success: bool
    iterations: int
    target_prob: float


# step(x_active, grad_of_objective, x_original_active) -> next x_active; objective(logits, targets) -> scalar
Step = Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]
Objective = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def _attack_batch(model: nn.Module, x: torch.Tensor, targets: torch.Tensor, max_iters: int,
                  objective: Objective, step: Step, batch_size: int = 0,
                  progress: bool = False) -> list[AttackResult]:
    """Iterate ``step`` on every image until the model predicts its target or ``max_iters`` steps.

    x: (N, C, H, W) in [0, 1]; targets: (N,). At most ``batch_size`` images (0 = all) share a forward
    pass. An image leaves the batch at its success or its last step, and the next waiting image takes its
    place at step 0 (continuous batching): the batch stays full until the queue is empty, so a few slow
    images do not run at the cost of a small batch while others wait their turn."""
    n = len(x)
    bs = batch_size if batch_size > 0 else n
    xa = x.detach().clone()                                              # (N, C, H, W)
    targets = targets.to(x.device)
    steps = torch.zeros(n, dtype=torch.long)                             # steps taken so far, per image
    success = torch.zeros(n, dtype=torch.bool)
    prob = torch.zeros(n)
    waiting = list(range(n))
    active = torch.zeros(0, dtype=torch.long)
    bar = tqdm(total=n, desc="attack", unit="img", disable=(not progress) or None, leave=False)
    while len(active) or waiting:
        take = bs - len(active)
        active = torch.cat([active, torch.tensor(waiting[:take], dtype=torch.long)])
        waiting = waiting[take:]
        xb = xa[active].requires_grad_(True)                             # (A, C, H, W)
        logits = model(xb)                                               # (A, classes)
        tb = targets[active]
        done = (logits.argmax(1) == tb).cpu()
        finished = done | (steps[active] == max_iters)
        if finished.any():
            f = finished.to(logits.device)
            p = torch.softmax(logits.detach()[f], 1).gather(1, tb[f][:, None])[:, 0]
            success[active[finished]] = done[finished]
            prob[active[finished]] = p.float().cpu()
            bar.update(int(finished.sum()))
        keep = ~finished
        if keep.any():
            g, = torch.autograd.grad(objective(logits, tb), xb)
            k = keep.to(xb.device)
            with torch.no_grad():
                xa[active[keep]] = step(xb.detach()[k], g[k], x[active[keep]])
            steps[active[keep]] += 1
        active = active[keep]
    bar.close()
    return [AttackResult(xa[i], bool(success[i]), int(steps[i]), float(prob[i])) for i in range(n)]


def fool_gradient_ascent_batch(model: nn.Module, x: torch.Tensor, targets: torch.Tensor, lr: float = 1.0,
                               max_iters: int = 100, batch_size: int = 0,
                               progress: bool = False) -> list[AttackResult]:
    """The lab's method on a batch: x += lr * g / ||g||₂ per image, g = ∂ s_target / ∂ x, until the model
    predicts the target. Pixel space, clamped to [0, 1]; ``lr`` in [0, 1]-pixel L2 units per step."""
    def objective(logits: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        return logits.gather(1, t[:, None]).sum()                        # Σ s_target: per-image gradients

    def step(xb: torch.Tensor, g: torch.Tensor, _x0: torch.Tensor) -> torch.Tensor:
        norm = g.flatten(1).norm(dim=1).view(-1, *[1] * (g.ndim - 1))   # (A, 1, 1, 1)
        return (xb + lr * g / (norm + 1e-12)).clamp(0, 1)

    return _attack_batch(model, x, targets, max_iters, objective, step, batch_size, progress)


def pgd_linf_batch(model: nn.Module, x: torch.Tensor, targets: torch.Tensor, eps: float = 2 / 255,
                   steps: int = 100, alpha: float | None = None, batch_size: int = 0,
                   progress: bool = False) -> list[AttackResult]:
    """Targeted PGD-L∞ (Madry et al. 2018) on a batch: signed steps that lower each target's
    cross-entropy, projected onto the ε-ball around x and [0, 1]; each image stops at its first success."""
    alpha = alpha if alpha is not None else max(eps / 8, 0.25 / 255)

    def objective(logits: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        return F.cross_entropy(logits, t, reduction="sum")              # sum: per-image gradients

    def step(xb: torch.Tensor, g: torch.Tensor, x0: torch.Tensor) -> torch.Tensor:
        xn = xb - alpha * g.sign()
        return torch.min(torch.max(xn, x0 - eps), x0 + eps).clamp(0, 1)

    return _attack_batch(model, x, targets, steps, objective, step, batch_size, progress)


def fool_gradient_ascent(model: nn.Module, x: torch.Tensor, target: int, lr: float = 1.0,
                         max_iters: int = 100) -> AttackResult:
    """One image (C, H, W): see :func:`fool_gradient_ascent_batch`."""
    return fool_gradient_ascent_batch(model, x[None], torch.tensor([target]), lr, max_iters)[0]


def pgd_linf(model: nn.Module, x: torch.Tensor, target: int, eps: float = 2 / 255, steps: int = 100,
             alpha: float | None = None) -> AttackResult:
    """One image (C, H, W): see :func:`pgd_linf_batch`."""
    return pgd_linf_batch(model, x[None], torch.tensor([target]), eps, steps, alpha)[0]


def quantize(x: torch.Tensor) -> torch.Tensor:
    """What a lossless 8-bit PNG keeps of an image in [0, 1]."""
    return x.mul(255).round().div(255)
