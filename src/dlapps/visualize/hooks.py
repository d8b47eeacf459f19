"""What the runner asks of visualize (registered in ``dlapps.visualize``'s ``__init__``)."""

from __future__ import annotations

from dlapps.runner.hooks import AppHooks
from dlapps.runner.tables import fmt

HOOKS = AppHooks(headlines={
    "fool": [("success rate", "success_rate", lambda m: "targeted, within the iteration budget"),
             ("median iterations", "iterations", lambda m: "over successful images"),
             ("median L2 (0-255)", "l2", lambda m: f"L∞ {fmt(m.get('linf'))}")],
    "classviz": [("lowest class probability", "target_prob", lambda m: "over the visualized classes")],
})
