"""What a study has: its spec (study.toml), and the values its sweeps produced per point and seed.
Shared by running (``run.py``) and reporting (``report.py``), which do not import each other's insides."""

from __future__ import annotations

import functools
import json
from importlib import resources
from pathlib import Path
from typing import Any

from dlapps.presets import tomllib


@functools.lru_cache(maxsize=1)
def study_spec() -> dict[str, Any]:
    return tomllib.loads(_package_file("study.toml").read_text(encoding="utf-8"))


def _package_file(name: str) -> Any:
    return resources.files("dlapps.study").joinpath(name)


def study_seeds(spec: Any, n_seeds: int) -> list[int] | None:
    """The seeds a study runs a sweep with: n for sweeps that train (adapt, generate), the file's own otherwise."""
    return list(range(n_seeds)) if spec.command[0] in ("adapt", "generate") else None


def point_values(sweep_dir: Path, spec: Any, quick: bool, point: str, metric: str) -> list[float]:
    """The metric of one sweep point over its seeds (finished runs only)."""
    from dlapps.sweep import _get, expand, status

    vals = []
    for p in expand(spec, quick):
        if p.name != point:
            continue
        d = sweep_dir / p.dirname
        if status(d) == "complete":
            v = _get(json.loads((d / "metrics.json").read_text()), metric)
            if isinstance(v, (int, float)) and not isinstance(v, bool):
                vals.append(float(v))
    return vals


def point_failures(sweep_dir: Path, spec: Any, quick: bool, point: str) -> list[str]:
    """How the point's unfinished seeds ended, for runs that stopped themselves: 'diverged after epoch k (seed s)'."""
    from dlapps.sweep import expand

    out = []
    for p in expand(spec, quick):
        f = sweep_dir / p.dirname / "metrics.json"
        if p.name == point and f.exists():
            m = json.loads(f.read_text())
            if m.get("diverged"):
                out.append(f"stopped after epoch {m.get('epochs_done', '?')}: diverged or collapsed (seed {p.seed})")
    return out
