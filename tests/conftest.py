"""Test settings: no downloads, a private cache per session, the shared data only where it exists."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

SHARED = Path(__file__).resolve().parents[1].parent / "shared"
HAS_SHARED = (SHARED / "data" / "mnist.npz").exists()


@pytest.fixture(autouse=True, scope="session")
def _environment(tmp_path_factory: pytest.TempPathFactory):
    os.environ["DLAPPS_OFFLINE"] = "1"  # never hit the network from a test
    os.environ["DLAPPS_CACHE"] = str(tmp_path_factory.mktemp("cache"))
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
    from dlapps.models import build_model

    return build_model("mnist_cnn", "dlapps", verbose=False)
