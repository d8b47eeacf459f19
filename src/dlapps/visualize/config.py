"""The visualize commands' settings: one dataclass per command, defaults in one place (the CLI is
checked against them)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from dlapps.core.data.containers import DataSource
from dlapps.runner.options import DATA_SOURCE_HELP, WEIGHTS_HELP, opt
from dlapps.visualize.saliency import METHODS


@dataclass
class VisConfig:
    model: str = opt("squeezenet1_1", "Any torchvision classifier, or mnist_cnn (the MODEL argument).", cli=False)
    weights: str = opt("imagenet", WEIGHTS_HELP)
    images: list[str] = opt(help="Image files (the IMAGES arguments), or use --data.", cli=False,
                            default_factory=list)
    data: str = opt("", "Instead of files: a dataset (imagenet-samples, mnist, photos).")
    n: int = opt(0, "Images from --data (0 = all).", low=0)
    pick: list[str] = opt(help="Images of --data by label name or position, in this order (repeatable), e.g. "
                               "--pick daisy: the lab's figures name their images.", default_factory=list)
    data_source: DataSource = opt("auto", DATA_SOURCE_HELP)
    batch_size: int = opt(0, "Images per forward/backward pass (0 = chosen per model and device).", low=0)


@dataclass
class SaliencyConfig(VisConfig):
    target: str | None = opt(None, "Class name or index [default: the predicted class].")
    methods: list[str] = opt(help="Saliency methods (repeatable).", cli="--method", choices=tuple(METHODS),
                             default_factory=lambda: list(METHODS))


@dataclass
class SaliencyEvalConfig(SaliencyConfig):
    steps: int = opt(32, "Deletion/insertion curve points.", low=2)
    fill: Literal["blur", "black"] = opt("blur", "What deleted pixels become (black: Petsiuk et al.'s original).")
    randomize: list[int] = opt(help="Top layers re-initialised for the sanity check (a cascade).", csv=True,
                               default_factory=lambda: [1, 2, 4, 8])


@dataclass
class FoolConfig(VisConfig):
    target: str = opt("0", "Class name or index, or 'random' (seeded, per image).", required=True)
    method: Literal["gradient", "pgd"] = opt("gradient", "gradient: the lab's normalised ascent; pgd: PGD-L∞ within "
                                                         "--eps.")
    lr: float = opt(0.25, "gradient: L2 step in [0, 1] pixel units (≈ 64 in 0-255 units).", low=0, low_open=True)
    max_iters: int = opt(100, "Steps at most per image.", low=1)
    eps: float = opt(2.0, "pgd: L∞ budget in 0-255 units.", low=0, low_open=True)
    alpha: float = opt(0.0, "pgd: step in 0-255 units (0 = eps/8).", low=0)


@dataclass
class ClassVizConfig:
    model: str = opt("squeezenet1_1", "Any torchvision classifier, or mnist_cnn (the MODEL argument).", cli=False)
    targets: list[str] = opt(help="Class name or index; repeatable.", cli="--target", required=True,
                             default_factory=lambda: ["tarantula"])
    weights: str = opt("imagenet", WEIGHTS_HELP)
    init: str = opt("noise", "noise, an image file to start from, or DATASET:IMAGE (an image of a dataset by label "
                             "name or position, e.g. imagenet-val-25:hay, the study's Figure 22).")
    iters: int = opt(200, "Gradient-ascent steps.", low=1)
    lr: float = opt(0.01, "Mean step per pixel ([0, 1] units).", low=0, low_open=True)
    l2: float = opt(1e-3, "L2 regularisation weight.", low=0)
    jitter: int = opt(8, "Max random shift in pixels.", low=0)
    blur_every: int = opt(10, "Blur every N steps (0 = never).", low=0)
    blur_sigma: float = opt(0.5, "Gaussian blur σ in pixels.", low=0)
    frame_every: int = opt(25, "Keep a progress frame every N steps.", low=1)
    batch_size: int = opt(0, "Classes optimised together (0 = chosen per model and device).", low=0)
