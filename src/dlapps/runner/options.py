"""Each option declared once, as a field of a Config dataclass: its type, default, one-line help and allowed
range live in the field (:func:`opt`), and everything else is derived from it — the ``click`` options of the
command line (:func:`cli_options`), their ``--help`` text and defaults, the preset and sweep keys (the option
names), and the checks the Python API applies before a run dir exists (:func:`check_config`), as nanoGPT's
configurator derives its overrides from the config's own keys and types.

    @dataclass
    class GanConfig:
        nz: int = opt(100, "Latent size.", low=1)
        lr: float = opt(2e-4, "Adam learning rate.", low=0, low_open=True)

    @generate.command()
    @cli_options(GanConfig)
    def dcgan(**kw): run_gan(GanConfig(**kw))
"""

from __future__ import annotations

import dataclasses
import functools
import math
import types
import typing
from typing import Any, Callable

import click

from dlapps import DlappsError
from dlapps.core.choices import Backend, check_choices, literal_values


DATA_SOURCE_HELP = ("Where datasets come from: auto tries a path, $DLAPPS_DATA, the cache, a download, then the "
                    "embedded fallback; local never downloads; embedded forces the fallback.")


WEIGHTS_HELP = "imagenet (torchvision / $DLAPPS_WEIGHTS), random, dlapps (mnist_cnn's own), or a state_dict path."


def opt(default: Any = dataclasses.MISSING, help: str = "", *, low: float | None = None,
        high: float | None = None, low_open: bool = False, high_open: bool = False, cli: bool | str = True,
        default_factory: Any = dataclasses.MISSING, metavar: str | None = None,
        choices: tuple[str, ...] | None = None, required: bool = False, csv: bool = False,
        on_resume: bool = False) -> Any:
    """A Config field with its command-line facts. ``low``/``high``: the allowed range (``low_open``: strictly
    above ``low``, e.g. a learning rate); ``cli``: False keeps it off the command line (set by the command
    itself), a string names its flag (``"--from"``); ``choices``: the allowed names of a str or list field whose
    names come from a registry (a ``Literal`` type says it for the others); ``required``: the command line
    insists on it; ``csv``: a list field written as one comma-separated value (``--c-grid 0.1,1,10``);
    ``on_resume``: it may change when a run resumes (how far to train, not what is trained)."""
    meta = {"help": help, "low": low, "high": high, "low_open": low_open, "high_open": high_open, "cli": cli,
            "metavar": metavar, "choices": choices, "required": required, "csv": csv, "on_resume": on_resume}
    if default_factory is not dataclasses.MISSING:
        return dataclasses.field(default_factory=default_factory, metadata=meta)
    return dataclasses.field(default=default, metadata=meta)


def flag_name(f: dataclasses.Field) -> str:
    """The command-line name of a field: ``--batch-size`` for ``batch_size`` (or its own ``cli`` string)."""
    cli = f.metadata.get("cli", True)
    return cli if isinstance(cli, str) else "--" + f.name.replace("_", "-")


def range_text(f: dataclasses.Field) -> str:
    """The allowed range of a field as a reader writes it: 'x > 0', '0 ≤ x ≤ 1'; '' when unbounded."""
    low, high = f.metadata.get("low"), f.metadata.get("high")
    if low is None and high is None:
        return ""
    lo = "" if low is None else f"{low:g} {'<' if f.metadata.get('low_open') else '≤'} "
    hi = "" if high is None else f" {'<' if f.metadata.get('high_open') else '≤'} {high:g}"
    return f"{lo}x{hi}"


def in_range(f: dataclasses.Field, value: Any) -> bool:
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        return True
    if isinstance(value, float) and math.isnan(value):
        return False
    m = f.metadata
    if m.get("low") is not None and (value <= m["low"] if m.get("low_open") else value < m["low"]):
        return False
    if m.get("high") is not None and (value >= m["high"] if m.get("high_open") else value > m["high"]):
        return False
    return True


def check_config(cfg: Any) -> None:
    """The checks click gives the command line, for a Config built in Python: every Literal field among its
    choices, every bounded number in its range; one clear error naming the option, before anything is made."""
    check_choices(cfg)
    for f in dataclasses.fields(cfg):
        value = getattr(cfg, f.name)
        names = f.metadata.get("choices")
        if names and any(v not in names for v in (value if isinstance(value, (list, tuple)) else [value])):
            raise DlappsError(f"{flag_name(f)} must be one of {', '.join(names)} (got {value!r})")
        if not in_range(f, value):
            raise DlappsError(f"{flag_name(f)} must be {range_text(f).replace('x', flag_name(f), 1)} (got {value!r})")
    if callable(getattr(cfg, "check", None)):  # what the ranges cannot say (one field against another), declared
        cfg.check()                            # on the Config itself, so Python and the command line share it


def _unwrap_optional(tp: Any) -> Any:
    """``X | None`` -> X (an option whose default is 'not given')."""
    args = [a for a in typing.get_args(tp) if a is not type(None)]
    if typing.get_origin(tp) in (typing.Union, types.UnionType) and len(args) == 1:
        return args[0]
    return tp


def click_option(f: dataclasses.Field, hint: Any) -> Callable:
    """The ``click.option`` of one field."""
    name = flag_name(f)
    m = f.metadata
    default = f.default if f.default is not dataclasses.MISSING else (
        f.default_factory() if f.default_factory is not dataclasses.MISSING else None)  # type: ignore[misc]
    kw: dict[str, Any] = {"help": m.get("help") or None, "show_default": True, "default": default}
    if m.get("metavar"):
        kw["metavar"] = m["metavar"]
    if m.get("required"):
        kw.update(required=True, default=None, show_default=False)
    base = _unwrap_optional(hint)
    choices = [v for v in literal_values(hint) if v is not None] or list(m.get("choices") or ())
    if choices:
        kw["type"] = click.Choice([str(c) for c in choices])
    if base is bool:  # a pair, so a sweep or preset can say either (--label-in-d / --no-label-in-d)
        kw["show_default"] = False
        return click.option(f"{name}/--no-{name[2:]}", f.name, **kw)
    if m.get("csv"):  # one comma-separated value, parsed by to_config
        kw.update(type=str, default=",".join(map(str, default or ())))
    elif typing.get_origin(base) in (list, tuple):  # repeatable: --layer relu7 --layer relu6
        item = typing.get_args(base)[0] if typing.get_args(base) else str
        kw.update(multiple=True, type=kw.get("type", item), default=None if m.get("required") else tuple(default or ()))
        kw["show_default"] = bool(default) and not m.get("required")
    elif not choices and base in (int, float):
        low, high = m.get("low"), m.get("high")
        if low is not None or high is not None:
            rng = click.IntRange if base is int else click.FloatRange
            kw["type"] = rng(low, high, min_open=m.get("low_open", False), max_open=m.get("high_open", False))
        else:
            kw["type"] = base
    return click.option(name, f.name, **kw)


def cli_options(cls: type, *, exclude: tuple[str, ...] = (), only: tuple[str, ...] = ()) -> Callable:
    """Decorator: one ``click.option`` per field of ``cls`` (in field order), less those with ``cli=False``,
    ``exclude``, or outside ``only``."""
    hints = typing.get_type_hints(cls)
    fields = [f for f in dataclasses.fields(cls) if f.metadata.get("cli", True) is not False
              and f.name not in exclude and (not only or f.name in only)]
    if only:
        fields.sort(key=lambda f: only.index(f.name))

    def decorate(fn: Callable) -> Callable:
        for f in reversed(fields):
            fn = click_option(f, hints[f.name])(fn)
        return fn

    return decorate


def to_config(cls: type, kwargs: dict[str, Any], **fixed: Any) -> Any:
    """A Config from parsed options: click's tuples for list fields become lists, comma-separated fields are
    split and converted; ``fixed``: fields the command sets itself (``source_only=True``)."""
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    vals: dict[str, Any] = {}
    for k, v in kwargs.items():
        if k not in fields:
            continue
        if fields[k].metadata.get("csv") and isinstance(v, str):
            item = (typing.get_args(_unwrap_optional(hints[k])) or (str,))[0]
            try:
                v = [item(x.strip()) for x in v.split(",") if x.strip()]
            except ValueError:
                raise click.BadParameter(f"{flag_name(fields[k])} {v!r}: give {item.__name__} values separated by "
                                         "commas") from None
        vals[k] = list(v) if isinstance(v, tuple) else v
    return cls(**vals, **fixed)


@functools.lru_cache(maxsize=None)
def option_fields(cls: type) -> dict[str, dataclasses.Field]:
    """Command-line name -> field, for the fields of ``cls`` on the command line."""
    return {flag_name(f): f for f in dataclasses.fields(cls) if f.metadata.get("cli", True) is not False}


@dataclasses.dataclass
class Parallel:
    """How the points of a sweep (or of the study's sweeps) run: shared by `dlapps sweep` and `dlapps study`."""

    jobs: int = opt(1, "Points run at once (the cores are split between them).", low=1)
    threads: int = opt(1, "Torch threads per point (1: numbers independent of --jobs; 0: cores / jobs).", low=0)
    backend: Backend = opt("local", "local processes, or a Ray cluster (pip install 'dlapps[ray]').")
    address: str | None = opt(None, "Ray cluster address, e.g. ray://head:10001 or auto [default: a local Ray "
                                    "instance].")
