"""dlapps' own small models, trained on embedded data, for offline demos and tests.

``mnist_cnn``: a LeNet-style CNN trained by dlapps on MNIST (the embedded 5,000 digits unless
$DLAPPS_DATA has the full set). Trained once, then cached in ``$DLAPPS_CACHE/models``. It stands in
for an ImageNet network where no pretrained weights can be downloaded.
"""

from __future__ import annotations

import hashlib
import io
from pathlib import Path
from typing import Any

import torch
import torch.nn as nn
import torch.nn.functional as F

from dlapps.core.data import cache_dir, load_dataset
from dlapps.core.data.downloads import load_or_build
from dlapps.core.files import atomic_write_bytes

ZOO = ("mnist_cnn",)


class MnistCNN(nn.Module):
    """(B, 1, 28, 28) -> 10 logits. Graph nodes features.* / classifier.* like torchvision's VGG."""

    def __init__(self, n_classes: int = 10):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, 32, 3, padding=1), nn.ReLU(),      # features.1: (B, 32, 28, 28)
            nn.MaxPool2d(2),                                 # (B, 32, 14, 14)
            nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(),     # features.4: (B, 64, 14, 14)
            nn.MaxPool2d(2),                                 # (B, 64, 7, 7)
        )
        self.flatten = nn.Flatten()
        self.classifier = nn.Sequential(
            nn.Linear(64 * 7 * 7, 128), nn.ReLU(),          # classifier.1: (B, 128)
            nn.Dropout(0.25),
            nn.Linear(128, n_classes),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.flatten(self.features(x)))


MNIST_MEAN, MNIST_STD = (0.1307,), (0.3081,)


def train_mnist_cnn(steps: int = 400, seed: int = 0, data_source: str = "local", verbose: bool = True) -> tuple[MnistCNN, str]:
    """Train (or load from the cache) the MNIST CNN; returns it in eval mode and a description."""
    bundle = load_dataset("mnist", source=data_source, verbose=verbose)
    # v2: built on one thread (load_or_build), so the weights no longer depend on the builder's thread count
    key = hashlib.sha256(f"{bundle.source}|{len(bundle.train)}|{steps}|{seed}|v2".encode()).hexdigest()[:16]
    path = cache_dir() / "models" / f"mnist_cnn-{key}.pt"
    model = MnistCNN()
    desc = f"dlapps mnist_cnn trained {steps} steps on MNIST ({bundle.source})"
    return load_or_build(path, lambda: _load_cached(model, path, desc) if path.exists() else None,
                         lambda: _train(model, bundle, steps, seed, path, desc))


def _load_cached(model: MnistCNN, path: Path, desc: str) -> tuple[MnistCNN, str]:
    state = torch.load(path, map_location="cpu", weights_only=True)
    model.load_state_dict(state["model"])
    return model.eval(), desc + f", test accuracy {state['test_acc']:.4f} (cached)"


def _train(model: MnistCNN, bundle: Any, steps: int, seed: int, path: Path, desc: str) -> tuple[MnistCNN, str]:
    """400 Adam steps on batches of 128 drawn with a seeded generator; the test accuracy is kept beside the
    weights."""
    x = (bundle.train.images.float() / 255 - MNIST_MEAN[0]) / MNIST_STD[0]
    y = bundle.train.labels
    g = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    model.train()
    for _ in range(steps):
        b = torch.randint(len(x), (128,), generator=g)
        loss = F.cross_entropy(model(x[b]), y[b])
        opt.zero_grad()
        loss.backward()
        opt.step()
    model.eval()
    with torch.no_grad():
        xt = (bundle.test.images.float() / 255 - MNIST_MEAN[0]) / MNIST_STD[0]
        acc = (model(xt).argmax(1) == bundle.test.labels).float().mean().item()
    buf = io.BytesIO()
    torch.save({"model": model.state_dict(), "test_acc": acc}, buf)
    atomic_write_bytes(path, buf.getvalue())
    return model, desc + f", test accuracy {acc:.4f}"
