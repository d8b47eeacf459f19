"""What the generic layers ask of an application, registered by the application itself.

The runner (reports), the sweep (aggregation) and the study (run states, run notes) never import an app: each
app calls :func:`register_app` in its package ``__init__`` (as timm's ``@register_model`` sits next to the model),
and the orchestration imports the apps it runs by name (``dlapps.apps``) before it asks. So adding an app touches
no generic module, and a test checks that none of them imports one.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable


# (label, dotted metrics key, the context line from the run's metrics): one headline number of a report's box
HeadlineSpec = tuple[str, str, Callable[[dict[str, Any]], str]]


@dataclass(frozen=True)
class AppHooks:
    """Each field is optional: an app that leaves one at its default gets the generic behaviour."""

    # command -> its headline numbers, for the "At a glance" box that opens every report
    headlines: dict[str, list[HeadlineSpec]] = field(default_factory=dict)
    # a finished run that trained to its end but failed (a collapsed classifier, a collapsed GAN): why, or None
    failure: Callable[[dict[str, Any]], str | None] = lambda m: None
    # what one run did (finished, NaN at step k, collapsed and recovered), read from its metrics (None: not run),
    # its log text and its options: an object with .text() (one line for a report's run notes) and .events
    note: Callable[..., Any] | None = None
    # sweeps: the canonical name of a --select-by validator (raises DlappsError for an unknown one)
    select_by: Callable[[str], str] | None = None
    # sweeps: extra tables and figures over the finished points (run dir, point -> metrics of finished seeds,
    # the --select-by validator) -> (summary lines, entries for the sweep's metrics.json, a deferred error or None)
    aggregate: Callable[[Any, dict[str, list[dict[str, Any]]], str | None], tuple[str, dict[str, Any], str | None]] \
        | None = None
    # sweeps: the per-epoch history key overlaid across points (figure "histories"), and its axis label
    history_curve: tuple[str, str] | None = None
    # a run's stored per-epoch rows (metrics.json "history") under today's names, whatever version wrote them
    history: Callable[[dict[str, Any]], list[dict[str, Any]]] = lambda m: [
        r for r in (m.get("history") or []) if isinstance(r, dict)]


_APPS: dict[str, AppHooks] = {}


def register_app(name: str, hooks: AppHooks) -> AppHooks:
    """Declare an app's hooks (once, in its package ``__init__``)."""
    if name in _APPS and _APPS[name] is not hooks:
        raise ValueError(f"app {name!r} is registered twice")
    _APPS[name] = hooks
    return hooks


def hooks_of(app: str | None) -> AppHooks:
    """An app's hooks; an app that registered none (a sweep dir, a study dir, an app not imported) gets the
    defaults, which add nothing."""
    return _APPS.get(app or "", DEFAULT)


def app_of(run_dir: Path) -> str | None:
    """The app named in a run dir's config.json (None when it cannot be read)."""
    try:
        cfg = json.loads((Path(run_dir) / "config.json").read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError):
        return None
    return cfg.get("app") if isinstance(cfg, dict) else None


DEFAULT = AppHooks()
