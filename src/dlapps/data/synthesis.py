"""Data generated from what pip installs: MNIST-M made by blending MNIST digits with patches of real
photographs (as Ganin & Lempitsky did with BSDS500), and the photographs themselves."""

from __future__ import annotations

import io

import numpy as np
import torch

from dlapps.data.containers import DIGIT_NAMES, DataBundle, ImageSet


def _skimage_photo(name: str) -> np.ndarray:
    """A photograph bundled with scikit-image (no download: these files ship in the wheel)."""
    import skimage.data as skd

    if name == "motorcycle_left":
        return skd.stereo_motorcycle()[0]
    return getattr(skd, name)()


def photo_pool() -> list[np.ndarray]:
    """Real colour photographs that pip installs: scikit-image's and scikit-learn's samples (RGB uint8)."""
    from sklearn.datasets import load_sample_images

    photos = [_skimage_photo(n) for n in ("astronaut", "coffee", "chelsea", "rocket", "motorcycle_left",
                                          "hubble_deep_field", "immunohistochemistry", "retina")]
    photos += list(load_sample_images().images)
    return [p[..., :3].astype(np.uint8) for p in photos if p.ndim == 3]


def make_mnistm(digits: torch.Tensor, seed: int, size: int = 32) -> torch.Tensor:
    """MNIST-M as Ganin & Lempitsky made it: |photo patch - digit| per channel.

    digits: (N, 1, 28, 28) uint8 -> (N, 3, size, size) uint8. Deterministic for a given seed; patches
    are cut at random positions from photographs shipped with scikit-image/scikit-learn (the paper used
    BSDS500). A larger ``size`` pads the digit, as the released 32x32 MNIST-M does (its digits keep
    MNIST's 28x28 size, 2 px from each border); a smaller one resizes it.
    """
    import torch.nn.functional as F

    rng = np.random.default_rng(seed)
    pool = photo_pool()
    n = len(digits)
    h = digits.shape[-1]
    if size >= h:
        lo = (size - h) // 2
        d = F.pad(digits.float(), (lo, size - h - lo, lo, size - h - lo))
    else:
        d = F.interpolate(digits.float(), size=(size, size), mode="bilinear", align_corners=False, antialias=True)
    d = d.clamp(0, 255).numpy()[:, 0]  # (N, S, S)
    which = rng.integers(0, len(pool), n)
    out = np.empty((n, size, size, 3), np.uint8)
    for k in range(len(pool)):
        idx = np.flatnonzero(which == k)
        if len(idx) == 0:
            continue
        p = pool[k]
        ys = rng.integers(0, p.shape[0] - size, len(idx))
        xs = rng.integers(0, p.shape[1] - size, len(idx))
        rows = ys[:, None] + np.arange(size)[None]  # (n_k, S)
        cols = xs[:, None] + np.arange(size)[None]
        patch = p[rows[:, :, None], cols[:, None, :]]  # (n_k, S, S, 3)
        out[idx] = np.abs(patch.astype(np.int16) - d[idx][..., None].astype(np.int16)).astype(np.uint8)
    return torch.from_numpy(out).permute(0, 3, 1, 2).contiguous()


def generate_mnistm(mnist: DataBundle, tag: str) -> DataBundle:
    """MNIST-M made from a MNIST bundle (train seed 1, test seed 2): digit i of both shows the same label."""
    return generated_bundle(mnist, make_mnistm(mnist.train.images, seed=1), make_mnistm(mnist.test.images, seed=2), tag)


def generated_bundle(mnist: DataBundle, train: torch.Tensor, test: torch.Tensor, tag: str) -> DataBundle:
    """The MNIST-M bundle of generated (N, 3, 32, 32) uint8 images, labelled as the MNIST digits they show."""
    return DataBundle("mnistm", ImageSet(train, mnist.train.labels, DIGIT_NAMES),
                      ImageSet(test, mnist.test.labels, DIGIT_NAMES),
                      f"{tag}: generated MNIST-M (MNIST from {mnist.source}, blended with scikit-image/scikit-learn "
                      "photo patches)")


PHOTO_NAMES = ["astronaut", "coffee", "chelsea", "rocket", "motorcycle_left", "horse", "camera", "china", "flower"]


def photos() -> ImageSet:
    """Real photographs shipped with scikit-image and scikit-learn, as RGB (encoded PNG per image)."""
    from PIL import Image
    from sklearn.datasets import load_sample_images

    arrays = [_skimage_photo(n) for n in PHOTO_NAMES[:7]] + list(load_sample_images().images)
    files = []
    for a in arrays:
        buf = io.BytesIO()
        Image.fromarray(a.astype(np.uint8)).save(buf, format="PNG")
        files.append(buf.getvalue())
    return ImageSet(files, torch.arange(len(files)), list(PHOTO_NAMES), list(PHOTO_NAMES))
