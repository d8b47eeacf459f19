"""DCGAN generator and discriminator for 32x32 images; conditional variants take a class label."""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F


class Generator(nn.Module):
    """z (+ one-hot label) -> image in [-1, 1]. ``n_classes`` > 0 makes it conditional."""

    def __init__(self, nz: int = 100, ngf: int = 32, nc: int = 1, n_classes: int = 0, label_bn: bool = False):
        super().__init__()
        self.nz, self.n_classes = nz, n_classes
        self.net = nn.Sequential(                                                   # (B, nz+K, 1, 1)
            nn.ConvTranspose2d(nz + n_classes, ngf * 4, 4, 1, 0, bias=False),       # (B, 4ngf, 4, 4)
            nn.BatchNorm2d(ngf * 4), nn.ReLU(True),
            nn.ConvTranspose2d(ngf * 4, ngf * 2, 4, 2, 1, bias=False),              # (B, 2ngf, 8, 8)
            nn.BatchNorm2d(ngf * 2), nn.ReLU(True),
            nn.ConvTranspose2d(ngf * 2, ngf, 4, 2, 1, bias=False),                  # (B, ngf, 16, 16)
            nn.BatchNorm2d(ngf), nn.ReLU(True),
            nn.ConvTranspose2d(ngf, nc, 4, 2, 1, bias=False),                       # (B, nc, 32, 32)
            nn.Tanh(),
        )
        # label_bn (conditional batch norm, as in the projection-cGAN paper's generator): after each
        # batch norm a class-specific gain and shift, (1 + gamma[y]) * h + beta[y]. Initialised at zero,
        # so it starts as the lab's generator and gives the label a route into every block.
        bns = [m for m in self.net if isinstance(m, nn.BatchNorm2d)]
        self.label_bn = nn.ModuleList(nn.Embedding(n_classes, 2 * bn.num_features) for bn in bns) \
            if label_bn and n_classes else None
        if self.label_bn is not None:
            for e in self.label_bn:
                nn.init.zeros_(e.weight)

    def forward(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        if not self.n_classes:
            return self.net(z.view(len(z), -1, 1, 1))
        one_hot = F.one_hot(labels, self.n_classes).to(z.dtype)                  # (B, K)
        h = torch.cat([z, one_hot], 1).view(len(z), -1, 1, 1)                   # (B, nz+K, 1, 1)
        if self.label_bn is None:
            return self.net(h)
        k = 0
        for layer in self.net:
            h = layer(h)
            if isinstance(layer, nn.BatchNorm2d):
                # one-hot matmul rather than an embedding lookup: its backward is a GEMM on CPU
                gain, shift = (one_hot @ self.label_bn[k].weight)[:, :, None, None].chunk(2, 1)  # (B, C, 1, 1) each
                h = h * (1 + gain) + shift
                k += 1
        return h


class Discriminator(nn.Module):
    """image (+ label as one-hot channel maps) -> real/fake logit. ``n_classes`` > 0 makes it conditional."""

    def __init__(self, ndf: int = 32, nc: int = 1, n_classes: int = 0, projection: bool = False):
        super().__init__()
        self.n_classes = n_classes
        self.net = nn.Sequential(                                                   # (B, nc+K, 32, 32)
            nn.Conv2d(nc + n_classes, ndf, 4, 2, 1, bias=False), nn.LeakyReLU(0.2, True),  # (B, ndf, 16, 16)
            nn.Conv2d(ndf, ndf * 2, 4, 2, 1, bias=False),                           # (B, 2ndf, 8, 8)
            nn.BatchNorm2d(ndf * 2), nn.LeakyReLU(0.2, True),
            nn.Conv2d(ndf * 2, ndf * 4, 4, 2, 1, bias=False),                       # (B, 4ndf, 4, 4)
            nn.BatchNorm2d(ndf * 4), nn.LeakyReLU(0.2, True),
            nn.Conv2d(ndf * 4, 1, 4, 1, 0, bias=False),                             # (B, 1, 1, 1)
        )
        # projection (Miyato & Koyama 2018): a class-specific last layer, logit += <E[y], h>, with h the
        # (4ndf, 4, 4) features the last conv reads; a second, stronger route for the label
        self.embed = nn.Embedding(n_classes, ndf * 4 * 16) if projection and n_classes else None
        if self.embed is not None:
            nn.init.zeros_(self.embed.weight)  # starts as the plain input-conditioned D

    def forward(self, x: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        if not self.n_classes:
            return self.net(x).view(-1)
        # The first conv sees [image, one-hot label maps]. Convolution is linear, so its output is
        # conv(image, W_image) + conv(label maps, W_label), and the second term takes only K values:
        # one (ndf, H/2, W/2) map per class, computed once per call and indexed by label. Same maths
        # (padding included) as concatenating K constant channels, without convolving them per image.
        conv = self.net[0]
        nc, k = x.shape[1], self.n_classes
        eye = torch.eye(k, dtype=x.dtype, device=x.device)[:, :, None, None].expand(-1, -1, x.shape[2], x.shape[3])
        eye = eye.contiguous(memory_format=torch.channels_last)                # (K, K, H, W)
        w_img = conv.weight[:, :nc].contiguous(memory_format=torch.channels_last)
        w_lab = conv.weight[:, nc:].contiguous(memory_format=torch.channels_last)
        class_maps = F.conv2d(eye, w_lab, None, conv.stride, conv.padding)     # (K, ndf, H/2, W/2)
        _, c, hh, ww = class_maps.shape
        # pick each image's map with a one-hot matmul, not indexing: its backward is a GEMM, whereas
        # index backward (scatter-add) made the whole step slower than plain concatenation on CPU
        one_hot = F.one_hot(labels, k).to(x.dtype)                             # (B, K)
        per_image = one_hot @ class_maps.permute(0, 2, 3, 1).reshape(k, -1)    # (B, H/2*W/2*ndf)
        h = F.conv2d(x, w_img, None, conv.stride, conv.padding) + per_image.view(-1, hh, ww, c).permute(0, 3, 1, 2)
        if self.embed is None:
            return self.net[1:](h).view(-1)
        h = self.net[1:-1](h)                                                 # (B, 4ndf, 4, 4)
        return self.net[-1](h).view(-1) + ((one_hot @ self.embed.weight) * h.flatten(1)).sum(1)


def dcgan_init(m: nn.Module) -> None:
    """Radford et al.: conv weights ~ N(0, 0.02); batch-norm weights ~ N(1, 0.02), biases 0."""
    if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
        nn.init.normal_(m.weight, 0.0, 0.02)
    elif isinstance(m, nn.BatchNorm2d):
        nn.init.normal_(m.weight, 1.0, 0.02)
        nn.init.zeros_(m.bias)


def conv_flops(model: nn.Module, x: torch.Tensor, *args: torch.Tensor) -> float:
    """Forward FLOPs (2 x multiply-adds) of the conv layers for input x, measured with hooks."""
    total = [0.0]

    def hook(m: nn.Module, inp: tuple[torch.Tensor, ...], out: torch.Tensor) -> None:
        k = m.kernel_size[0] * m.kernel_size[1]
        if isinstance(m, nn.ConvTranspose2d):
            total[0] += 2 * inp[0].numel() * m.out_channels * k
        else:
            total[0] += 2 * out.numel() * m.in_channels * k // m.groups

    hs = [m.register_forward_hook(hook) for m in model.modules() if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d))]
    device = next(model.parameters()).device  # the probe inputs go where the model is (a GPU run's too)
    with torch.no_grad():
        model(x.to(device), *(a.to(device) for a in args))
    for h in hs:
        h.remove()
    if isinstance(model, Discriminator) and model.n_classes:  # its first conv runs functionally (see forward)
        conv = model.net[0]
        k = conv.kernel_size[0] * conv.kernel_size[1]
        h_out = (x.shape[2] + 2 * conv.padding[0] - conv.kernel_size[0]) // conv.stride[0] + 1
        total[0] += 2 * len(x) * h_out * h_out * conv.out_channels * x.shape[1] * k
    return total[0] / len(x)
