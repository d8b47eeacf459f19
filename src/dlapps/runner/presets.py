"""Presets: named sets of option defaults (``--preset study|paper``), kept as data in presets.toml.

A preset fills the options a user did not give; explicit options win. The same table serves the CLI
(:func:`apply_to_click`) and the Python API (:func:`preset_config`), so both resolve a preset the same way.
"""

from __future__ import annotations

import dataclasses
import functools
from importlib import resources
from typing import Any, TypeVar

from dlapps import DlappsError, did_you_mean
from dlapps.runner.options import option_fields, to_config

try:  # Python >= 3.11
    import tomllib
except ModuleNotFoundError:  # pragma: no cover - Python 3.10
    import tomli as tomllib  # type: ignore[no-redef]

T = TypeVar("T")


@functools.lru_cache(maxsize=1)
def presets() -> dict[str, dict[str, dict[str, Any]]]:
    """{preset: {"app command": {option: value}}} from the packaged presets.toml."""
    return tomllib.loads(resources.files("dlapps").joinpath("presets.toml").read_text(encoding="utf-8"))


def preset_names() -> list[str]:
    return sorted(presets())


def preset_options(name: str, command: str) -> dict[str, Any]:
    """The options preset ``name`` sets for ``command`` ("adapt dann"); {} if it sets none there."""
    table = presets()
    if name not in table:
        hint = did_you_mean(name, table, n=2, quote=False)
        raise DlappsError(f"unknown preset {name!r}{hint}; presets: {', '.join(preset_names())}")
    return dict(table[name].get(command, {}))


def preset_config(cls: type[T], command: str, name: str, **overrides: Any) -> T:
    """A Config dataclass with preset ``name``'s defaults for ``command``; keyword overrides win.

    >>> preset_config(DannConfig, "adapt dann", "study", epochs=5)   # doctest: +SKIP
    """
    by_flag = option_fields(cls)  # a preset's keys are the command's option names: --model -> models
    values = {}
    for k, v in preset_options(name, command).items():
        f = by_flag.get(f"--{k}")
        if f is None:
            raise DlappsError(f"preset {name!r} sets --{k}, which {cls.__name__} does not have")
        values[f.name] = v
    return dataclasses.replace(to_config(cls, values), **overrides)


def apply_to_click(ctx: Any, name: str | None, kwargs: dict[str, Any]) -> dict[str, Any]:
    """Fill the options left at their defaults in ``kwargs`` from preset ``name`` for this command.

    Every key of the preset must be an option of the command (a typo in presets.toml fails loudly)."""
    if not name:
        return kwargs
    from click.core import ParameterSource

    command = " ".join(ctx.command_path.split()[1:])
    params = {p.name: p for p in ctx.command.params}
    out = dict(kwargs)
    for opt, value in preset_options(name, command).items():
        key = opt.replace("-", "_")
        p = params.get(key) or next((q for q in ctx.command.params if f"--{opt}" in getattr(q, "opts", [])), None)
        if p is None:
            raise DlappsError(f"preset {name!r} sets --{opt}, which `dlapps {command}` does not have")
        if ctx.get_parameter_source(p.name) in (ParameterSource.DEFAULT, None) and p.name in out:
            out[p.name] = p.type_cast_value(ctx, value)
    return out
