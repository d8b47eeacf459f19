"""What a study has: its spec (study.toml), and the values its sweeps produced per point and seed.
Shared by running (``run.py``) and reporting (``report.py``), which do not import each other's insides."""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from dlapps.apps import load_app
from dlapps.runner.hooks import app_of
from dlapps.runner.presets import tomllib
from dlapps.study.verdict import FIRST_SEEDS, MAX_SEEDS, SeedOutcome, replacement_seeds
from dlapps.study.schema import validate
from dlapps.runner.runs import metric as dotted
from dlapps.sweep import expand, read_metrics, status, Point, load_spec


@functools.lru_cache(maxsize=1)
def study_spec() -> dict[str, Any]:
    """study.toml, its every entry checked against its schema (dlapps.study.schema) once, at load."""
    return validate(tomllib.loads(package_file("study.toml").read_text(encoding="utf-8")))


def package_file(name: str) -> Any:
    return resources.files("dlapps.study").joinpath(name)


def study_seeds(spec: Any, n_seeds: int) -> list[int] | None:
    """The seeds a study runs a sweep with: n for sweeps that train (adapt, generate), the file's own otherwise."""
    return list(range(n_seeds)) if spec.command[0] in ("adapt", "generate") else None


@dataclass
class PointSeeds:
    """One sweep point's metric over its seeds: the finished seeds' values, the seeds that stopped themselves
    (diverged or collapsed: a result, not a gap), the seeds whose results cannot be read, and how many were
    planned."""

    values: dict[int, float] = field(default_factory=dict)
    stopped: dict[int, int] = field(default_factory=dict)   # seed -> epochs it finished before stopping
    # seed -> how it collapsed, for runs that trained to the end collapsed (a DANN's label classifier at chance
    # on its own labelled domain, a GAN's samples in a few classes): their numbers are real and stay in the
    # mean, and the row is a miss like a stopped seed's
    collapsed: dict[int, str] = field(default_factory=dict)
    # seed -> how it collapsed, for runs that train to their end by design (they record a collapse per epoch and go
    # on, as the study's runs did): a row reads their last epoch like any seed's, so one that never recovered is
    # simply far from the band; a claim still does not pair them (a collapse is not the study's effect)
    collapsed_at_end: dict[int, str] = field(default_factory=dict)
    # seed -> why its timing cannot be compared (it was timed over part of its epochs: a resumed run)
    untimed: dict[int, str] = field(default_factory=dict)
    damaged: list[int] = field(default_factory=list)
    missing: list[int] = field(default_factory=list)       # planned seeds with no result yet (not run, running)
    planned: int = 0

    @property
    def vals(self) -> list[float]:
        return [self.values[s] for s in sorted(self.values)]


def run_collapse(m: dict[str, Any], app: str | None) -> str | None:
    """How a finished run of ``app`` failed though it trained to its end, or None, as the app tells it (adapt: a
    label classifier at chance on its own labelled domain; generate: a recorded mode or discriminator collapse).
    Such a run is a failure for rows and for pairing alike."""
    return load_app(app).failure(m) if app else None


def untimed(m: dict[str, Any]) -> str | None:
    """Why a run's timing is not its whole run's (it resumed and timed fewer epochs than it trained), or None."""
    t, done = m.get("timing") or {}, m.get("epochs_done")
    if isinstance(t, dict) and "epochs_timed" in t and isinstance(done, int) and t["epochs_timed"] < done:
        return f"timed over {t['epochs_timed']} of its {done} epochs (resumed)"
    return None


def point_seeds(sweep_dir: Path | None, spec: Any, quick: bool, point: str, metric: str) -> PointSeeds:
    """The metric of one sweep point, seed by seed (see :class:`PointSeeds`)."""
    out = PointSeeds()
    for p in expand(spec, quick):
        if p.name != point:
            continue
        out.planned += 1
        if sweep_dir is None:
            continue
        d = sweep_dir / p.dirname
        st = status(d)
        if st == "damaged":
            out.damaged.append(p.seed)
            continue
        m = read_metrics(d) if st.finished else None
        if m is None:
            out.missing.append(p.seed)
            continue
        if st == "diverged":
            out.stopped[p.seed] = int(m.get("epochs_done", 0) or 0)
            continue
        v = dotted(m, metric)
        if isinstance(v, (int, float)) and not isinstance(v, bool):
            out.values[p.seed] = float(v)
        why = run_collapse(m, spec.command[0] if spec.command else None)
        if why is not None:
            trained_on = any("collapsed" in r for r in m.get("history") or [] if isinstance(r, dict))
            (out.collapsed_at_end if trained_on else out.collapsed)[p.seed] = why
        if metric.startswith("timing.") and (t := untimed(m)):
            out.untimed[p.seed] = t
    return out


def point_histories(sweep_dir: Path | None, spec: Any, quick: bool, point: str,
                    key: str | None = None) -> dict[int, list[float]]:
    """Seed -> the per-epoch values of ``key`` (default: the curve its app overlays) of one point (finished and
    stopped runs alike; a run still going is not shown, so the figure is a function of the published results)."""
    out: dict[int, list[float]] = {}
    hooks = load_app(spec.command[0] if spec.command else None)
    key = key or (hooks.history_curve[0] if hooks.history_curve else None)
    if sweep_dir is None or key is None:
        return out
    for p in expand(spec, quick):
        if p.name == point and status(sweep_dir / p.dirname).finished:
            m = read_metrics(sweep_dir / p.dirname)
            h = hooks.history(m) if m else None  # in today's names, whichever dlapps wrote it
            if isinstance(h, list) and h and isinstance(h[0], dict) and key in h[0]:
                out[p.seed] = [float(r[key]) for r in h if key in r]
    return out


def seed_outcome(run_dir: Path, app: str | None = None) -> SeedOutcome:
    """What one run of a point says for pairing: ``ok`` (finished, not at chance), ``failed`` (it stopped
    itself, or ran to the end collapsed) or ``pending`` (not run, running, interrupted or unreadable)."""
    st = status(run_dir)
    if st == "diverged":
        return "failed"
    if st != "complete":
        return "pending"
    return "failed" if run_collapse(read_metrics(run_dir) or {}, app or app_of(run_dir)) is not None else "ok"


def claim_points(plans: list[Any]) -> list[tuple[Any, str, Any, str]]:
    """(plan a, point a, plan b, point b) of every counted claim of study.toml: both sides judged (the study's
    own sweep at full settings). Alternative readings are never counted, so they get no replacement seeds."""
    by_key = {p.entry.key: p for p in plans}
    out = []
    for c in study_spec().get("claims", []):
        key = str(c.get("table", c.get("figure")))
        pa, pb = by_key.get(key), by_key.get(str(c.get("b_table", c.get("b_figure", key))))
        if pa is not None and pb is not None and pa.judged and pb.judged and pa.file and pb.file:
            out.append((pa, c["a"], pb, c["b"]))
    return out


def study_extra_seeds(out: Path, plans: list[Any], n_seeds: int) -> dict[str, dict[str, list[int]]]:
    """The replacement seeds the study's rule (:func:`dlapps.study.verdict.replacement_seeds`) asks for, given
    what the study dir ``out`` holds now: sweep file stem -> point -> seeds beyond the first ``n_seeds``.
    Only with the study's own 3 seeds: a study run with other --seeds keeps them."""
    extra: dict[str, dict[str, set[int]]] = {}
    if n_seeds != FIRST_SEEDS:
        return {}
    known: dict[tuple[str, str], dict[int, SeedOutcome]] = {}  # a point serves many claims (the base): read once

    def outcomes(plan: Any, point: str) -> dict[int, SeedOutcome]:
        key = (plan.file.stem, point)
        if key not in known:
            command = load_spec(plan.file).command  # its app reads whether a finished run failed
            known[key] = {s: seed_outcome(out / key[0] / Point(point, {}, s).dirname, command[0] if command else None)
                          for s in range(MAX_SEEDS)}
        return known[key]

    for pa, a, pb, b in claim_points(plans):
        seeds = replacement_seeds(outcomes(pa, a), outcomes(pb, b))
        for plan, point in ((pa, a), (pb, b)):
            if seeds:
                extra.setdefault(plan.file.stem, {}).setdefault(point, set()).update(seeds)
    return {f: {p: sorted(s) for p, s in pts.items()} for f, pts in extra.items()}


class StudyData:
    """The sweeps of one study dir, read once: specs (with the study's seeds, and the replacement seeds its
    rule asks for, ``extra``: file stem -> point -> seeds) and their dirs."""

    def __init__(self, out: Path, n_seeds: int, extra: dict[str, dict[str, list[int]]] | None = None) -> None:
        self.out, self.n_seeds, self.extra = out, n_seeds, extra or {}
        self._specs: dict[Path, Any] = {}

    def spec(self, file: Path) -> Any:
        if file not in self._specs:
            spec = load_spec(file)
            spec.seeds = study_seeds(spec, self.n_seeds) or spec.seeds
            spec.extra = dict(self.extra.get(file.stem, {}))
            self._specs[file] = spec
        return self._specs[file]

    def seeds(self, plan: Any, point: str, metric: str) -> PointSeeds:
        if plan.file is None or plan.mode == "pipeline-check":
            return PointSeeds()
        return point_seeds(plan.sweep_dir if plan.sweep_dir and plan.sweep_dir.exists() else None,
                           self.spec(plan.file), plan.quick, point, metric)
