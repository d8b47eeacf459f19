"""DANN networks for digits (Ganin & Lempitsky 2015, MNIST architecture) and the gradient reversal layer."""

from __future__ import annotations

from typing import Callable

import torch
import torch.nn as nn


class GradReverse(torch.autograd.Function):
    """Identity forward; multiplies the gradient by ``-lambda`` backward."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, lambd: float) -> torch.Tensor:  # type: ignore[override]
        ctx.lambd = lambd
        return x.view_as(x)

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> tuple[torch.Tensor, None]:  # type: ignore[override]
        return grad.neg() * ctx.lambd, None


def grad_reverse(x: torch.Tensor, lambd: float) -> torch.Tensor:
    return GradReverse.apply(x, lambd)


class DANN(nn.Module):
    """Feature extractor conv5x5-32 -> pool -> conv5x5-48 -> pool; label head 100-100-10;
    domain head 100-1 (BCE) or 100-2 (cross-entropy), fed through the gradient reversal layer.
    ``batchnorm`` adds batch normalisation after each conv/hidden layer and 2-D dropout after conv2
    (the ``dann-bn`` variant, the network of wogong/pytorch-dann, whose README credits that dropout
    with most of its gain on MNIST-M)."""

    def __init__(self, n_classes: int = 10, domain_outputs: int = 1, in_ch: int = 3, batchnorm: bool = False,
                 padded: bool = False):
        super().__init__()
        self.batchnorm = batchnorm
        # padded: the RDFIA lab's variant, 'same' 5x5 convs (padding 2) -> 48x7x7 = 2,352 features; the paper's
        # network has no padding -> 48x4x4 = 768
        self.padded = padded
        pad, side = (2, 7) if padded else (0, 4)
        n_feat = 48 * side * side
        bn2 = (lambda c: nn.BatchNorm2d(c)) if batchnorm else (lambda c: nn.Identity())
        bn1 = (lambda c: nn.BatchNorm1d(c)) if batchnorm else (lambda c: nn.Identity())
        drop2 = (lambda: nn.Dropout2d(0.5)) if batchnorm else (lambda: nn.Identity())
        # conv -> BN -> ReLU -> pool, with each max-pool moved before the ReLU (and the dropout) that precede it:
        # max-pooling commutes exactly with ReLU and with dropout's per-channel 0-or-2 scaling, so outputs and
        # gradients are bit-identical, and ReLU/dropout touch a quarter of the values (a step ~10 % faster).
        # The parameter-holding modules keep their indices, so checkpoints load either way.
        self.features = nn.Sequential(                                 # (B, 3, 28, 28)
            nn.Conv2d(in_ch, 32, 5, padding=pad), bn2(32),              # (B, 32, 24, 24)   padded: 28x28
            nn.MaxPool2d(2), nn.ReLU(inplace=True),                     # (B, 32, 12, 12)   padded: 14x14
            nn.Conv2d(32, 48, 5, padding=pad), bn2(48),                 # (B, 48, 8, 8)     padded: 14x14
            nn.MaxPool2d(2), drop2(), nn.ReLU(inplace=True),            # (B, 48, 4, 4)     padded: 7x7
            nn.Flatten(),                                               # (B, 768)          padded: 2,352
        )
        self.classifier = nn.Sequential(
            nn.Linear(n_feat, 100), bn1(100), nn.ReLU(inplace=True),
            nn.Linear(100, 100), bn1(100), nn.ReLU(inplace=True),
            nn.Linear(100, n_classes),
        )
        self.domain = nn.Sequential(nn.Linear(n_feat, 100), bn1(100), nn.ReLU(inplace=True),
                                    nn.Linear(100, domain_outputs))

    def forward(self, x: torch.Tensor, lambd: float = 0.0) -> tuple[torch.Tensor, torch.Tensor]:
        f = self.features(x)                                 # (B, 768) or (B, 2352)
        return self.classifier(f), self.domain(grad_reverse(f, lambd))

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """Features fed to both heads (for t-SNE)."""
        return self.features(x)


def flops_per_sample(model: DANN, size: int = 28) -> float:
    """Forward multiply-adds x2 of one sample (conv + linear), for GFLOP/s reports."""
    total = 0.0
    h = size
    for m in model.features:
        if isinstance(m, nn.Conv2d):
            h = h + 2 * m.padding[0] - m.kernel_size[0] + 1
            total += 2 * h * h * m.out_channels * m.in_channels * m.kernel_size[0] * m.kernel_size[1]
        elif isinstance(m, nn.MaxPool2d):
            h //= 2
    for head in (model.classifier, model.domain):
        total += sum(2 * m.in_features * m.out_features for m in head if isinstance(m, nn.Linear))
    return total


ARCHS: dict[str, Callable[[int, int], DANN]] = {}  # name -> builder(n_classes, domain_outputs); see register_arch


def register_arch(name: str) -> Callable[[Callable[[int, int], DANN]], Callable[[int, int], DANN]]:
    """Register a DANN network under ``name`` (``--arch NAME``), where it is defined."""
    def deco(fn: Callable[[int, int], DANN]) -> Callable[[int, int], DANN]:
        ARCHS[name] = fn
        return fn
    return deco


@register_arch("dann-bn")
def dann_bn(n_classes: int = 10, domain_outputs: int = 1) -> DANN:
    """The paper's MNIST network with batch normalisation and 2-D dropout (dlapps' default)."""
    return DANN(n_classes=n_classes, domain_outputs=domain_outputs, batchnorm=True)


@register_arch("dann")
def dann_paper(n_classes: int = 10, domain_outputs: int = 1) -> DANN:
    """Ganin & Lempitsky's MNIST network exactly (48x4x4 = 768 features)."""
    return DANN(n_classes=n_classes, domain_outputs=domain_outputs)


@register_arch("dann-padded")
def dann_padded(n_classes: int = 10, domain_outputs: int = 1) -> DANN:
    """The RDFIA lab's: the paper's layers with 'same' padding (48x7x7 = 2,352 features), the study's network."""
    return DANN(n_classes=n_classes, domain_outputs=domain_outputs, padded=True)


def build_dann(arch: str, n_classes: int = 10, domain_outputs: int = 1) -> DANN:
    """The network registered as ``arch``."""
    if arch not in ARCHS:
        raise ValueError(f"unknown arch {arch!r}; use one of {', '.join(ARCHS)}")
    return ARCHS[arch](n_classes, domain_outputs)
