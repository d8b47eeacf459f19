"""What the runner asks of transfer (registered in ``dlapps.transfer``'s ``__init__``)."""

from __future__ import annotations

from dlapps.runner.hooks import AppHooks

HOOKS = AppHooks(headlines={
    "probe": [("test accuracy", "test_acc", lambda m: f"{m.get('model')} {m.get('layer')}, best by CV"),
              ("best C", "best_C", lambda m: "chosen by cross-validation on the training split")],
    "inspect": [("parameters", "total_params", lambda m: f"{m.get('layers')} layers"),
                ("FLOPs per image", "flops", lambda m: f"{m.get('input_size')} px input")],
})
