"""GAN experiment settings (the knobs people study), the data they train on, and the two networks."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal
import torch
import torch.nn.functional as F
from dlapps import DlappsError
from dlapps.data.containers import DataSource
from dlapps.data import load_dataset
from dlapps.generate.networks import Discriminator, Generator, dcgan_init


@dataclass
class GanConfig:
    data: str = "mnist"            # mnist | cifar10 (or any registry name with 32x32-able images)
    data_source: DataSource = "auto"  # auto|local|download|embedded
    conditional: bool = False      # cGAN: the label goes to G (and to D unless label_in_d is False)
    label_in_d: bool = True        # the study's ablation: --no-label-in-d
    d_label: Literal["input", "projection"] = "projection"  # how D sees the label: input (one-hot maps only, the lab) | projection (also a class-specific last layer)
    g_label: Literal["input", "bn"] = "bn"  # how G sees the label: input (one-hot next to z, the lab) | bn (also class-specific batch-norm gain/shift)
    nz: int = 100                  # latent size
    ngf: int = 32                  # generator width
    ndf: int = 32                  # discriminator width
    epochs: int = 5
    batch_size: int = 128
    lr: float = 2e-4
    beta1: float = 0.5
    init: Literal["dcgan", "default"] = "dcgan"  # dcgan: N(0, .02) convs, N(1, .02) BN | default: PyTorch's init
    limit: int = 0                 # >0: first N training images (quick runs)
    eval_samples: int = 10000      # generated samples for the quality metrics (0 = skip metrics)
    collapse_steps: int = 200      # D loss < 1e-3 for this many steps in a row = discriminator collapse
    precision: Literal["fp32", "bf16"] = "fp32"  # fp32 | bf16: bfloat16 autocast for the training step's convolutions (weights,


def _images_32(x: torch.Tensor) -> torch.Tensor:
    """uint8 (N, C, H, W) -> float (N, C, 32, 32) in [-1, 1] (MNIST is padded 2 px, like the lab)."""
    x = x.float().div_(127.5).sub_(1)
    if x.shape[-1] == 28:
        x = F.pad(x, (2, 2, 2, 2), value=-1.0)
    elif x.shape[-1] != 32:
        x = F.interpolate(x, size=(32, 32), mode="bilinear", align_corners=False, antialias=True)
    return x.contiguous()


def load_gan_data(cfg: GanConfig) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, Any]:
    b = load_dataset(cfg.data, source=cfg.data_source)
    if b.train.encoded:
        raise DlappsError(f"{cfg.data}: generate needs a tensor dataset such as mnist or cifar10")
    xtr, ytr = b.train.images, b.train.labels
    if cfg.limit:
        xtr, ytr = xtr[:cfg.limit], ytr[:cfg.limit]
    return _images_32(xtr), ytr, _images_32(b.test.images), b.test.labels, b


def build_nets(cfg: GanConfig, nc: int, n_classes: int) -> tuple[Generator, Discriminator]:
    k = n_classes if cfg.conditional else 0
    G = Generator(cfg.nz, cfg.ngf, nc, k, label_bn=cfg.g_label == "bn")
    D = Discriminator(cfg.ndf, nc, k if cfg.label_in_d else 0, projection=cfg.d_label == "projection")
    if cfg.init == "dcgan":
        G.apply(dcgan_init)
        D.apply(dcgan_init)
    return G, D
