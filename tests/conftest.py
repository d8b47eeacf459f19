"""Test settings: no downloads, a private cache per session, the shared data only where it exists."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

SHARED = Path(__file__).resolve().parents[1].parent / "shared"
HAS_SHARED = (SHARED / "data" / "mnist.npz").exists()


@pytest.hookimpl(optionalhook=True)  # a hook of pytest-xdist: absent (e.g. -p no:xdist), it is not called
def pytest_xdist_auto_num_workers(config: pytest.Config) -> int:
    """``-n auto``: one worker per available core, at most 4 (each holds ~1.5 GB and its own models)."""
    return max(1, min(4, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1))


def pytest_configure(config: pytest.Config) -> None:
    """Under pytest-xdist, pin each worker (and every process it starts) to its own share of the cores.

    Tests run training loops and start subprocesses; unpinned, two workers' OpenMP threads share the
    cores and each loop runs several times slower (oversubscription). Pinned, a worker's children see
    only its cores (``available_cores`` reads the affinity), so nothing oversubscribes."""
    worker, count = os.environ.get("PYTEST_XDIST_WORKER"), int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
    if worker and hasattr(os, "sched_setaffinity"):
        cores = sorted(os.sched_getaffinity(0))
        if count <= len(cores):
            os.sched_setaffinity(0, set(cores[int(worker.removeprefix("gw")) % count::count]))


@pytest.fixture(autouse=True, scope="session")
def _environment(tmp_path_factory: pytest.TempPathFactory):
    os.environ["DLAPPS_OFFLINE"] = "1"  # never hit the network from a test
    # a private cache per session, shared by its xdist workers (each cached model is then trained once:
    # the first worker to need it builds it, another waits on its lock and loads it)
    base = tmp_path_factory.getbasetemp()
    os.environ["DLAPPS_CACHE"] = str((base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base) / "cache")
    os.environ.pop("DLAPPS_DATA", None)
    os.environ.pop("DLAPPS_WEIGHTS", None)
    torch.set_num_threads(1)  # tests run beside other work: one thread avoids oversubscription
    yield


@pytest.fixture
def shared_env(monkeypatch: pytest.MonkeyPatch) -> Path:
    """DLAPPS_DATA/DLAPPS_WEIGHTS pointing at ../shared; skips where it is absent."""
    if not HAS_SHARED:
        pytest.skip("../shared/data is not present (real-data checks run only where it is)")
    monkeypatch.setenv("DLAPPS_DATA", str(SHARED / "data"))
    monkeypatch.setenv("DLAPPS_WEIGHTS", str(SHARED / "weights"))
    return SHARED


@pytest.fixture(scope="session")
def mnist_cnn():
    """dlapps' MNIST CNN trained on the embedded digits (cached for the session)."""
    from dlapps.core.models import build_model

    return build_model("mnist_cnn", "dlapps", verbose=False)
