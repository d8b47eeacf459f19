"""Targeted adversarial ("fooling") images: the lab's normalised gradient ascent, and PGD-L∞."""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F


@dataclass
class AttackResult:
    x_adv: torch.Tensor       # (C, H, W) in [0, 1]
    success: bool
    iterations: int
    target_prob: float


def fool_gradient_ascent(model: nn.Module, x: torch.Tensor, target: int, lr: float = 1.0,
                         max_iters: int = 100) -> AttackResult:
    """The lab's method: x += lr * g / ||g||₂ with g = ∂ s_target / ∂ x, until the model predicts the
    target. Works in pixel space and clamps to [0, 1] so the image stays valid. ``lr`` is in
    [0, 1]-pixel L2 units per step."""
    xa = x.clone()[None]
    for it in range(max_iters + 1):
        xa.requires_grad_(True)
        logits = model(xa)
        if int(logits.argmax(1)) == target:
            return AttackResult(xa.detach()[0], True, it, float(torch.softmax(logits.detach(), 1)[0, target]))
        if it == max_iters:
            break
        g, = torch.autograd.grad(logits[0, target], xa)
        with torch.no_grad():
            xa = (xa + lr * g / (g.norm() + 1e-12)).clamp(0, 1)
    with torch.no_grad():
        p = float(torch.softmax(model(xa), 1)[0, target])
    return AttackResult(xa.detach()[0], False, max_iters, p)


def pgd_linf(model: nn.Module, x: torch.Tensor, target: int, eps: float = 2 / 255, steps: int = 100,
             alpha: float | None = None) -> AttackResult:
    """Targeted PGD-L∞ (Madry et al. 2018): signed steps that lower the target's cross-entropy, projected
    onto the ε-ball around x and [0, 1]; stops at the first success."""
    alpha = alpha if alpha is not None else max(eps / 8, 0.25 / 255)
    x0 = x[None]
    xa = x0.clone()
    t = torch.tensor([target])
    for it in range(steps + 1):
        xa.requires_grad_(True)
        logits = model(xa)
        if int(logits.argmax(1)) == target:
            return AttackResult(xa.detach()[0], True, it, float(torch.softmax(logits.detach(), 1)[0, target]))
        if it == steps:
            break
        g, = torch.autograd.grad(F.cross_entropy(logits, t), xa)
        with torch.no_grad():
            xa = xa - alpha * g.sign()
            xa = torch.min(torch.max(xa, x0 - eps), x0 + eps).clamp(0, 1)
    with torch.no_grad():
        p = float(torch.softmax(model(xa), 1)[0, target])
    return AttackResult(xa.detach()[0], False, steps, p)


def quantize(x: torch.Tensor) -> torch.Tensor:
    """What a lossless 8-bit PNG keeps of an image in [0, 1]."""
    return x.mul(255).round().div(255)
