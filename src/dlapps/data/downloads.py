"""Where data lives (``$DLAPPS_DATA``, ``$DLAPPS_CACHE``), checksums, and downloads that fail cleanly offline."""

from __future__ import annotations

import hashlib
import os
import socket
from pathlib import Path
from typing import Callable




def cache_dir() -> Path:
    """Downloads and feature caches: ``$DLAPPS_CACHE`` or ``~/.cache/dlapps``."""
    d = os.environ.get("DLAPPS_CACHE") or os.path.join(os.path.expanduser("~"), ".cache", "dlapps")
    return Path(d)


def data_dir() -> Path | None:
    d = os.environ.get("DLAPPS_DATA")
    return Path(d) if d else None


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


class _Offline(Exception):
    """A download was impossible (no network, refused, checksum mismatch)."""


_FAILED_DOWNLOADS: list[str] = []


def _download(fn: Callable[[], object], what: str) -> object:
    """Run a download with a short socket timeout; map every network failure to :class:`_Offline`.

    ``DLAPPS_OFFLINE=1`` skips downloads; after one network failure the process stops trying, so an
    offline machine pays for the failed attempt once."""
    if os.environ.get("DLAPPS_OFFLINE") == "1":
        raise _Offline(f"{what}: skipped (DLAPPS_OFFLINE=1)")
    if _FAILED_DOWNLOADS:
        raise _Offline(f"{what}: skipped (offline: {_FAILED_DOWNLOADS[0]})")
    old = socket.getdefaulttimeout()
    socket.setdefaulttimeout(float(os.environ.get("DLAPPS_DOWNLOAD_TIMEOUT", "15")))
    try:
        return fn()
    except Exception as e:  # URLError, HTTPError, RuntimeError(md5), OSError, ...
        first = " ".join(str(e).split())[:100]
        if "urlopen" in first or "Name or service" in first or isinstance(e, (socket.timeout, ConnectionError)):
            _FAILED_DOWNLOADS.append(what)
        raise _Offline(f"{what}: {e.__class__.__name__}: {first}") from None
    finally:
        socket.setdefaulttimeout(old)
