"""The applications by name: the one list the orchestration (sweep, study, demo, the command line) runs them from.

Each app's click group is named as "module:attribute" and imported when first used, so ``dlapps adapt dann``
does not pay for the other apps' imports (torchvision, matplotlib: about 3 s on a 2-core machine). The
structure check (``dlapps.tools.check_structure``) reads every ``*_COMMANDS`` table as imports, so this lazy
list hides no dependency from it.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from dlapps.runner.hooks import AppHooks, hooks_of

if TYPE_CHECKING:
    import click

# app -> "module:attribute" of its click group; importing the module's package registers the app's hooks
APP_COMMANDS: dict[str, str] = {
    "transfer": "dlapps.transfer.cli:transfer",
    "visualize": "dlapps.visualize.cli:visualize",
    "adapt": "dlapps.adapt.cli:adapt",
    "generate": "dlapps.generate.cli:generate",
}


def app_command(name: str) -> "click.Command":
    """The click group of one application, by its name."""
    module, _, attr = APP_COMMANDS[name].partition(":")
    return getattr(importlib.import_module(module), attr)


def load_app(name: str) -> AppHooks:
    """Import one app (which registers its hooks) and return its hooks; an unknown name gets the defaults."""
    if name in APP_COMMANDS:
        importlib.import_module(APP_COMMANDS[name].partition(":")[0])
    return hooks_of(name)


def load_apps() -> None:
    """Import every app, for code that reads runs of any of them (``dlapps report``, the study's report)."""
    for name in APP_COMMANDS:
        load_app(name)
