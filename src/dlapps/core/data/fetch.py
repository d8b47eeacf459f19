"""Verified downloads: every file dlapps fetches is declared once as a :class:`Remote` (URLs, digest, where
the digest comes from), checked before anything uses it, and extracted without leaving a path outside its
folder or a half-written file in the cache.

- ``DLAPPS_MIRROR=URL`` serves every file from a mirror instead (a lab's server, a cluster's shared disk over
  HTTP, a test's local server): the file is fetched from ``URL/<mirror_path>``, e.g.
  ``URL/mnistm/mnist_m_train.pt.tar.gz``, and checked against the same digest.
- ``DLAPPS_ACCEPT_DIGEST=<hex>`` accepts a file whose digest differs from the declared one, knowingly (a
  publisher re-packed an archive); the mismatch message prints the value to set.
- A download is written to ``<name>.part`` and renamed only after its digest matched; an extraction goes to a
  temporary folder that is renamed into place only when complete. An interruption leaves nothing that a later
  run could mistake for data, and the next call downloads again.

Extraction safety: every member of a zip or tar archive is checked first; an absolute path, a ``..``
component, a link, or a device file refuses the whole archive (one line). dlapps relies on its own check for
both formats, and for tar also on Python's ``tarfile`` ``"data"`` filter where the running Python has it
(3.10.12+, 3.11.4+, 3.12+), which refuses the same things again.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import shutil
import socket
import tarfile
import tempfile
import urllib.error
import urllib.request
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from dlapps import DlappsError

REMOTES: dict[str, "Remote"] = {}  # every file dlapps may download, by mirror path


@dataclass(frozen=True)
class Remote:
    """One downloadable file."""

    mirror_path: str           # its path under $DLAPPS_MIRROR, e.g. "mnistm/mnist_m_train.pt.tar.gz"
    urls: tuple[str, ...]      # where the publisher serves it, tried in order (https first where offered)
    digest: str                # "md5:<hex>" or "sha256:<hex>"
    digest_source: str         # where the digest comes from (so a reader can check it)

    @property
    def filename(self) -> str:
        return PurePosixPath(self.mirror_path).name


def remote(mirror_path: str, urls: tuple[str, ...] | list[str], digest: str, digest_source: str) -> Remote:
    """Declare a downloadable file beside the loader that uses it; it joins :data:`REMOTES`."""
    algo, _, hexd = digest.partition(":")
    if algo not in ("md5", "sha256") or not hexd:
        raise ValueError(f"{mirror_path}: digest must be 'md5:<hex>' or 'sha256:<hex>', not {digest!r}")
    r = Remote(mirror_path, tuple(urls), digest, digest_source)
    REMOTES[mirror_path] = r
    return r


class NetworkUnavailable(Exception):
    """No network (or downloads switched off): the caller may fall back to another source."""


def file_digest(path: Path, algo: str) -> str:
    h = hashlib.new(algo)
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _sources(r: Remote) -> list[str]:
    mirror = os.environ.get("DLAPPS_MIRROR", "").strip()
    return [mirror.rstrip("/") + "/" + r.mirror_path] if mirror else list(r.urls)


def fetch(r: Remote, dest_dir: Path, quiet: bool = False) -> Path:
    """``dest_dir/<filename>``, downloaded and verified unless already there and matching its digest.

    Raises :class:`NetworkUnavailable` when no network is reachable (or ``DLAPPS_OFFLINE=1`` without a
    mirror), :class:`DlappsError` for everything a user must look at (HTTP errors, a cut-short download, a
    digest mismatch); no partial file is left in either case."""
    dest_dir = Path(dest_dir)
    final = dest_dir / r.filename
    algo, _, want = r.digest.partition(":")
    if final.exists() and file_digest(final, algo) == want:
        return final
    if os.environ.get("DLAPPS_OFFLINE") == "1" and not os.environ.get("DLAPPS_MIRROR"):
        raise NetworkUnavailable(f"{r.filename}: skipped (DLAPPS_OFFLINE=1)")
    dest_dir.mkdir(parents=True, exist_ok=True)
    part = dest_dir / f"{r.filename}.part"
    unreachable = []
    for url in _sources(r):
        try:
            _stream(url, part, quiet)
        except (urllib.error.HTTPError, _CutShort) as e:  # the server answered: a fault to report, not offline
            part.unlink(missing_ok=True)
            raise DlappsError(f"download of {url} failed: {e}; nothing was kept, rerun to retry") from None
        except (urllib.error.URLError, socket.timeout, ConnectionError, OSError) as e:
            part.unlink(missing_ok=True)
            unreachable.append(f"{url}: {getattr(e, 'reason', e)}")
            continue
        got = file_digest(part, algo)
        accepted = os.environ.get("DLAPPS_ACCEPT_DIGEST", "").strip().lower()
        if got != want and got != accepted:
            part.unlink(missing_ok=True)
            raise DlappsError(f"{url}: {algo} {got} does not match the expected {want} ({r.digest_source}); the "
                              f"file was removed. If the publisher changed it and you trust the new file, set "
                              f"DLAPPS_ACCEPT_DIGEST={got} and rerun")
        os.replace(part, final)
        return final
    raise NetworkUnavailable(f"{r.filename}: no network ({'; '.join(unreachable)[:200]})")


class _CutShort(Exception):
    pass


def _stream(url: str, part: Path, quiet: bool) -> None:
    """Download ``url`` to ``part`` with a progress bar; a body shorter than its Content-Length is an error."""
    from tqdm.auto import tqdm

    timeout = float(os.environ.get("DLAPPS_DOWNLOAD_TIMEOUT", "15"))
    req = urllib.request.Request(url, headers={"User-Agent": "dlapps"})
    with urllib.request.urlopen(req, timeout=timeout) as resp, open(part, "wb") as f:
        total = int(resp.headers.get("Content-Length") or 0)
        got = 0
        with tqdm(total=total or None, unit="B", unit_scale=True, desc=PurePosixPath(url).name,
                  disable=quiet or None, leave=False) as bar:
            while True:
                try:
                    chunk = resp.read(1 << 16)
                except (ConnectionError, socket.timeout, OSError) as e:  # http.client.IncompleteRead too
                    raise _CutShort(f"the connection broke after {got:,} bytes ({e.__class__.__name__})") from None
                if not chunk:
                    break
                f.write(chunk)
                got += len(chunk)
                bar.update(len(chunk))
        if total and got != total:
            raise _CutShort(f"cut short: {got:,} of {total:,} bytes")


# ------------------------------------------------------------------------------------------------ extraction
def _check_member(archive: Path, name: str, is_link: bool = False, is_special: bool = False) -> None:
    p = PurePosixPath(name.replace("\\", "/"))
    if p.is_absolute() or ".." in p.parts or (p.parts and p.parts[0].endswith(":")) or is_link or is_special:
        what = "a link" if is_link else "a device or special file" if is_special else "a path outside the folder"
        raise DlappsError(f"{archive.name}: member {name!r} is {what}; refusing to extract this archive")


def extract(archive: Path, dest_dir: Path) -> list[Path]:
    """Extract a .zip, .tar(.gz) or single-file .gz into ``dest_dir`` after checking every member; returns
    the top-level paths created. Extraction happens in a temporary folder beside ``dest_dir`` and is moved
    into place only when complete."""
    archive, dest_dir = Path(archive), Path(dest_dir)
    dest_dir.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".extract-", dir=dest_dir))
    try:
        name = archive.name.lower()
        if name.endswith(".zip"):
            with zipfile.ZipFile(archive) as z:
                for info in z.infolist():
                    mode = info.external_attr >> 16
                    _check_member(archive, info.filename, is_link=(mode & 0o170000) == 0o120000)
                z.extractall(tmp)
        elif name.endswith((".tar", ".tar.gz", ".tgz")):
            with tarfile.open(archive) as t:
                for m in t.getmembers():
                    _check_member(archive, m.name, is_link=m.issym() or m.islnk(),
                                  is_special=not (m.isfile() or m.isdir()) and not (m.issym() or m.islnk()))
                if hasattr(tarfile, "data_filter"):
                    t.extractall(tmp, filter="data")
                else:  # older Pythons: the check above is the whole defence
                    t.extractall(tmp)
        elif name.endswith(".gz"):
            with gzip.open(archive, "rb") as src, open(tmp / archive.name[:-3], "wb") as dst:
                shutil.copyfileobj(src, dst)
        else:
            raise DlappsError(f"{archive.name}: unknown archive type (expected .zip, .tar.gz or .gz)")
        created = []
        for item in sorted(tmp.iterdir()):
            target = dest_dir / item.name
            if target.exists():
                shutil.rmtree(target) if target.is_dir() else target.unlink()
            os.replace(item, target)
            created.append(target)
        return created
    except (zipfile.BadZipFile, tarfile.TarError, EOFError, gzip.BadGzipFile) as e:
        raise DlappsError(f"{archive}: a damaged archive ({e.__class__.__name__}: {e}); delete it and rerun") from None
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def fetch_and_extract(r: Remote, dest_dir: Path, keep_archive: bool = False, quiet: bool = False) -> list[Path]:
    """:func:`fetch` then :func:`extract` into ``dest_dir``; the archive is removed after a good extraction
    unless ``keep_archive``."""
    archive = fetch(r, dest_dir, quiet)
    created = extract(archive, dest_dir)
    if not keep_archive:
        archive.unlink(missing_ok=True)
    return created
