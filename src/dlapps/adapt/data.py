"""Source and target domains as normalised float tensors at one size (28x28 RGB)."""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any, Literal, get_args

import numpy as np
import torch
import torch.nn.functional as F

from dlapps import DlappsError
from dlapps.core.data import load_dataset
from dlapps.core.data.containers import DataSource
from dlapps.runner.options import DATA_SOURCE_HELP, opt

Normalization = Literal["mnist", "mean", "standard", "imagenet", "per-domain", "instance", "random", "none"]
Fit = Literal["crop", "resize"]
NORMALIZATIONS: tuple[str, ...] = get_args(Normalization)
FITS: tuple[str, ...] = get_args(Fit)
SIZE = 28  # DANN's MNIST architecture; MNIST-M (32x32) is brought to it by FITS


@dataclass
class Domain:
    """One domain's train/val/test tensors: x (N, 3, 28, 28) float32 normalised, y (N,) int64.

    ``x_val``/``y_val`` are labelled images carved out of the *training* split and never trained on: for
    the source, the validation split every run holds out for its validators; for the target, the optional
    ``--target-val`` split (empty unless asked for)."""

    name: str
    source: str
    x_train: torch.Tensor
    y_train: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor
    x_val: torch.Tensor | None = None
    y_val: torch.Tensor | None = None

    @property
    def has_val(self) -> bool:
        return self.x_val is not None and len(self.x_val) > 0


def split_sizes(n_train: int, source_val: int, target_val: int, n_target_train: int) -> tuple[int, int]:
    """Validation images actually carved: the source split is capped at 10 % of the source training set
    (a small embedded set keeps most of its images for training); the target split must leave at least
    half the target training set unlabelled."""
    if source_val < 0 or target_val < 0:
        raise DlappsError("--source-val and --target-val must be >= 0")
    if target_val > n_target_train // 2:
        raise DlappsError(f"--target-val {target_val} is more than half the target's {n_target_train} training "
                          f"images; use at most {n_target_train // 2}")
    return min(source_val, n_train // 10), target_val


def _carve(x: torch.Tensor, y: torch.Tensor, n: int, seed: int) -> tuple[torch.Tensor, ...]:
    """(x_train, y_train, x_val, y_val): ``n`` images drawn at random (fixed by ``seed``, not the run's seed,
    so every run of a sweep holds out the same images) from a training split; the rest stay for training."""
    if n == 0:
        return x, y, x[:0], y[:0]
    perm = torch.randperm(len(x), generator=torch.Generator().manual_seed(seed))
    val, keep = perm[:n].sort().values, perm[n:].sort().values
    return x[keep], y[keep], x[val], y[val]


def _to_rgb28(x: torch.Tensor, fit: str = "crop") -> torch.Tensor:
    """uint8 (N, C, H, W) -> float (N, 3, 28, 28) in [0, 1].

    ``crop`` takes the centre 28x28 of larger images: the released 32x32 MNIST-M holds MNIST's 28x28
    digits padded by 2 px, so the crop gives target digits the source's size and position (a resize
    shrinks them by 1/8, a geometric domain shift the study's own 28x28 MNIST-M does not have).
    ``resize`` scales the whole image (antialiased bilinear)."""
    if fit not in FITS:
        raise DlappsError(f"unknown fit {fit!r}; use one of {', '.join(FITS)}")
    x = x.float().div_(255)
    if fit == "crop" and x.shape[-1] > SIZE and x.shape[-2] > SIZE:
        top, left = (x.shape[-2] - SIZE) // 2, (x.shape[-1] - SIZE) // 2
        x = x[..., top:top + SIZE, left:left + SIZE]
    if x.shape[-1] != SIZE:
        x = F.interpolate(x, size=(SIZE, SIZE), mode="bilinear", align_corners=False, antialias=True)
    if x.shape[1] == 1:
        x = x.expand(-1, 3, -1, -1)
    return x.contiguous()


def instance_normalize(x: torch.Tensor, eps: float = 1e-5) -> torch.Tensor:
    """Each image, each channel, standardised by its own mean and standard deviation (N, C, H, W).

    Why: Shu et al. (2018) feed VADA and DIRT-T instance-normalised inputs, which remove what a per-channel
    affine change of colour and contrast does to an image, the bulk of MNIST-M's shift from MNIST. ``eps``
    keeps a blank channel finite (it maps to 0)."""
    if not len(x):  # an empty split (no held-out images): nothing to normalise
        return x
    mean = x.mean((2, 3), keepdim=True)                                  # (N, C, 1, 1)
    std = x.std((2, 3), keepdim=True, unbiased=False)                    # (N, C, 1, 1)
    return (x - mean) / (std + eps)


def _stats(norm: str, x_train: torch.Tensor, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    if norm == "mnist":
        return torch.full((3,), 0.1307), torch.full((3,), 0.3081)
    if norm == "mean":  # tf-dann / the paper: subtract the pixel mean of both domains, no scaling
        return x_train.mean((0, 2, 3)), torch.ones(3)
    if norm == "standard":
        return torch.full((3,), 0.5), torch.full((3,), 0.5)
    if norm == "imagenet":
        return torch.tensor([0.485, 0.456, 0.406]), torch.tensor([0.229, 0.224, 0.225])
    if norm == "per-domain":
        return x_train.mean((0, 2, 3)), x_train.std((0, 2, 3))
    if norm == "random":  # a control: a fixed, arbitrary per-channel affine map
        g = torch.Generator().manual_seed(seed + 12345)
        return torch.rand(3, generator=g), 0.1 + 0.9 * torch.rand(3, generator=g)
    if norm == "none":
        return torch.zeros(3), torch.ones(3)
    raise DlappsError(f"unknown normalisation {norm!r}; use one of {', '.join(NORMALIZATIONS)}")


@dataclass
class DomainSpec:
    """Which data an adapt run trains and tests on: the data fields of every adapt Config, declared once here
    (DannConfig inherits them; a pseudo-labelling run reads them from its start run's config.json)."""

    source: str = opt("mnist", "Source dataset (labels used).")
    target: str = opt("mnistm", "Target dataset (labels for evaluation only).")
    data_source: DataSource = opt("auto", DATA_SOURCE_HELP)
    fit: Fit = opt("crop", "32x32 digits (MNIST-M) to 28x28: crop the centre (the release pads MNIST's digits by 2 "
                           "px, so this keeps their size) or resize (shrinks them by 1/8: a geometric domain shift "
                           "of its own).")
    normalize: Normalization = opt("standard", "(x-0.5)/0.5, or MNIST's / the pixel mean's / ImageNet's statistics, "
                                               "each domain's own, each image's own (instance: VADA/DIRT-T's "
                                               "instance-normalised inputs), a random map (a control), or none.")
    limit: int = opt(0, "Use the first N training images per domain (0 = all).", low=0)
    target_limit: int = opt(0, "Use the first N target training images only (0 = all): how much unlabelled target "
                               "data matters.", low=0)
    # the labelled splits held out of training, for model selection without target labels
    source_val: int = opt(1000, "Labelled source training images held out for the validators (capped at 10 %; "
                                "0 = none, then source_acc and dev are not recorded).", low=0)
    target_val: int = opt(0, "Labelled target *training* images carved out for selection (never trained on; a "
                             "separate protocol: N target labels used). 0 = none.", low=0)

    @classmethod
    def of(cls, options: "DomainSpec | dict[str, Any]") -> "DomainSpec":
        """From a Config, or the options dict a run stored in its config.json: a key that run did not store
        means what dlapps did before the option existed (``OLD_RUNS``), else the default."""
        if isinstance(options, DomainSpec):
            return cls(**{f.name: getattr(options, f.name) for f in fields(cls)})
        return cls(**{f.name: options.get(f.name, OLD_RUNS.get(f.name, f.default)) for f in fields(cls)})


# what a config.json written before an option existed means: no held-out splits, digits resized
OLD_RUNS: dict[str, Any] = {"source_val": 0, "target_val": 0, "fit": "resize"}


def load_domains(spec: DomainSpec, seed: int = 0) -> tuple[Domain, Domain, dict[str, Any]]:
    """Load both domains through the registry and normalise them; returns the stats used too.

    ``per-domain`` normalises each domain with its own train statistics, ``instance`` each image with its own;
    ``mean`` subtracts the
    per-channel pixel mean of both training sets (as tf-dann did); every other mode applies one fixed
    map to both. ``limit`` > 0 keeps the first ``limit`` train images of each domain (quick runs);
    ``target_limit`` > 0 the first ones of the target alone (how much unlabelled target data matters).
    ``source_val`` / ``target_val`` labelled images are then carved out of each training split (see
    ``split_sizes``); the test splits are never touched.
    """
    source, target, normalize, data_source = spec.source, spec.target, spec.normalize, spec.data_source
    limit, fit, target_limit, source_val, target_val = (spec.limit, spec.fit, spec.target_limit, spec.source_val,
                                                          spec.target_val)
    doms, raw = [], []
    t_limit = min(limit, target_limit) if limit and target_limit else (limit or target_limit)
    for name, lim in ((source, limit), (target, t_limit)):
        b = load_dataset(name, source=data_source)
        xtr, xte = b.train.images, b.test.images
        if not isinstance(xtr, torch.Tensor):
            raise DlappsError(f"{name}: adapt needs a tensor dataset (digits), not encoded image files")
        ytr = b.train.labels
        if lim:
            xtr, ytr = xtr[:lim], ytr[:lim]
        raw.append((b, _to_rgb28(xtr, fit), ytr, _to_rgb28(xte, fit), b.test.labels))
    n_src, n_tgt = split_sizes(len(raw[0][1]), source_val, target_val, len(raw[1][1]))
    carved = [_carve(r[1], r[2], n, 7919 + k) for k, (r, n) in enumerate(zip(raw, (n_src, n_tgt)))]
    raw = [(b, xtr, ytr, xte, yte, xv, yv) for (b, _, _, xte, yte), (xtr, ytr, xv, yv) in zip(raw, carved)]
    stats: dict[str, Any] = {}
    shared = None
    for tag, (b, xtr, ytr, xte, yte, xv, yv) in zip(("source", "target"), raw):
        if normalize == "instance":  # no statistics shared between images: each is its own
            stats[f"{tag}_mean"] = stats[f"{tag}_std"] = "each image's own, per channel"
            doms.append(Domain(b.name, b.source, instance_normalize(xtr), ytr, instance_normalize(xte), yte,
                               instance_normalize(xv), yv))
            continue
        if normalize == "per-domain":
            mean, std = _stats(normalize, xtr, seed)
        else:
            both = torch.cat([raw[0][1], raw[1][1]]) if normalize == "mean" else raw[0][1]
            shared = shared if shared is not None else _stats(normalize, both, seed)
            mean, std = shared
        m, s = mean.view(1, 3, 1, 1), std.view(1, 3, 1, 1)
        stats[f"{tag}_mean"], stats[f"{tag}_std"] = mean.tolist(), std.tolist()
        doms.append(Domain(b.name, b.source, (xtr - m) / s, ytr, (xte - m) / s, yte, (xv - m) / s, yv))
    if int(doms[0].y_train.max()) != int(doms[1].y_test.max()):
        raise DlappsError(f"{source} and {target} do not share their classes")
    return doms[0], doms[1], stats


def target_train_indices(n_target: int, steps: int, half: int, gen: torch.Generator) -> torch.Tensor:
    """Target indices for one epoch: shuffled passes over the target set, concatenated to length steps*half."""
    need = steps * half
    reps = int(np.ceil(need / n_target))
    return torch.cat([torch.randperm(n_target, generator=gen) for _ in range(reps)])[:need]
