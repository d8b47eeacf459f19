"""GAN experiment settings (the knobs people study), the data they train on, and the two networks."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal
import torch
import torch.nn.functional as F
from dlapps import DlappsError
from dlapps.core.data.containers import DataSource
from dlapps.core.data import load_dataset
from dlapps.generate.networks import Discriminator, Generator, dcgan_init
from dlapps.runner.options import DATA_SOURCE_HELP, opt


@dataclass
class GanConfig:
    data: str = opt("mnist", "mnist or cifar10 (any registry name of small images).")
    data_source: DataSource = opt("auto", DATA_SOURCE_HELP)
    conditional: bool = opt(False, "cGAN: the label goes to G (and to D unless --no-label-in-d); set by `generate "
                                   "cgan`.", cli=False)
    label_in_d: bool = opt(True, "cGAN: give the label to the discriminator too (the study's ablation: "
                                 "--no-label-in-d).")
    d_label: Literal["input", "projection"] = opt(
        "projection", "cGAN: how D sees the label: one-hot input maps (the lab), or also a class-specific last layer.")
    g_label: Literal["input", "bn"] = opt(
        "bn", "cGAN: how G sees the label: one-hot next to z (the lab), or also class-specific batch-norm gain/shift.")
    nz: int = opt(100, "Latent size.", low=1)
    ngf: int = opt(32, "Generator width.", low=1)
    ndf: int = opt(32, "Discriminator width.", low=1)
    epochs: int = opt(5, "Passes over the training images.", low=1)
    batch_size: int = opt(128, "Images per step.", low=2)
    lr: float = opt(2e-4, "Adam learning rate (both networks).", low=0, low_open=True)
    beta1: float = opt(0.5, "Adam β1.", low=0, high=1, high_open=True)
    init: Literal["dcgan", "default"] = opt("dcgan", "dcgan: N(0, 0.02) convs, N(1, 0.02) batch-norm; default: "
                                                     "PyTorch's.")
    limit: int = opt(0, "Use the first N training images (0 = all).", low=0)
    eval_samples: int = opt(10000, "Generated samples for the quality metrics (0 = skip them).", low=0)
    collapse_steps: int = opt(200, "D loss < 1e-3 for this many steps in a row = discriminator collapse.", low=1,
                              cli=False)
    precision: Literal["fp32", "bf16"] = opt(
        "fp32", "bf16: bfloat16 autocast for the training step's convolutions (weights, optimiser state and the "
                "metrics stay float32; faster on CPUs with AMX/AVX512-BF16).")

    def check(self) -> None:
        """What the option ranges cannot say (``check_config`` asks it, before a run dir exists)."""
        if not self.conditional and not self.label_in_d:
            raise DlappsError("--no-label-in-d only applies to the conditional GAN (generate cgan)")


def images_32(x: torch.Tensor) -> torch.Tensor:
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
    return images_32(xtr), ytr, images_32(b.test.images), b.test.labels, b


def build_nets(cfg: GanConfig, nc: int, n_classes: int) -> tuple[Generator, Discriminator]:
    k = n_classes if cfg.conditional else 0
    G = Generator(cfg.nz, cfg.ngf, nc, k, label_bn=cfg.g_label == "bn")
    D = Discriminator(cfg.ndf, nc, k if cfg.label_in_d else 0, projection=cfg.d_label == "projection")
    if cfg.init == "dcgan":
        G.apply(dcgan_init)
        D.apply(dcgan_init)
    return G, D
