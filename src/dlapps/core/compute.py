"""Devices, threads and seeds: the deliberate choices every run makes once."""

from __future__ import annotations

import os
import random
from contextlib import contextmanager
from typing import Iterator

import numpy as np
import torch

from dlapps import DlappsError


def available_cores() -> int:
    """CPU cores this process may use (respects affinity/cgroups where the OS exposes it)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # macOS / Windows
        return max(1, os.cpu_count() or 1)


def set_threads(threads: int | None) -> int:
    """Set torch's intra-op threads; ``None``/0 means one per available core.

    Why deliberate: on a 2-core machine a training loop that shares the CPU with other work ran
    ~4x slower with 2 OpenMP threads than with 1, so sweeps split the cores between jobs.
    """
    n = threads if threads and threads > 0 else available_cores()
    torch.set_num_threads(n)
    return n


@contextmanager
def one_thread() -> Iterator[None]:
    """torch on one intra-op thread inside the block, the caller's setting after it. For what is built once and
    cached for every later process (a judge, the demo's CNN): a reduction split over more threads rounds
    differently, so without it the cached weights, and every number read through them, would depend on the
    thread count of whichever process happened to build them first."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def resolve_device(name: str = "auto") -> torch.device:
    """Map ``auto|cpu|cuda|mps`` to a torch device, with a clear error if it is not present."""
    name = (name or "auto").lower()
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise DlappsError("--device cuda asked for, but no CUDA GPU is available here (try --device cpu)")
    if name == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
        raise DlappsError("--device mps asked for, but MPS is not available here (try --device cpu)")
    if name not in ("cpu", "mps") and not name.startswith("cuda"):
        raise DlappsError(f"unknown device {name!r}: use auto, cpu, cuda or mps")
    return torch.device(name)


def seed_everything(seed: int) -> torch.Generator:
    """Seed Python, NumPy and torch so the same seed gives the same numbers on CPU."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    return torch.Generator().manual_seed(seed)


def check_finite(value: float, what: str) -> None:
    """Stop a run whose loss became NaN/inf, with a message that says what diverged."""
    if not np.isfinite(value):
        raise DivergenceError(f"{what} became {value} (diverged); checkpoints and metrics so far are kept")


class DivergenceError(DlappsError):
    """Training diverged (NaN/inf loss or a collapsed model). ``at``: where, for the run's metrics.json (epoch,
    step and what the step sizes were then), so a report can say it without reading the log."""

    def __init__(self, message: str, at: dict[str, float] | None = None) -> None:
        super().__init__(message)
        self.at = at or {}
