from __future__ import annotations

import json
import os

import pytest
import torch

from dlapps import DlappsError
from dlapps.runs import RunDir, atomic_write_text


def test_atomic_write_leaves_no_temp_and_keeps_old_on_failure(tmp_path, monkeypatch):
    p = tmp_path / "f.json"
    atomic_write_text(p, "old")

    def boom(*a, **k):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", boom)
    with pytest.raises(OSError):
        atomic_write_text(p, "new")
    monkeypatch.undo()
    assert p.read_text() == "old"
    assert [f.name for f in tmp_path.iterdir()] == ["f.json"]


def test_existing_run_dir_is_never_overwritten(tmp_path):
    RunDir.create(tmp_path / "r", "adapt", "dann", {"epochs": 1})
    with pytest.raises(DlappsError, match="already exists"):
        RunDir.create(tmp_path / "r", "adapt", "dann", {"epochs": 1})


def test_resume_checks_options_and_command(tmp_path):
    RunDir.create(tmp_path / "r", "adapt", "dann", {"epochs": 1, "threads": 1})
    run = RunDir.create(tmp_path / "r", "adapt", "dann", {"epochs": 1, "threads": 2}, resume=True)
    assert json.loads((run.path / "config.json").read_text())["options"]["epochs"] == 1
    with pytest.raises(DlappsError, match="options differ"):
        RunDir.create(tmp_path / "r", "adapt", "dann", {"epochs": 2}, resume=True)
    with pytest.raises(DlappsError, match="not 'generate dcgan'"):
        RunDir.create(tmp_path / "r", "generate", "dcgan", {"epochs": 1}, resume=True)
    with pytest.raises(DlappsError, match="does not exist"):
        RunDir.create(tmp_path / "nope", "adapt", "dann", {}, resume=True)


def test_checkpoint_roundtrip_weights_only(tmp_path):
    run = RunDir.create(tmp_path / "r", "x", "y", {})
    assert run.load_checkpoint() is None
    run.save_checkpoint({"w": torch.ones(3), "epoch": 2, "history": [{"a": 1.0}]})
    ck = run.load_checkpoint()
    assert ck["epoch"] == 2 and torch.equal(ck["w"], torch.ones(3))
    (run.path / "checkpoints" / "last.pt").write_bytes(b"garbage")
    with pytest.raises(DlappsError, match="cannot read checkpoint"):
        run.load_checkpoint()


def test_tables_and_report(tmp_path):
    from dlapps.report import build_report

    run = RunDir.create(tmp_path / "r", "x", "y", {"a": 1})
    run.write_table("t", ["name", "value"], [["a", 0.123456], ["b", 1234567]])
    assert "0.1235" in (run.path / "tables" / "t.md").read_text()
    assert (run.path / "tables" / "t.csv").read_text().splitlines()[0] == "name,value"
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots()
    ax.plot([1, 2])
    run.save_figure(fig, "f")
    run.write_metrics({"acc": 0.5})
    md, html = build_report([run.path])
    assert "figures/f.png" in md.read_text()
    assert "data:image/png;base64," in html.read_text()
