"""The dataset registry: a name (and its aliases) -> the loader that resolves it. A loader registers itself
where it is defined, with :func:`register_dataset`, as timm's models do with ``@register_model``::

    @register_dataset("mnistm", "mnist-m", "mnist_m")
    def resolve_mnistm(path: Path | None, source: str) -> DataBundle: ...

A loader takes an explicit path (or None) and a source (auto | local | download | embedded) and returns a
:class:`~dlapps.core.data.containers.DataBundle` naming the source it used."""

from __future__ import annotations

from pathlib import Path
from typing import Callable

from dlapps.core.data.containers import DataBundle

Loader = Callable[[Path | None, str], DataBundle]
REGISTRY: dict[str, Loader] = {}
ALIASES: dict[str, str] = {}


def register_dataset(name: str, *aliases: str) -> Callable[[Loader], Loader]:
    """Register ``loader`` under ``name`` (lower case) and its ``aliases``; returns it unchanged."""
    def deco(loader: Loader) -> Loader:
        if name in REGISTRY and REGISTRY[name] is not loader:
            raise ValueError(f"dataset {name!r} is registered twice")
        REGISTRY[name] = loader
        for a in aliases:
            ALIASES[a] = name
        return loader

    return deco


def canonical(name: str) -> str:
    """The registered name for ``name`` or one of its aliases (case-insensitive)."""
    key = name.lower()
    return ALIASES.get(key, key)
