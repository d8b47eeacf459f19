"""Real interruptions: each long-running command is started as a subprocess, killed with SIGKILL in the
middle of its training (after its first checkpoint, before its end), resumed with --resume, and must end
with exactly the numbers of an uninterrupted run with the same seed."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable

import pytest
import torch

from dlapps.runner.runs import RunOptions

pytestmark = pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="SIGKILL is POSIX")


def is_timing(key: str) -> bool:
    """Wall-clock measurements differ between any two runs; everything else must be identical."""
    return key in ("timing", "timings", "seconds") or key.endswith(("_s", "per_step", "per_s")) or "gflops" in key


def start_and_kill(argv: list[str], ready: Callable[[], bool], timeout: float = 180) -> None:
    """Run ``dlapps ARGV`` in a subprocess and SIGKILL it as soon as ``ready()`` (its first checkpoint)."""
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    p = subprocess.Popen([sys.executable, "-m", "dlapps", *argv, "--quiet", "--threads", "1"], env=env,
                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    t0 = time.monotonic()
    while not ready():
        if p.poll() is not None:
            pytest.fail(f"the run ended (exit {p.returncode}) before it could be interrupted: {p.stderr.read()[-500:]}")
        if time.monotonic() - t0 > timeout:
            p.kill()
            pytest.fail("no checkpoint appeared in time")
        time.sleep(0.01)
    p.send_signal(signal.SIGKILL)
    p.wait()
    assert p.returncode == -signal.SIGKILL


def checkpoint_after(out: Path, key: str, at_least: int = 1) -> Callable[[], bool]:
    def ready() -> bool:
        f = out / "checkpoints" / "last.pt"
        if not f.exists():
            return False
        try:
            ck = torch.load(f, weights_only=True)
        except Exception:  # noqa: BLE001 - read while being replaced: not yet
            return False
        v = ck.get(key)
        return (len(v) if isinstance(v, list) else int(v or 0)) >= at_least
    return ready


def without_timing(x):
    if isinstance(x, dict):
        return {k: without_timing(v) for k, v in x.items() if not is_timing(k)}
    if isinstance(x, list):
        return [without_timing(v) for v in x]
    return x


def test_dann_killed_mid_training_resumes_to_identical_metrics(tmp_path):
    from dlapps.adapt import DannConfig, run_dann

    cfg = DannConfig(epochs=2, data_source="embedded", limit=1000, tsne_points=0, batch_size=64)
    argv = ["adapt", "dann", "--epochs", "2", "--data-source", "embedded", "--limit", "1000", "--tsne-points", "0",
            "--batch-size", "64"]
    out = tmp_path / "killed"
    start_and_kill([*argv, "--out", str(out)], checkpoint_after(out, "epoch"))
    left = torch.load(out / "checkpoints" / "last.pt", weights_only=True)["epoch"]
    assert left == 1  # really stopped in the middle
    resumed = run_dann(cfg, RunOptions(out=str(out), resume=True, quiet=True, threads=1)).metrics
    full = run_dann(cfg, RunOptions(out=str(tmp_path / "full"), quiet=True, threads=1)).metrics
    assert resumed["epochs_done"] == 2
    assert without_timing(resumed) == without_timing(full)


def test_pseudo_label_killed_between_rounds_resumes_to_identical_metrics(tmp_path):
    from dlapps.adapt import DannConfig, PseudoLabelConfig, run_dann, run_pseudo_label

    base = run_dann(DannConfig(epochs=2, source_only=True, data_source="embedded", limit=600, tsne_points=0,
                               batch_size=64), RunOptions(out=str(tmp_path / "base"), quiet=True, threads=1))
    cfg = PseudoLabelConfig(start=str(base.run_dir), rounds=2, threshold=0.3, threshold_end=0.2, batch_size=64)
    out = tmp_path / "killed"
    start_and_kill(["adapt", "pseudo-label", "--from", str(base.run_dir), "--rounds", "2", "--threshold", "0.3",
                    "--threshold-end", "0.2", "--batch-size", "64", "--out", str(out)], checkpoint_after(out, "epoch"))
    ck = torch.load(out / "checkpoints" / "last.pt", weights_only=True)
    assert ck["unit"] == "round" and ck["epoch"] == len(ck["history"]) == 1  # killed between rounds
    resumed = run_pseudo_label(cfg, RunOptions(out=str(out), resume=True, quiet=True, threads=1)).metrics
    full = run_pseudo_label(cfg, RunOptions(out=str(tmp_path / "full"), quiet=True, threads=1)).metrics
    assert len(resumed["rounds"]) == 2 and without_timing(resumed) == without_timing(full)


def test_gan_killed_mid_training_resumes_to_identical_metrics(tmp_path):
    from dlapps.generate import GanConfig, run_gan

    kw = dict(conditional=True, data_source="embedded", limit=1024, batch_size=64, ngf=16, ndf=16, nz=16, epochs=3,
              eval_samples=300)
    argv = ["generate", "cgan", "--data-source", "embedded", "--limit", "1024", "--batch-size", "64", "--ngf", "16",
            "--ndf", "16", "--nz", "16", "--epochs", "3", "--eval-samples", "300"]
    out = tmp_path / "killed"
    start_and_kill([*argv, "--out", str(out)], checkpoint_after(out, "epoch"))
    assert 1 <= torch.load(out / "checkpoints" / "last.pt", weights_only=True)["epoch"] < 3
    resumed = run_gan(GanConfig(**kw), RunOptions(out=str(out), resume=True, quiet=True, threads=1)).metrics
    full = run_gan(GanConfig(**kw), RunOptions(out=str(tmp_path / "full"), quiet=True, threads=1)).metrics
    assert resumed["steps"] == full["steps"] == 3 * 16
    assert without_timing(resumed) == without_timing(full)


def test_sweep_killed_after_its_first_point_reruns_only_the_rest(tmp_path):
    from dlapps.adapt import DannConfig, run_dann
    from dlapps.sweep import run_sweep
    from dlapps.sweep_config import SweepConfig

    spec = tmp_path / "s.toml"
    spec.write_text('command = "adapt dann"\n[base]\ndata-source = "embedded"\nlimit = 300\nepochs = 2\n'
                    'tsne-points = 0\nbatch-size = 64\n[[points]]\nlr = 0.01\n[[points]]\nlr = 0.02\n')
    out = tmp_path / "sweep"

    def second_point_started() -> bool:  # the first point is finished, the second has a checkpoint
        done = [d for d in out.glob("*") if (d / "report.md").exists()] if out.exists() else []
        return len(done) == 1 and any((d / "checkpoints" / "last.pt").exists() for d in out.glob("*") if d not in done)

    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    p = subprocess.Popen([sys.executable, "-m", "dlapps", "sweep", str(spec), "--out", str(out), "--quiet"], env=env,
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    t0 = time.monotonic()
    while not second_point_started():
        assert p.poll() is None, "the sweep ended before it could be interrupted"
        assert time.monotonic() - t0 < 180
        time.sleep(0.01)
    os.killpg(p.pid, signal.SIGKILL)  # the sweep and the point it was running, as a power cut would
    p.wait()
    done = {d.name: (d / "metrics.json").stat().st_mtime_ns for d in out.iterdir() if (d / "report.md").exists()}
    assert len(done) == 1
    run_sweep(SweepConfig(file=spec),
              RunOptions(out=str(out), quiet=True))  # finishes the killed point, leaves the other alone
    points = sorted(d for d in out.iterdir() if (d / "config.json").exists())
    assert len(points) == 2 and all((d / "report.md").exists() for d in points)
    for name, mtime in done.items():
        assert (out / name / "metrics.json").stat().st_mtime_ns == mtime
    killed = [d for d in points if d.name not in done]
    for d in killed:  # the killed point's numbers are those of the same run made without any interruption
        opts = json.loads((d / "config.json").read_text())["options"]
        cfg = DannConfig(**{k: v for k, v in opts.items() if k != "seed"})
        ref = run_dann(cfg, RunOptions(out=str(tmp_path / f"ref-{d.name}"), quiet=True, threads=1,
                                       seed=opts["seed"])).metrics
        assert without_timing(json.loads((d / "metrics.json").read_text())) == without_timing(ref), d.name


@pytest.mark.parametrize("sig,code,word", [(signal.SIGINT, 130, "interrupted"), (signal.SIGTERM, 143, "SIGTERM")])
def test_sigint_and_sigterm_stop_with_one_line_and_resume(tmp_path, sig, code, word):
    from dlapps.adapt import DannConfig, run_dann

    cfg = DannConfig(epochs=2, data_source="embedded", limit=600, tsne_points=0, batch_size=64, source_val=0)
    argv = ["adapt", "dann", "--epochs", "2", "--data-source", "embedded", "--limit", "600", "--source-val", "0",
            "--tsne-points", "0",
            "--batch-size", "64"]
    out = tmp_path / "stopped"
    p = subprocess.Popen([sys.executable, "-m", "dlapps", *argv, "--out", str(out), "--quiet", "--threads", "1"],
                         env={**os.environ, "PYTHONWARNINGS": "ignore"}, stdout=subprocess.DEVNULL,
                         stderr=subprocess.PIPE, text=True,
                         preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))  # as from a terminal
    ready = checkpoint_after(out, "epoch")
    t0 = time.monotonic()
    while not ready():
        assert p.poll() is None, p.stderr.read()[-500:]
        assert time.monotonic() - t0 < 180
        time.sleep(0.01)
    p.send_signal(sig)
    err = p.communicate(timeout=120)[1]
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert p.returncode == code, err[-800:]
    assert "Traceback" not in err and len(lines) == 1, err[-800:]
    kept = torch.load(out / "checkpoints" / "last.pt", weights_only=True)["epoch"]
    assert kept == 1
    assert lines[0].startswith(f"{word}: stopped at epoch {kept} (checkpointed in {out})") and "--resume" in lines[0]
    resumed = run_dann(cfg, RunOptions(out=str(out), resume=True, quiet=True, threads=1)).metrics
    assert resumed["epochs_done"] == 2 and resumed["complete"]
    full = run_dann(cfg, RunOptions(out=str(tmp_path / "full"), quiet=True, threads=1)).metrics
    assert without_timing(resumed) == without_timing(full)
