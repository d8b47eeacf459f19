"""What the runner and the study ask of generate (registered in ``dlapps.generate``'s ``__init__``)."""

from __future__ import annotations

from typing import Any

from dlapps.runner.hooks import AppHooks
from dlapps.runner.tables import fmt


def _fid_floor(m: dict[str, Any]) -> str:
    return f"floor {fmt(m.get('classifier_fid_floor'))} ({m.get('classifier_fid_floor_from', 'real vs real')})"


def _speck_real(m: dict[str, Any]) -> str:
    # single-channel data only; the real images' own rate is the reference (broken strokes count too)
    return f"samples with a stray dot of ink; real test images {fmt(m.get('speck_rate_real'))}"


def failure(m: dict[str, Any]) -> str | None:
    """A GAN whose own metrics record a mode or discriminator collapse: its first such failure's name."""
    said = [f for f in m.get("failures", []) if isinstance(f, str) and "collapse" in f]
    return said[0].split(":")[0] if said else None


HOOKS = AppHooks(
    headlines={
        "dcgan": [("classifier-FID", "classifier_fid", _fid_floor),
                  ("class coverage", "class_coverage", lambda m: "classes with ≥ 2 % of samples"),
                  ("speck rate", "speck_rate", _speck_real)],
        "cgan": [("conditional accuracy", "conditional_accuracy",
                  lambda m: "a judge classifier agrees with the requested class"),
                 ("classifier-FID", "classifier_fid", _fid_floor),
                 ("speck rate", "speck_rate", _speck_real)],
    },
    failure=failure,
)
