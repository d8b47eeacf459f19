"""Model selection over a sweep by validators: which point each validator picks, the target test accuracy
of its pick against the oracle's (the point with the best target *test* accuracy, a diagnostic a real
user cannot compute), the gap, and each validator's rank correlation with target accuracy.

A point's score is the mean over its seeds of the validator in its metrics.json (``validators.<name>``,
the reported epoch or round); its accuracy the mean of ``target.class_acc``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from dlapps import DlappsError
from dlapps.runner.runs import RunDir
from dlapps.adapt.validators import HIGHER_IS_BETTER, LABEL_FREE, select_by, spearman

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


def sweep_selection(run: RunDir, finished: dict[str, list[dict[str, Any]]],
                    select_by: str | None) -> tuple[str, dict[str, Any], str | None]:
    """A sweep of adapt runs: the validators' picks (table ``selection``, figure ``selection``); the summary lines,
    the metrics.json entries, and the error of a --select-by validator the runs did not record. Nothing for
    sweeps whose runs record no validators."""
    if not any(m.get("validators") for ms in finished.values() for m in ms):
        if select_by:
            raise DlappsError(f"--select-by {select_by}: this sweep's runs record no validators (adapt dann, "
                              "source-only and pseudo-label runs do)")
        return "", {}, None
    picks = selection(finished)
    if not picks:
        return "", {}, None
    run.write_table("selection", ["validator", "picks", "target test acc", "gap to oracle", "Spearman ρ"],
                    selection_rows(picks, select_by),
                    caption="Model selection: the point each validator picks (mean over seeds), its target test "
                            "accuracy, the gap to the oracle (the best point by target test accuracy, which reads "
                            "the test labels) and the rank correlation of the validator with target accuracy over "
                            "the points (+1: ranks them exactly as accuracy does)")
    selection_figure(run, finished, picks)
    best = max((p for p in picks if p.validator not in ("oracle", "target_val")), key=lambda p: -p.gap, default=None)
    text = (f"\nOracle (best target test accuracy, reads test labels): `{picks[0].point}` at {picks[0].target_acc:.4f}. "
            + (f"Best label-free validator: **{best.validator}** picks `{best.point}` at {best.target_acc:.4f} "
               f"(gap {best.gap:.4f}, ρ {best.rho:+.2f}).\n" if best else "\n"))
    out: dict[str, Any] = {"selection": [asdict(p) for p in picks]}
    if select_by:
        try:
            pick = require_validator(picks, select_by)
        except DlappsError as e:
            return text, out, str(e)
        text += (f"\nSelected by **{select_by}**: `{pick.point}`, target test accuracy {pick.target_acc:.4f} "
                 f"({pick.gap:.4f} below the oracle's pick).\n")
        out.update({"selected_by": select_by, "selected_point": pick.point, "selected_target_acc": pick.target_acc})
    return text, out, None


def selection_figure(run: RunDir, finished: dict[str, list[dict[str, Any]]], picks: list[Any]) -> None:
    """One panel per validator that picked: its mean score against mean target accuracy, one dot per point,
    titled with the pick's rank correlation."""
    from dlapps.runner.figures import plt  # matplotlib: only when a sweep draws

    acc, scores = point_scores(finished)
    ranked = [p for p in picks if p.validator != "oracle"]
    if not ranked:
        return
    fig, axes = plt.subplots(1, len(ranked), figsize=(2.6 * len(ranked), 2.8), squeeze=False)
    for ax, p in zip(axes[0], ranked):
        v = p.validator
        ax.scatter([scores[v][n] for n in acc], list(acc.values()), s=12)
        ax.set_title(f"ρ = {p.rho:+.2f}", fontsize=9)
        ax.set_xlabel(f"{v} ({'higher' if HIGHER_IS_BETTER[v] else 'lower'} is better)", fontsize=8)
        ax.tick_params(labelsize=7)
    axes[0][0].set_ylabel("target test accuracy", fontsize=8)
    fig.suptitle("Validators against target accuracy, one dot per sweep point (mean over seeds); ρ: rank "
                 "correlation, signed so that + means the validator ranks like accuracy", fontsize=9)
    fig.tight_layout()
    run.save_figure(fig, "selection")
