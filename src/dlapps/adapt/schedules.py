"""λ (gradient-reversal weight) and learning-rate schedules as functions of training progress p in [0, 1]."""

from __future__ import annotations

import math
from typing import Literal, get_args

LambdaSchedule = Literal["exp", "linear", "cosine", "constant"]
LAMBDA_SCHEDULES: tuple[str, ...] = get_args(LambdaSchedule)


def lambda_at(p: float, schedule: str = "exp", start: float = 0.0, end: float = 1.0, gamma: float = 10.0,
              multiplier: float = 1.0) -> float:
    """λ at progress p. ``exp`` is DANN's 2/(1+e^(-γp))-1 rescaled to go from ``start`` to ``end``;
    ``linear`` and ``cosine`` interpolate (start > end gives the study's decaying forms);
    ``constant`` is ``start``. The result is multiplied by ``multiplier``."""
    p = min(max(p, 0.0), 1.0)
    if schedule == "exp":
        s = 2.0 / (1.0 + math.exp(-gamma * p)) - 1.0
    elif schedule == "linear":
        s = p
    elif schedule == "cosine":
        s = (1.0 - math.cos(math.pi * p)) / 2.0
    elif schedule == "constant":
        s = 0.0
    else:
        raise ValueError(f"unknown λ schedule {schedule!r}; use one of {', '.join(LAMBDA_SCHEDULES)}")
    return multiplier * (start + (end - start) * s)


def lr_at(p: float, lr0: float, alpha: float = 10.0, beta: float = 0.75) -> float:
    """DANN's annealing μ_p = μ0 / (1 + α p)^β."""
    return lr0 / (1.0 + alpha * p) ** beta
