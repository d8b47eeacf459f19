"""Atomic file writes: a reader (a report, a resumed run, a sweep) never sees half a file."""

from __future__ import annotations

import errno
import os
import tempfile
from pathlib import Path

from dlapps import DlappsError

# the process umask, read once (os.umask can only be read by setting it)
_UMASK = os.umask(0)
os.umask(_UMASK)


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write via a temp file in the same folder and ``os.replace`` it: readers never see half a file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o666 & ~_UMASK)  # mkstemp makes 0600 files; give the usual permissions
        os.replace(tmp, path)
    except BaseException as e:
        Path(tmp).unlink(missing_ok=True)
        if isinstance(e, OSError) and e.errno == errno.ENOSPC:
            import shutil

            free = shutil.disk_usage(path.parent).free
            raise DlappsError(f"disk full: writing {path} needs {len(data):,} bytes, {free:,} free on that disk; "
                              "free some space and rerun with --resume (what was written before is intact)") from None
        raise


def atomic_write_text(path: Path, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))
