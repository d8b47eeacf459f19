"""DANN networks for digits (Ganin & Lempitsky 2015, MNIST architecture; VADA's "small" network, Shu et al. 2018)
and the gradient reversal layer."""

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
    """Forward FLOPs (multiply-adds x2, as torch's flop counter counts convs and matmuls) of one sample through the
    features and both heads, for GFLOP/s reports."""
    from torch.utils.flop_counter import FlopCounterMode

    was = model.training
    model.eval()
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        f = model.features(torch.zeros(1, 3, size, size))
        model.classifier(f), model.domain(f)
    model.train(was)
    return float(counter.get_total_flops())


class GaussianNoise(nn.Module):
    """Adds N(0, std²) noise while training, nothing at test time (the authors' ``noise`` layer)."""

    def __init__(self, std: float = 1.0):
        super().__init__()
        self.std = std

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.std * torch.randn_like(x) if self.training else x


class ShuSmall(DANN):
    """The "small" digits network of VADA / DIRT-T's code (Shu et al. 2018, RuiShu/dirt-t ``nns/small.py``): three
    blocks of three 3x3 'same' convs with 64 channels, each conv -> batch norm -> leaky ReLU (0.1); max-pool, dropout
    0.5 and Gaussian noise (std 1) after the first two blocks; global average pooling and a linear layer after the
    third. Its feature discriminator reads the second block's output (the code's ``trim = 5``) through one hidden
    layer of 100 ReLUs. DANN's interface (features -> label head, and -> domain head through the reversal layer)
    with its own layers; about 22x the FLOPs of ``dann-bn`` per image. The authors fed it 32x32 images; on dlapps'
    28x28 digits the features are 64x7x7."""

    def __init__(self, n_classes: int = 10, domain_outputs: int = 1, in_ch: int = 3, width: int = 64):
        nn.Module.__init__(self)  # DANN's forward and embed; the layers below instead of DANN's
        self.batchnorm, self.padded = True, True  # batch norm: each domain's own statistics, as dann-bn

        def block(c_in: int) -> list[nn.Module]:
            return [m for c in (c_in, width, width) for m in (nn.Conv2d(c, width, 3, padding=1), nn.BatchNorm2d(width),
                                                              nn.LeakyReLU(0.1, inplace=True))]

        self.features = nn.Sequential(                                  # (B, 3, 28, 28)
            *block(in_ch), nn.MaxPool2d(2), nn.Dropout(0.5), GaussianNoise(1.0),  # (B, 64, 14, 14)
            *block(width), nn.MaxPool2d(2), nn.Dropout(0.5), GaussianNoise(1.0),  # (B, 64, 7, 7)
            nn.Flatten(),                                               # (B, 3136)
        )
        self.classifier = nn.Sequential(
            nn.Unflatten(1, (width, 7, 7)), *block(width),              # (B, 64, 7, 7)
            nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(width, n_classes),
        )
        self.domain = nn.Sequential(nn.Linear(width * 7 * 7, 100), nn.ReLU(inplace=True),
                                    nn.Linear(100, domain_outputs))


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


@register_arch("shu-small")
def shu_small(n_classes: int = 10, domain_outputs: int = 1) -> DANN:
    """VADA / DIRT-T's "small" digits network (the authors' code), for their method at their scale."""
    return ShuSmall(n_classes=n_classes, domain_outputs=domain_outputs)


def build_dann(arch: str, n_classes: int = 10, domain_outputs: int = 1) -> DANN:
    """The network registered as ``arch``."""
    if arch not in ARCHS:
        raise ValueError(f"unknown arch {arch!r}; use one of {', '.join(ARCHS)}")
    return ARCHS[arch](n_classes, domain_outputs)
