"""scripts/publish_study.py stages finished points only, the diagnostics' too, never a half-run one."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _publish_module():
    spec = importlib.util.spec_from_file_location("publish_study", ROOT / "scripts" / "publish_study.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _point(d: Path, finished: bool) -> None:
    d.mkdir(parents=True)
    (d / "config.json").write_text("{}")
    if finished:
        (d / "metrics.json").write_text(json.dumps({"test_acc": 0.9}))
        (d / "report.md").write_text("done")
    (d.parent / f"{d.name}.log").write_text("log")


def test_finished_paths_take_finished_points_of_the_study_and_its_diagnostics(tmp_path):
    study = tmp_path / "study-results"
    for sweep in (study / "2c_dann", study / "diagnostics" / "momentum_zero"):
        sweep.mkdir(parents=True)
        (sweep / "config.json").write_text("{}")
        _point(sweep / "base-s0", finished=True)
        _point(sweep / "base-s1", finished=False)  # still running: left for the sitting that finishes it
    (study / "report.md").write_text("report")
    paths = {p.relative_to(study).as_posix() for p in _publish_module().finished_paths(study)}
    assert {"2c_dann/base-s0", "2c_dann/base-s0.log", "diagnostics/momentum_zero/base-s0",
            "diagnostics/momentum_zero/base-s0.log", "2c_dann/config.json", "report.md"} <= paths
    assert not any("base-s1" in p for p in paths)
