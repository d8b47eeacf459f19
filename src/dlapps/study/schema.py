"""study.toml's schema: one dataclass per kind of entry, so a typo in a key fails at load with one clear line
instead of being silently ignored (a misspelt `explain` would hide a miss's reason; a misspelt `b_table` would
pair a claim with the wrong runs)."""

from __future__ import annotations

from dataclasses import MISSING, dataclass, field, fields
from typing import Any

from dlapps import DlappsError, did_you_mean


@dataclass
class SectionSpec:
    title: str


@dataclass
class TableSpec:
    section: str
    caption: str
    sweep: str = ""                      # the sweep file (in sweeps/) that rebuilds it
    quick: str = ""                      # the sweep `--quick` runs instead
    needs: str = ""                      # a network whose ImageNet weights it needs
    substitute: str = ""                 # the sweep that stands in when they are missing
    substitute_points: dict[str, str] = field(default_factory=dict)
    not_run: str = ""                    # why dlapps does not rebuild it
    note: str = ""                       # what a run cannot know (no measured number: tests/test_study.py)
    extra_points: dict[str, str] = field(default_factory=dict)
    explain: dict[str, str] = field(default_factory=dict)         # "row" or "row|column" -> why it misses
    explain_points: dict[str, str] = field(default_factory=dict)  # a reading's point -> why it misses
    readings: dict[str, dict[str, str]] = field(default_factory=dict)


@dataclass
class FigureSpec:
    section: str
    caption: str
    sweep: str = ""
    quick: str = ""
    note: str = ""
    study: dict[str, str] = field(default_factory=dict)  # point -> what the study saw in its figure


@dataclass
class ClaimSpec:
    text: str
    metric: str
    a: str
    b: str
    table: str = ""
    figure: str = ""
    b_table: str = ""
    b_figure: str = ""
    b_metric: str = ""                   # b's number, where a claim sets two numbers of one run against each other
    direction: str = ""                  # higher | lower | none: a figure's words, where the study gives no number
    quote: str = ""                      # the study's sentence the claim tests
    pages: str = ""
    post_hoc: str = ""                   # why it was added after results were seen
    by_construction: str = ""            # why it is true whatever was learned (shown, never counted)


@dataclass
class ScreenSpec:
    sweep: str
    title: str
    readings: dict[str, str]
    published: str
    published_sweep: str
    schedule_epochs: int
    settings: dict[str, int]
    seeds: list[int]
    stopped_source_acc: float
    base_target: float
    base_tolerance: float
    tie: str
    must_beat: str
    reading_names: dict[str, str] = field(default_factory=dict)


@dataclass
class BeyondSpec:
    """A section after 2-c: the same data under stronger methods, each a sweep of experiments/ published in
    ``beyond/<sweep stem>`` of the study dir (a method not yet published is listed as not run)."""

    title: str
    caption: str
    methods: dict[str, str]              # the method as a reader names it -> its sweep file in experiments/
    notes: dict[str, str] = field(default_factory=dict)  # method -> where it comes from, what its network is
    # method -> the sweep file (experiments/, published in beyond/<stem>) whose declared validator chose its settings
    settings: dict[str, str] = field(default_factory=dict)
    # a sweep dir in beyond/ kept as a reading after its settings were replaced -> why (shown, never counted)
    readings: dict[str, str] = field(default_factory=dict)
    # what the section aims at, declared before its runs: metric -> the mean over ``goal_seeds`` seeds to reach
    goal: dict[str, float] = field(default_factory=dict)
    goal_seeds: int = 3

    def __post_init__(self) -> None:
        unknown = sorted(set(self.settings) - set(self.methods))
        if unknown:
            raise DlappsError(f"settings names {unknown[0]!r}, not one of the methods "
                              f"({', '.join(self.methods)}){did_you_mean(unknown[0], self.methods)}")


@dataclass
class ProtocolSpec:
    """A protocol the published study ran under before a rerun replaced it: its runs are kept in ``dir`` of the
    study dir and shown under each table of ``sections`` as a reading (its own verdicts, never counted)."""

    title: str                           # what the protocol was, as a reader names it
    dir: str                             # where its sweeps are, in the study dir (<dir>/<sweep stem>)
    sections: list[str]                  # the sections whose tables it ran
    why: str = ""                        # why it was replaced (the screen or finding that decided it)
    findings: bool = False               # the report's Findings were written about this protocol's runs
    # table -> "row" or "row|column" -> why that row misses under this protocol (as [tables.N.explain])
    explain: dict[str, dict[str, str]] = field(default_factory=dict)


@dataclass
class MetricReadingSpec:
    """Another measurement of a row's metric on the same runs (the domain accuracy at another threshold): each row
    of that metric gets its reading's number and the verdict it would get, shown under its table, never counted."""

    title: str
    metrics: dict[str, str]              # a row's metric -> the metric that reads it the other way


def _check(kind: type, where: str, raw: Any) -> None:
    if not isinstance(raw, dict):
        raise DlappsError(f"study.toml {where}: expected a table of keys, got {type(raw).__name__}")
    known = {f.name for f in fields(kind)}
    unknown = sorted(set(raw) - known)
    if unknown:
        raise DlappsError(f"study.toml {where}: unknown key {unknown[0]!r}{did_you_mean(unknown[0], known)}; known: "
                          f"{', '.join(sorted(known))}")
    missing = [f.name for f in fields(kind) if f.name not in raw and f.default is MISSING
               and f.default_factory is MISSING]
    if missing:
        raise DlappsError(f"study.toml {where}: missing {', '.join(missing)}")
    kind(**raw)  # the types' shape (a dataclass does not check types; the keys are what a typo breaks)


def validate(spec: dict[str, Any]) -> dict[str, Any]:
    """Check every entry of a loaded study.toml against its dataclass; returns the spec unchanged."""
    top = {"sections": SectionSpec, "tables": TableSpec, "figures": FigureSpec, "screens": ScreenSpec,
           "beyond": BeyondSpec, "protocols": ProtocolSpec,
           "metric_readings": MetricReadingSpec}
    unknown = sorted(set(spec) - set(top) - {"claims"})
    if unknown:
        raise DlappsError(f"study.toml: unknown section {unknown[0]!r}; known: claims, {', '.join(top)}")
    for name, kind in top.items():
        for key, raw in spec.get(name, {}).items():
            _check(kind, f"[{name}.{key}]", raw)
    for i, raw in enumerate(spec.get("claims", [])):
        _check(ClaimSpec, f"[[claims]] #{i + 1} ({raw.get('text', '?')!r})", raw)
        if bool(raw.get("table")) == bool(raw.get("figure")):
            raise DlappsError(f"study.toml [[claims]] #{i + 1}: give exactly one of table or figure")
    return spec
