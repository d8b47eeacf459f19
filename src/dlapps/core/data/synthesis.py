"""Data generated from what pip installs: MNIST-M made by blending MNIST digits with patches of real
photographs (as Ganin & Lempitsky did with BSDS500), and the photographs themselves."""

from __future__ import annotations

import io

import numpy as np
import torch

from dlapps.core.data.containers import DIGIT_NAMES, DataBundle, ImageSet


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


LAB_MNISTM_SEED = 42  # the lab's np.random.RandomState(42), which picks each digit's photo


def blend_lab_mnistm(digits: np.ndarray, photos: list[np.ndarray], photo_rng: np.random.RandomState,
                     patch_rng: np.random.RandomState) -> np.ndarray:
    """The RDFIA 2-c lab's MNIST-M recipe (its ``code/3-c/mnistm.py``), image by image in MNIST's order.

    digits: (N, 28, 28) uint8 MNIST -> (N, 28, 28, 3) uint8. Each digit is binarised (x > 0) to white RGB
    and difference-blended, ``|patch - digit|``, with a 28x28 patch of a photo: ``photo_rng.randint(len)``
    picks the photo (the lab's ``rand.choice(background_data)`` draws exactly that), then
    ``patch_rng.randint(0, H - 28)`` and ``randint(0, W - 28)`` its corner (the lab draws these from numpy's
    unseeded global generator; a fixed one here makes the set reproducible). Image i stays digit i."""
    n, size = len(digits), digits.shape[-1]
    which = np.array([photo_rng.randint(0, len(photos)) for _ in range(n)])  # sequential, as the lab draws
    corners = np.empty((n, 2), np.int64)
    for i, k in enumerate(which):   # interleaved per image: each photo's shape bounds its own draws
        h, w = photos[k].shape[:2]
        corners[i] = patch_rng.randint(0, h - size), patch_rng.randint(0, w - size)
    out = np.empty((n, size, size, 3), np.uint8)
    ar = np.arange(size)
    for k in np.unique(which):
        idx = np.flatnonzero(which == k)
        rows = corners[idx, 0, None] + ar[None]              # (n_k, 28)
        cols = corners[idx, 1, None] + ar[None]
        patch = photos[k][rows[:, :, None], cols[:, None, :]]  # (n_k, 28, 28, 3)
        on = (digits[idx] > 0)[..., None]                      # the binarised digit: 255 where on, else 0
        out[idx] = np.where(on, 255 - patch, patch)            # = |patch - digit| for a 0/255 digit
    return out


def lab_mnistm(mnist: DataBundle, photos: list[np.ndarray], patch_seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(train, test) of the lab's MNIST-M, (N, 28, 28, 3) uint8 each, built from a full MNIST bundle: one photo
    generator (seed 42) runs through the train set and on into the test set, as the lab's script does."""
    photo_rng, patch_rng = np.random.RandomState(LAB_MNISTM_SEED), np.random.RandomState(patch_seed)
    return tuple(blend_lab_mnistm(s.images[:, 0].numpy(), photos, photo_rng, patch_rng)  # type: ignore[return-value]
                 for s in (mnist.train, mnist.test))
