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
    for sweep in (study / "2c_dann", study / "diagnostics" / "momentum_zero", study / "beyond" / "adapt_beyond_vada"):
        sweep.mkdir(parents=True)
        (sweep / "config.json").write_text("{}")
        _point(sweep / "base-s0", finished=True)
        _point(sweep / "base-s1", finished=False)  # still running: left for the sitting that finishes it
    (study / "report.md").write_text("report")
    paths = {p.relative_to(study).as_posix() for p in _publish_module().finished_paths(study)}
    assert {"2c_dann/base-s0", "2c_dann/base-s0.log", "diagnostics/momentum_zero/base-s0",
            "diagnostics/momentum_zero/base-s0.log", "2c_dann/config.json", "report.md",
            "beyond/adapt_beyond_vada/base-s0", "beyond/adapt_beyond_vada/config.json"} <= paths
    assert not any("base-s1" in p for p in paths)


def test_scrub_names_data_files_portably_and_leaves_numbers(tmp_path, monkeypatch):
    mod = _publish_module()
    data = tmp_path / "data"
    data.mkdir()
    (data / "mnist.npz").write_bytes(b"digits")
    monkeypatch.setenv("DLAPPS_DATA", str(data))
    monkeypatch.delenv("DLAPPS_WEIGHTS", raising=False)
    study = tmp_path / "study-results"
    point = study / "2c_dann" / "base-s0"
    point.mkdir(parents=True)
    cfg = {"data_sources": {"source": f"DLAPPS_DATA: {data / 'mnist.npz'}"}, "lr": 0.01,
           "file": "/home/someone/wt/src/dlapps/study/sweeps/2c_dann.toml"}
    (point / "config.json").write_text(json.dumps(cfg))
    (study / "2c_dann" / "base-s0.log").write_text(f"done: {point.resolve()}/report.html\n")
    assert mod.scrub_machine_paths([point, study / "2c_dann" / "base-s0.log"], study) == 2
    got = json.loads((point / "config.json").read_text())
    import hashlib
    digest = hashlib.sha256(b"digits").hexdigest()
    assert got["data_sources"]["source"] == f"DLAPPS_DATA: $DLAPPS_DATA/mnist.npz (sha256 {digest})"
    assert got["file"] == "src/dlapps/study/sweeps/2c_dann.toml" and got["lr"] == 0.01
    assert (study / "2c_dann" / "base-s0.log").read_text() == "done: study-results/2c_dann/base-s0/report.html\n"
    assert mod.scrub_machine_paths([point], study) == 0  # idempotent: a digest is never added twice


def test_published_study_holds_no_machine_path():
    """Published files name data as $DLAPPS_DATA/<file> with its digest and other files relative to the repo."""
    mod = _publish_module()
    import subprocess

    tracked = subprocess.run(["git", "ls-files", "study-results"], cwd=ROOT, capture_output=True, text=True).stdout
    files = [ROOT / f for f in tracked.splitlines()] or [f for f in (ROOT / "study-results").rglob("*") if f.is_file()]
    hits = [str(f.relative_to(ROOT)) for f in files if f.suffix not in (".pt", ".png")
            and mod.MACHINE_PATH.search(f.read_text(errors="ignore"))]
    assert hits == []
