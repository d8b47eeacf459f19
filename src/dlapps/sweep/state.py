"""Where a point's run dir stands (one RunState read everywhere) and its metrics, read without ever crashing a sweep."""

from __future__ import annotations

import json
from enum import StrEnum
from pathlib import Path
from typing import Any


def read_metrics(run_dir: Path) -> dict[str, Any] | None:
    """A point's metrics.json, or None when it is missing or damaged (cut short, edited by hand): a damaged
    file makes the point unfinished, never the sweep's crash."""
    try:
        m = json.loads((Path(run_dir) / "metrics.json").read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError):
        return None
    return m if isinstance(m, dict) else None


class RunState(StrEnum):
    """Where a run dir stands; one enum read everywhere (a StrEnum: it compares equal to its name)."""

    COMPLETE = "complete"   # trained to its end
    DIVERGED = "diverged"   # stopped itself (a NaN loss): that is its result, and a rerun would only repeat it
    DAMAGED = "damaged"     # a metrics.json or config.json that cannot be read
    PARTIAL = "partial"     # has a config: running, or interrupted (resume it)
    NEW = "new"             # nothing yet

    @property
    def finished(self) -> bool:
        """A result to read (and never to run again): it completed or stopped itself."""
        return self in (RunState.COMPLETE, RunState.DIVERGED)


def status(run_dir: Path) -> RunState:
    """The :class:`RunState` of a run dir. A config.json that cannot be read damages the point too (its report
    and resume need it)."""
    if (run_dir / "config.json").exists() and not _readable_config(run_dir):
        return RunState.DAMAGED
    if (run_dir / "metrics.json").exists():
        m = read_metrics(run_dir)
        if m is None:
            return RunState.DAMAGED
        if m.get("diverged"):
            return RunState.DIVERGED
        if (run_dir / "report.md").exists() and m.get("complete", True):
            return RunState.COMPLETE
    if (run_dir / "config.json").exists():
        return RunState.PARTIAL
    return RunState.NEW


def _readable_config(run_dir: Path) -> bool:
    try:
        return isinstance(json.loads((run_dir / "config.json").read_text(encoding="utf-8")), dict)
    except (OSError, UnicodeDecodeError, ValueError):
        return False


def _set_aside(run_dir: Path) -> Path:
    """Move a point dir that cannot be resumed out of the way (kept, never deleted) so it reruns from scratch."""
    k, dest = 1, run_dir.with_name(f"{run_dir.name}.damaged")
    while dest.exists():
        k += 1
        dest = run_dir.with_name(f"{run_dir.name}.damaged{k}")
    run_dir.rename(dest)
    return dest


