"""Choice lists declared once, as ``Literal`` types on the Config dataclasses: the command line reads its
``click.Choice`` lists from them and the Python API checks a Config against them, so a list of names never
exists twice."""

from __future__ import annotations

import dataclasses
import types
import typing
from typing import Any, Literal, get_args, get_origin

from dlapps import DlappsError

# where a sweep's points run: local processes, or a Ray cluster (the extra dlapps[ray]); shared by `sweep`
# and `study` (dlapps.runner.options.Parallel), and kept here so the top-level command line imports no torch
Backend = Literal["local", "ray"]


def literal_values(tp: Any) -> tuple[Any, ...]:
    """The values of a ``Literal[...]`` (or ``Literal[...] | None``) type; () for any other type."""
    if get_origin(tp) is Literal:
        return get_args(tp)
    if get_origin(tp) in (typing.Union, types.UnionType):
        return tuple(v for arg in get_args(tp) for v in literal_values(arg))
    return ()


def choices(cls: type, field: str) -> list[str]:
    """The allowed values of one Config field, for ``click.Choice``."""
    values = literal_values(typing.get_type_hints(cls)[field])
    if not values:
        raise TypeError(f"{cls.__name__}.{field} is not a Literal field")
    return [v for v in values if v is not None]


def check_choices(cfg: Any) -> None:
    """One clear error for the first Literal field of a Config whose value is not among its choices (the
    Python API has no click to check them)."""
    hints = typing.get_type_hints(type(cfg))
    for f in dataclasses.fields(cfg):
        allowed = literal_values(hints[f.name])
        value = getattr(cfg, f.name)
        if allowed and value not in allowed:
            names = ", ".join(str(v) for v in allowed if v is not None)
            raise DlappsError(f"--{f.name.replace('_', '-')} must be one of {names} (got {value!r})")
