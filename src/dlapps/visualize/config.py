"""The visualize commands' settings: one dataclass per command, defaults in one place (the CLI is
checked against them)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from dlapps.data.containers import DataSource
from dlapps.visualize.saliency import METHODS


@dataclass
class VisConfig:
    model: str = "squeezenet1_1"
    weights: str = "imagenet"
    images: list[str] = field(default_factory=list)  # image files, or use data/n
    data: str = ""                                    # registry name, e.g. imagenet-samples or mnist
    n: int = 0                                        # images from data (0 = all)
    data_source: DataSource = "auto"
    batch_size: int = 0                               # images per forward/backward pass (0 = per model/device)


@dataclass
class SaliencyConfig(VisConfig):
    target: str | None = None                     # class name/index; default: the predicted class
    methods: list[str] = field(default_factory=lambda: list(METHODS))


@dataclass
class SaliencyEvalConfig(SaliencyConfig):
    steps: int = 32                               # deletion/insertion curve resolution
    fill: Literal["blur", "black"] = "blur"       # deletion fill: blur | black (Petsiuk's original)
    randomize: list[int] = field(default_factory=lambda: [1, 2, 4, 8])  # top layers re-initialised


@dataclass
class FoolConfig(VisConfig):
    target: str = "0"               # class name or index; "random" = a seeded random class per image
    method: Literal["gradient", "pgd"] = "gradient"  # gradient (the lab's) | pgd
    lr: float = 0.25                # gradient: L2 step in [0, 1]-pixel units (≈ 64 in 0-255 units)
    max_iters: int = 100
    eps: float = 2.0                # pgd: L∞ budget in 0-255 pixel units
    alpha: float = 0.0              # pgd: step in 0-255 units (0 = eps/8)


@dataclass
class ClassVizConfig:
    model: str = "squeezenet1_1"
    weights: str = "imagenet"
    targets: list[str] = field(default_factory=lambda: ["tarantula"])
    init: str = "noise"             # noise | an image path
    iters: int = 200
    lr: float = 0.01                # mean step per pixel, in [0, 1] units
    l2: float = 1e-3
    jitter: int = 8
    blur_every: int = 10
    blur_sigma: float = 0.5
    frame_every: int = 25
    batch_size: int = 0             # classes optimised together (0 = per model/device)
