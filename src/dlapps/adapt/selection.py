"""Model selection over a sweep by validators: which point each validator picks, the target test accuracy
of its pick against the oracle's (the point with the best target *test* accuracy, a diagnostic a real
user cannot compute), the gap, and each validator's rank correlation with target accuracy.

A point's score is the mean over its seeds of the validator in its metrics.json (``validators.<name>``,
the reported epoch or round); its accuracy the mean of ``target.class_acc``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from dlapps import DlappsError
from dlapps.adapt.validators import HIGHER_IS_BETTER, LABEL_FREE, select_by, spearman

ACC_KEY = "target.class_acc"


@dataclass
class Pick:
    validator: str      # e.g. "snd", or "oracle"
    point: str          # the point it picks
    target_acc: float   # that point's mean target test accuracy
    gap: float          # oracle accuracy - target_acc (>= 0)
    rho: float          # Spearman correlation with target accuracy over the points, signed so that + = agrees


def point_scores(per_point: dict[str, list[dict[str, Any]]]) -> tuple[dict[str, float], dict[str, dict[str, float]]]:
    """From each point's list of finished metrics.json (one per seed): mean target accuracy per point, and
    per validator the mean score per point (only points where every seed recorded it)."""
    acc: dict[str, float] = {}
    scores: dict[str, dict[str, float]] = {}
    for name, runs in per_point.items():
        runs = [m for m in runs if isinstance(m.get("target"), dict) and "class_acc" in m["target"]]
        if not runs:
            continue
        acc[name] = float(np.mean([m["target"]["class_acc"] for m in runs]))
        for v in HIGHER_IS_BETTER:
            vals = [m.get("validators", {}).get(v) for m in runs]
            if all(isinstance(x, (int, float)) for x in vals):
                scores.setdefault(v, {})[name] = float(np.mean(vals))
    return acc, scores


def selection(per_point: dict[str, list[dict[str, Any]]]) -> list[Pick]:
    """The oracle first, then one Pick per validator recorded by every point (label-free ones, then
    target_val)."""
    acc, scores = point_scores(per_point)
    if len(acc) < 2:
        return []
    oracle = max(acc, key=lambda k: acc[k])
    names = list(acc)
    picks = [Pick("oracle", oracle, acc[oracle], 0.0, 1.0)]
    for v in [*LABEL_FREE, "target_val"]:
        s = scores.get(v, {})
        if set(s) != set(acc):
            continue
        chosen = select_by(s, v)
        sign = 1 if HIGHER_IS_BETTER[v] else -1
        rho = spearman([sign * s[n] for n in names], [acc[n] for n in names])
        picks.append(Pick(v, chosen, acc[chosen], acc[oracle] - acc[chosen], rho))
    return picks


def selection_rows(picks: list[Pick], selected: str | None) -> list[list[Any]]:
    """Table rows: validator, picked point, its target acc, gap to the oracle, Spearman ρ; the --select-by
    validator marked."""
    rows = []
    for p in picks:
        label = "oracle (reads the target test labels: a diagnostic)" if p.validator == "oracle" else p.validator
        if p.validator == "target_val":
            label += " (uses --target-val labels)"
        if selected and p.validator == selected:
            label = f"**{label}** ← --select-by"
        rows.append([label, p.point, p.target_acc, p.gap, "—" if p.validator == "oracle" else p.rho])
    return rows


def require_validator(picks: list[Pick], selected: str) -> Pick:
    """The pick of the --select-by validator, or one clear error when the sweep's runs did not record it."""
    for p in picks:
        if p.validator == selected:
            return p
    recorded = ", ".join(p.validator for p in picks if p.validator != "oracle") or "none"
    raise DlappsError(f"--select-by {selected}: not recorded by every point of this sweep (recorded: {recorded}); "
                      "source_acc/dev need --source-val, target_val needs --target-val")
