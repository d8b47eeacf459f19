"""The Ray backend against a real cluster of two nodes (``ray.cluster_utils.Cluster`` on this machine stands in
for two machines sharing a disk): the same numbers as the local backend, and a point whose process is killed
mid-training resumes from its checkpoint in the next run."""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from pathlib import Path

import pytest

ray = pytest.importorskip("ray", reason="Ray is an optional extra (pip install 'dlapps[ray]')")

from dlapps.sweep_config import SweepConfig
from dlapps.runner.runs import RunOptions
from dlapps.sweep import run_sweep  # noqa: E402

SPEC = ('command = "adapt dann"\nseeds = [0, 1]\nmetrics = ["target.class_acc"]\n[base]\ndata-source = "embedded"\n'
        'limit = 200\nepochs = {epochs}\ntsne-points = 0\nbatch-size = 64\n')


def without_timing(x):
    if isinstance(x, dict):
        return {k: without_timing(v) for k, v in x.items()
                if k not in ("timing", "timings") and not k.endswith(("_s", "per_step"))}
    if isinstance(x, list):
        return [without_timing(v) for v in x]
    return x


@pytest.fixture
def cluster():
    """A head node and a worker node, one CPU each (each point asks for one)."""
    from ray.cluster_utils import Cluster

    c = Cluster(initialize_head=True, head_node_args={"num_cpus": 1, "include_dashboard": False})
    c.add_node(num_cpus=1)
    c.wait_for_nodes()
    yield c
    ray.shutdown()
    c.shutdown()


def _metrics(d: Path) -> dict:
    return {p.name: without_timing(json.loads((p / "metrics.json").read_text()))
            for p in sorted(d.iterdir()) if (p / "report.md").exists()}


def _same_numbers_as_local(cluster, tmp_path):
    tmp_path.mkdir()
    f = tmp_path / "s.toml"
    f.write_text(SPEC.format(epochs=1))
    on_ray = run_sweep(SweepConfig(file=f, jobs=2, backend="ray", address=cluster.address),
                       RunOptions(out=str(tmp_path / "ray"), quiet=True)).run_dir
    assert len(ray.nodes()) == 2 and all(n["Alive"] for n in ray.nodes())
    local = run_sweep(SweepConfig(file=f, jobs=2), RunOptions(out=str(tmp_path / "local"), quiet=True)).run_dir
    assert _metrics(on_ray) == _metrics(local) and len(_metrics(on_ray)) == 2
    assert json.loads((on_ray / "metrics.json").read_text())["complete"]


def _pid_running(run_dir: Path) -> int | None:
    """The process training ``run_dir`` (Linux /proc)."""
    for p in Path("/proc").iterdir():
        if p.name.isdigit():
            try:
                cmd = (p / "cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            if b"dlapps" in cmd and str(run_dir).encode() in cmd:
                return int(p.name)
    return None


def _killed_point_resumes(cluster, tmp_path):
    import torch

    tmp_path.mkdir()
    f = tmp_path / "s.toml"
    f.write_text(SPEC.format(epochs=2))
    out = tmp_path / "sweep"
    victim = out / "base-s0"
    killed: list[int] = []

    def kill_after_first_epoch() -> None:
        t0 = time.monotonic()
        while time.monotonic() - t0 < 180:
            ck = victim / "checkpoints" / "last.pt"
            try:
                ready = ck.exists() and torch.load(ck, weights_only=True)["epoch"] >= 1
            except Exception:  # noqa: BLE001 - read while being replaced
                ready = False
            pid = _pid_running(victim) if ready else None
            if pid:
                os.kill(pid, signal.SIGKILL)
                killed.append(pid)
                return
            time.sleep(0.02)

    t = threading.Thread(target=kill_after_first_epoch)
    t.start()
    from dlapps import DlappsError

    with pytest.raises(DlappsError, match="1 point\\(s\\) failed \\(base-s0"):
        run_sweep(SweepConfig(file=f, jobs=2, backend="ray", address=cluster.address),
                  RunOptions(out=str(out), quiet=True))
    t.join()
    assert killed
    left = torch.load(victim / "checkpoints" / "last.pt", weights_only=True)["epoch"]
    assert left == 1 and not (victim / "report.md").exists()
    other = (out / "base-s1" / "metrics.json").stat().st_mtime_ns
    run_sweep(SweepConfig(file=f, jobs=2, backend="ray", address=cluster.address),
              RunOptions(out=str(out), quiet=True))  # resumes base-s0 only
    assert (out / "base-s1" / "metrics.json").stat().st_mtime_ns == other
    assert "resuming after epoch" in (out / "base-s0.log").read_text()
    reference = run_sweep(SweepConfig(file=f, jobs=2),
                          RunOptions(out=str(tmp_path / "uninterrupted"), quiet=True)).run_dir
    assert _metrics(out) == _metrics(reference)


@pytest.mark.skipif(not Path("/proc").is_dir(), reason="finds the point's process through /proc")
def test_ray_cluster_of_two_nodes(cluster, tmp_path):
    """One cluster for both checks (a cluster takes seconds to start): the local backend's numbers, then a point
    killed mid-training on a worker and resumed by the next run."""
    _same_numbers_as_local(cluster, tmp_path / "a")
    _killed_point_resumes(cluster, tmp_path / "b")
