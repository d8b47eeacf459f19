"""What happened to one DANN run, read from its own files: finished, NaN at epoch k, collapsed at epoch k (with
the reversed gradient's step λ·μ then), recovered at epoch j, its best and last target accuracy. The study report
prints this under each point instead of notes typed by hand, so a note can never disagree with the run."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from dlapps.adapt.dann import COLLAPSED_SOURCE_ACC, collapse, collapse_events
from dlapps.adapt.history import rows_of

# the line dann.py prints when a loss becomes NaN (runs older than metrics.json's "diverged_at" say it only there)
NAN_LINE = re.compile(r"loss became (?:nan|inf|-inf) at epoch (\d+), step (\d+) \(λ=([-+.\deE]+), lr=([-+.\deE]+)\)")


@dataclass
class Diagnosis:
    """One run's course. ``state``: finished | nan (its loss became NaN: nothing left to train) | stopped (older
    code stopped it after a collapsed epoch) | missing."""

    state: str
    epochs: int = 0
    nan: dict[str, float] = field(default_factory=dict)        # epoch, step, lambda, lr
    events: list[dict[str, Any]] = field(default_factory=list)  # collapsed / recovered, epoch, lambda, lr
    best: tuple[int, float] | None = None                       # (epoch, target accuracy)
    last: float | None = None                                   # target accuracy in its last epoch
    never_learned: bool = False                                 # at chance on its own labelled domain throughout
    scale: float = 1.0                                          # a multiplier on the domain loss (its reversed step)

    @property
    def collapsed_at_end(self) -> bool:
        return bool(self.events) and self.events[-1]["event"] == "collapsed"

    def text(self) -> str:
        """One sentence, e.g. 'collapsed in epoch 11 (λ 0.50, μ 0.0026, λ·μ 0.0013; source 0.11), stopped there;
        best target 0.704 (epoch 10)'."""
        if self.state == "missing":
            return "not run yet"
        parts = []
        times = f"{self.scale:g}·" if self.scale != 1 else ""
        for e in self.events:
            step = f"λ {e['lambda']:.2f}, μ {e['lr']:.2g}, {times}λ·μ {self.scale * e['lambda'] * e['lr']:.2g}"
            parts.append(f"{e['event']} in epoch {e['epoch']} ({step}; source {e['source.class_acc']:.2f})")
        if self.state == "nan":
            n = self.nan
            where = f"epoch {int(n['epoch'])}, step {int(n['step'])}" if n else f"epoch {self.epochs + 1}"
            step = (f" (λ {n['lambda']:.2f}, μ {n['lr']:.2g}, {times}λ·μ {self.scale * n['lambda'] * n['lr']:.2g})"
                    if n else "")
            parts.append(f"loss NaN in {where}{step}")
        elif self.state == "stopped":
            parts.append("stopped there")
        else:
            parts.append(f"trained all {self.epochs} epochs" + (
                ", at chance on the source throughout" if self.never_learned else
                ", at chance at the end" if self.collapsed_at_end else ""))
        if self.best is not None:
            best = f"best target {self.best[1]:.3f} (epoch {self.best[0]})"
            if self.state == "finished" and self.last is not None and self.best[0] != self.epochs:
                best += f", last {self.last:.3f}"
            parts.append(best)
        return "; ".join(parts)


def diagnose(metrics: dict[str, Any] | None, log_text: str = "", options: dict[str, Any] | None = None) -> Diagnosis:
    """The course of a run from its metrics.json (and its log, for a NaN that older code recorded only there);
    ``options`` (its config.json's) say whether a multiplier scales the domain loss, and so the reversed step."""
    if not metrics:
        return Diagnosis("missing")
    o = options or {}
    scale = float(o.get("lambda_multiplier", 1.0)) if o.get("multiplier_on") == "domain-loss" else 1.0
    h = rows_of(metrics)  # runs of every dlapps version, in today's names
    need = ("epoch", "source.class_acc", "target.class_acc", "lambda", "lr")
    if not all(isinstance(r, dict) and all(k in r for k in need) for r in h):
        h = []  # a history without the per-epoch numbers (a hand-made or foreign file): its state only
    # runs from before the per-epoch 'collapsed' flag: the same rule, applied epoch by epoch
    h = [r if "collapsed" in r else {**r, "collapsed": float(bool(collapse(h[:k])))} for k, r in enumerate(h, 1)]
    events = collapse_events(h)
    tg = [(int(r["epoch"]), float(r["target.class_acc"])) for r in h if not r["collapsed"]]
    best = max(tg, key=lambda t: t[1]) if tg else None
    last = float(h[-1]["target.class_acc"]) if h else None
    never = bool(h) and max(float(r["source.class_acc"]) for r in h) < COLLAPSED_SOURCE_ACC
    n = len(h) or int(metrics.get("epochs_done", 0) or 0)
    if not metrics.get("diverged"):
        return Diagnosis("finished", n, {}, events, best, last, never, scale)
    nan = dict(metrics.get("diverged_at") or {})
    if not nan and (m := NAN_LINE.search(log_text)):
        nan = {"epoch": int(m[1]), "step": int(m[2]), "lambda": float(m[3]), "lr": float(m[4])}
    if nan or not (events and events[-1]["event"] == "collapsed" and events[-1]["epoch"] == len(h)):
        return Diagnosis("nan", n, nan, events, best, last, never, scale)
    return Diagnosis("stopped", n, {}, events, best, last, never, scale)
