"""A sweep file, read and expanded into points, each point's command line (checked by the command itself)."""

from __future__ import annotations

import itertools
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dlapps import DlappsError, did_you_mean
from dlapps.apps import APP_COMMANDS, app_command


@dataclass
class Point:
    name: str                      # e.g. "lambda-schedule=exp,lr=0.01"
    options: dict[str, Any]        # CLI options without '--'
    seed: int

    @property
    def dirname(self) -> str:
        return f"{_slug(self.name)}-s{self.seed}" if self.name else f"base-s{self.seed}"


@dataclass
class SweepSpec:
    command: list[str]
    base: dict[str, Any] = field(default_factory=dict)
    grid: dict[str, list[Any]] = field(default_factory=dict)
    points: list[dict[str, Any]] = field(default_factory=list)
    seeds: list[int] = field(default_factory=lambda: [0])
    metrics: list[str] = field(default_factory=list)
    quick: dict[str, Any] = field(default_factory=dict)
    # the validator that picks the sweep's point, declared in the file before it runs (--select-by overrides it)
    select_by: str = ""
    # a finished selection sweep's dir: the options of the point its validator picked join [base] (chosen_settings)
    settings_from: str = ""
    # point name -> seeds it runs beyond its own: set by the caller (the study's replacement seeds for claims
    # whose pairs a failed run broke), never read from a sweep file
    extra: dict[str, list[int]] = field(default_factory=dict)


def chosen_settings(spec: SweepSpec) -> tuple[dict[str, Any], str]:
    """The options a finished selection sweep (``settings-from``) chose: the values of its grid at the point its
    declared validator picked, read from its metrics.json and config.json; or ({}, why there are none yet)."""
    d = Path(spec.settings_from)
    try:
        options = json.loads((d / "config.json").read_text(encoding="utf-8"))["options"]
        grid, planned = options["spec"]["grid"], options["points"]
    except (OSError, ValueError, KeyError, TypeError):
        return {}, f"settings-from {d}: no selection sweep there yet"
    try:  # the sweep's aggregate, written once its points have run
        agg = json.loads((d / "metrics.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        agg = {}
    point = agg.get("selected_point")
    if not agg.get("complete") or not point:
        return {}, f"settings-from {d}: its selection has not finished (every point must run and its validator pick)"
    picked = next((o for name, o in planned.items() if re.sub(r"-s\d+$", "", name) == point), None)
    if picked is None:
        return {}, f"settings-from {d}: its pick {point!r} is not one of its points"
    return {k: picked[k] for k in grid if k in picked}, ""


def apply_settings_from(spec: SweepSpec, required: bool = True) -> str:
    """Put the options ``settings-from`` chose into the spec's [base] (recorded with the sweep's config.json); the
    line that says what was taken. Not chosen yet: an error when ``required`` (a real run), else nothing taken (a
    --plan, a --quick smoke run)."""
    chosen, why = chosen_settings(spec)
    if why and required:
        raise DlappsError(f"{why}; run that sweep first")
    twice = sorted(set(chosen) & set(spec.base))
    if twice:
        raise DlappsError(f"[base] sets {', '.join(twice)}, which settings-from {spec.settings_from} chooses; "
                          "remove it from [base]")
    spec.base = {**spec.base, **chosen}
    return f"settings from {spec.settings_from}: " + (", ".join(f"{k} = {v}" for k, v in chosen.items())
                                                       or f"none taken ({why})")


def _slug(s: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.=,+-]+", "_", s)[:120]


def load_spec(path: Path) -> SweepSpec:
    """Read a TOML/YAML sweep file with one clear error for mistakes."""
    path = Path(path)
    if not path.is_file():
        raise DlappsError(f"sweep file not found: {path}")
    try:
        if path.suffix in (".yaml", ".yml"):
            import yaml

            d = yaml.safe_load(path.read_text())
        else:
            from dlapps.runner.presets import (
                tomllib,  # the standard library's, or tomli on Python 3.10
            )

            d = tomllib.loads(path.read_text())
    except ImportError:
        raise DlappsError("YAML sweep files need PyYAML (pip install pyyaml); TOML works out of the box") from None
    except Exception as e:
        raise DlappsError(f"cannot parse {path}: {e}") from None
    if not isinstance(d, dict) or "command" not in d:
        raise DlappsError(f"{path}: a sweep file needs `command = \"app command\"`")
    unknown = set(d) - {"command", "base", "grid", "points", "seeds", "metrics", "quick", "description", "select-by",
                        "settings-from"}
    if unknown:
        raise DlappsError(f"{path}: unknown keys {', '.join(sorted(unknown))}")
    grid = d.get("grid", {})
    for k, v in grid.items():
        if not isinstance(v, list) or not v:
            raise DlappsError(f"{path}: grid.{k} must be a non-empty list")
    return SweepSpec(command=str(d["command"]).split(), base=dict(d.get("base", {})), grid=dict(grid),
                     points=list(d.get("points", [])), seeds=[int(s) for s in d.get("seeds", [0])],
                     metrics=list(d.get("metrics", [])), quick=dict(d.get("quick", {})),
                     select_by=str(d.get("select-by", "")), settings_from=str(d.get("settings-from", "")))


def expand(spec: SweepSpec, quick: bool = False) -> list[Point]:
    """Grid product (+ explicit points), each repeated for every seed; base/quick options underneath."""
    base = {**spec.base, **(spec.quick if quick else {})}
    keys = list(spec.grid)
    combos = [dict(zip(keys, vals)) for vals in itertools.product(*(spec.grid[k] for k in keys))] if keys else []
    variants = combos + [dict(p) for p in spec.points]
    # a point may carry its own `seeds` (e.g. the costly 100-epoch point at one seed while the rest run three)
    point_seeds = [v.pop("seeds", None) for v in variants]
    if quick:  # a point that varies what [quick] fixes (e.g. epochs = 100) would undo the quick settings: skip it
        kept = [i for i, v in enumerate(variants) if not set(v) & set(spec.quick)]
        variants, point_seeds = [variants[i] for i in kept], [point_seeds[i] for i in kept]
    if not variants:
        variants, point_seeds = [{}], [None]
    out = []
    for v, own in zip(variants, point_seeds):
        name = ",".join(f"{k}={_fmt(val)}" for k, val in v.items())
        seeds = spec.seeds if own is None else [int(x) for x in own]
        for s in [*seeds, *(x for x in spec.extra.get(name, []) if x not in seeds)]:
            out.append(Point(name, {**base, **v}, s))
    names = [p.dirname for p in out]
    if len(set(names)) != len(names):
        raise DlappsError("two sweep points resolve to the same name; make the grid values distinct")
    return out


def _fmt(v: Any) -> str:
    return ",".join(map(str, v)) if isinstance(v, list) else str(v)


def argv_for(spec: SweepSpec, p: Point, out: Path, threads: int) -> list[str]:
    """The command line of one point (multi-valued options such as --layer repeat the flag). ``{seed}`` in a text
    value becomes the point's seed, so a sweep can chain runs seed by seed (``from = "runs/dann/base-s{seed}"``:
    each seed's pseudo-labelling starts from that seed's DANN run)."""
    args = list(spec.command)
    for k, v in p.options.items():
        flag = f"--{k}"
        v = v.replace("{seed}", str(p.seed)) if isinstance(v, str) else v
        if isinstance(v, bool):  # true -> --flag; false -> --no-flag (click's on/off pairs)
            args += [flag] if v else ([] if k.startswith("no-") else [f"--no-{k}"])
        elif isinstance(v, list):
            for item in v:
                args += [flag, str(item)]
        else:
            args += [flag, str(v)]
    args += ["--out", str(out), "--seed", str(p.seed), "--threads", str(threads), "--quiet"]
    return args


def validate_points(spec: SweepSpec, points: list[Point], out: Path) -> None:
    """Parse every point's command line with the CLI itself before running any: a misspelt command or
    option (``adapt dannn``, ``epochz = 2``) or a bad choice fails at once, naming the point, with click's
    suggestion, instead of after the first points have run."""
    import click

    if not spec.command or spec.command[0] not in APP_COMMANDS:
        word = spec.command[0] if spec.command else ""
        hint = did_you_mean(word, APP_COMMANDS)
        raise DlappsError(f"sweep command `{' '.join(spec.command)}`: unknown command {word!r}{hint}")
    cmd: Any = app_command(spec.command[0])
    rest = spec.command[1:]
    for i, word in enumerate(spec.command[1:], start=1):
        if not isinstance(cmd, click.Group) or word.startswith("-"):
            break
        sub = cmd.get_command(click.Context(cmd), word)
        if sub is None:
            hint = did_you_mean(word, cmd.commands)
            raise DlappsError(f"sweep command `{' '.join(spec.command)}`: unknown command {word!r}{hint}")
        cmd, rest = sub, spec.command[i + 1:]
    for p in points:
        argv = argv_for(spec, p, out / p.dirname, 1)[len(spec.command) - len(rest):]
        try:
            cmd.make_context(" ".join(spec.command), list(argv), resilient_parsing=False)
        except click.exceptions.Exit:
            pass
        except click.ClickException as e:
            raise DlappsError(f"sweep point {p.name or 'base'}: {e.format_message()}") from None
