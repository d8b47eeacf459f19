from __future__ import annotations

import json
import os

import pytest
import torch

from dlapps import DlappsError
from dlapps.runner.runs import RunDir, atomic_write_text


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


def test_disk_full_names_the_file_and_the_size_and_keeps_the_old_file(tmp_path, monkeypatch):
    import errno

    p = tmp_path / "checkpoints" / "last.pt"
    atomic_write_text(p, "epoch 3")
    real_fdopen = os.fdopen

    class Full:
        def __init__(self, f):
            self.f = f

        def __enter__(self):
            return self

        def __exit__(self, *a):
            self.f.close()

        def write(self, data):  # a patched writer: the disk fills up mid-write
            raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fdopen", lambda fd, mode: Full(real_fdopen(fd, mode)))
    with pytest.raises(DlappsError) as e:
        atomic_write_text(p, "epoch 4" * 1000)
    monkeypatch.undo()
    assert str(p) in str(e.value) and "7,000 bytes" in str(e.value) and "free" in str(e.value)
    assert p.read_text() == "epoch 3" and [f.name for f in p.parent.iterdir()] == ["last.pt"]


def test_existing_run_dir_is_never_overwritten(tmp_path):
    RunDir.create(tmp_path / "r", "adapt", "dann", {"epochs": 1}).write_metrics({"acc": 0.5})
    with pytest.raises(DlappsError, match="already exists"):
        RunDir.create(tmp_path / "r", "adapt", "dann", {"epochs": 1})


def test_run_dir_without_results_does_not_block_its_out(tmp_path):
    # a run that failed before producing anything (unknown class, missing image) leaves only config.json;
    # the same --out, with other options and without --resume, starts afresh
    RunDir.create(tmp_path / "r", "visualize", "fool", {"target": "stingrya"})
    run = RunDir.create(tmp_path / "r", "visualize", "fool", {"target": "stingray"})
    assert run.read_json("config.json")["options"]["target"] == "stingray"
    run = RunDir.create(tmp_path / "r", "visualize", "fool", {"target": "goldfish"}, resume=True)
    assert run.read_json("config.json")["options"]["target"] == "goldfish"
    run.save_checkpoint({"step": 1})  # now it has a result: protected again
    with pytest.raises(DlappsError, match="already exists"):
        RunDir.create(tmp_path / "r", "visualize", "fool", {"target": "goldfish"})


def test_out_that_is_not_a_run_dir_is_refused_as_such(tmp_path):
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "thesis.tex").write_text("mine")
    for resume in (False, True):
        with pytest.raises(DlappsError, match="not a dlapps run dir"):
            RunDir.create(tmp_path / "mine", "adapt", "dann", {}, resume=resume)
    (tmp_path / "file").write_text("x")
    with pytest.raises(DlappsError, match="is a file"):
        RunDir.create(tmp_path / "file", "adapt", "dann", {})
    assert (tmp_path / "mine" / "thesis.tex").read_text() == "mine"


def test_resume_checks_options_and_command(tmp_path):
    RunDir.create(tmp_path / "r", "adapt", "dann", {"epochs": 1, "threads": 1}).write_metrics({"acc": 0.5})
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
    from dlapps.runner.report import build_report

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


def test_device_is_honoured_or_refused_never_misrecorded(tmp_path, monkeypatch):
    from dlapps.runner.runs import RunOptions, start_run

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)  # a GPU machine, as far as dlapps can tell
    # a CPU-only command: auto means cpu, and the record says so; an explicit cuda is refused with one line
    run, dev = start_run("transfer", "predict", {"a": 1}, RunOptions(out=str(tmp_path / "a"), quiet=True),
                         devices=("cpu",))
    assert dev.type == "cpu" and run.read_json("config.json")["device"] == "cpu"
    with pytest.raises(DlappsError, match="runs on cpu only"):
        start_run("transfer", "predict", {"a": 1}, RunOptions(out=str(tmp_path / "b"), device="cuda", quiet=True),
                  devices=("cpu",))
    assert not (tmp_path / "b").exists()
    # CUDA reported available, but the run asked for the CPU: it runs there and config.json says so
    run, dev = start_run("adapt", "dann", {"a": 1}, RunOptions(out=str(tmp_path / "c"), device="cpu", quiet=True))
    assert dev.type == "cpu" and run.read_json("config.json")["device"] == "cpu"


def test_a_run_made_before_an_option_existed_resumes_at_its_default(tmp_path):
    """config.json of a run made before --momentum existed has no "momentum": at the default (what that run
    did) it resumes; any other value is a different experiment and is refused."""
    from dlapps.adapt import DannConfig

    d = tmp_path / "old"
    RunDir.create(d, "adapt", "dann", DannConfig())
    cfg = json.loads((d / "config.json").read_text())
    del cfg["options"]["momentum"]
    (d / "config.json").write_text(json.dumps(cfg))
    (d / "metrics.json").write_text("{}")
    RunDir.create(d, "adapt", "dann", DannConfig(), resume=True)
    (d / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(DlappsError, match=r"options differ from the stored run \(momentum\)"):
        RunDir.create(d, "adapt", "dann", DannConfig(momentum=0.0), resume=True)


def test_a_run_made_before_an_option_existed_resumes_through_start_run_at_that_options_default(tmp_path):
    """start_run hands RunDir.create a plain dict, which has lost which options are new: the Config's defaults
    go with it, so a run whose config.json predates an option (VADA's selection, made before --ema) resumes at
    the option's default and is refused at any other value, naming it."""
    from dlapps.adapt import DannConfig
    from dlapps.runner.runs import RunOptions, start_run

    out = tmp_path / "r"
    run, _ = start_run("adapt", "dann", DannConfig(epochs=2), RunOptions(out=str(out), quiet=True))
    run.write_metrics({"epochs_done": 1})
    cfg = json.loads((out / "config.json").read_text())
    del cfg["options"]["ema"]  # as written before --ema existed
    (out / "config.json").write_text(json.dumps(cfg))
    start_run("adapt", "dann", DannConfig(epochs=2), RunOptions(out=str(out), quiet=True, resume=True))
    with pytest.raises(DlappsError, match=r"options differ from the stored run \(ema\)"):
        start_run("adapt", "dann", DannConfig(epochs=2, ema=0.9), RunOptions(out=str(out), quiet=True, resume=True))
