"""One name per number: a history row (an epoch of DANN, a round of pseudo-labelling) names each number as
metrics.json does, ``target.class_acc`` in both, ``validators.im`` in both. Runs written before that named them
``target_class_acc`` / ``val_im`` (and a round's ``target_acc``); every reader of a stored history goes through
:func:`rows_of`, so published runs and new ones read alike."""

from __future__ import annotations

from typing import Any

# the old flat prefixes and the metrics.json sections they stand for; "train_s" and "val_s" are seconds and kept
OLD_PREFIXES = {"source_": "source.", "target_": "target.", "train_": "train.", "val_": "validators."}
OLD_NAMES = {"target_acc": "target.class_acc", "source_acc": "source.class_acc"}  # a pseudo-labelling round's
SECONDS = {"train_s", "val_s"}


def current(row: dict[str, Any]) -> dict[str, Any]:
    """A history row with today's names (a row that has them is returned as it is)."""
    out = {}
    for k, v in row.items():
        if k in OLD_NAMES:
            k = OLD_NAMES[k]
        elif k not in SECONDS:
            k = next((new + k[len(old):] for old, new in OLD_PREFIXES.items() if k.startswith(old)), k)
        out[k] = v
    return out


def rows_of(metrics: dict[str, Any] | None, key: str = "history") -> list[dict[str, Any]]:
    """The stored rows of a run's metrics (``history``, or ``rounds``) with today's names; [] for none."""
    rows = (metrics or {}).get(key)
    return [current(r) for r in rows if isinstance(r, dict)] if isinstance(rows, list) else []
