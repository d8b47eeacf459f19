"""What the runner, the sweep and the study ask of adapt (registered in ``dlapps.adapt``'s ``__init__``)."""

from __future__ import annotations

from typing import Any

from dlapps.adapt.dann import COLLAPSED_SOURCE_ACC
from dlapps.adapt.diagnose import diagnose
from dlapps.adapt.history import rows_of
from dlapps.adapt.selection import sweep_selection
from dlapps.adapt.validators import validator_name
from dlapps.runner.hooks import AppHooks
from dlapps.runner.runs import metric
from dlapps.runner.tables import pct


def _source(m: dict[str, Any]) -> str:
    return f"source {pct(metric(m, 'source.class_acc'))}"


def failure(m: dict[str, Any]) -> str | None:
    """A run that trained to its end with its label classifier at chance on its own labelled domain."""
    src = metric(m, "source.class_acc")
    return f"source accuracy {src:.4f}: chance" if isinstance(src, (int, float)) and src < COLLAPSED_SOURCE_ACC else None


HOOKS = AppHooks(
    headlines={
        "dann": [("target accuracy", "target.class_acc", _source),
                 ("domain accuracy", "target.domain_acc", lambda m: "0.5 = the features hide the domain")],
        "source-only": [("target accuracy", "target.class_acc", lambda m: f"{_source(m)}; no adaptation")],
        "pseudo-label": [("target accuracy", "target.class_acc", _source)],
    },
    failure=failure,
    note=diagnose,
    select_by=validator_name,
    aggregate=sweep_selection,
    history_curve=("target.class_acc", "target test accuracy"),
    history=rows_of,
)
