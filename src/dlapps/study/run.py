"""``dlapps study``: the study's experiments with ``--preset study``, run as ordinary sweeps, then one
report shaped like the study (see :mod:`dlapps.study.report`).

A study is data, not a second engine: ``study.toml`` says which sweep file (``sweeps/``) rebuilds which
table or figure, ``reference.csv`` holds the numbers the study reported (table, row, column, value,
pages), and :func:`dlapps.sweep.run_sweep` does the running, resuming and parallelism.
"""

from __future__ import annotations

import csv
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

from dlapps import DlappsError
from dlapps.study.results import package_file, study_seeds, study_spec, study_extra_seeds
from dlapps.study.verdict import FIRST_SEEDS, MAX_SEEDS
from dlapps.runner.options import Parallel, check_config, opt
from dlapps.runner.results import RunResult
from dlapps.runner.runs import RunDir, RunOptions, to_jsonable, environment_info
from dlapps.core.models import build_model
from dlapps.sweep import load_spec, expand, Point, status, run_sweep
from dlapps.study.report import write_study_report
from dlapps.sweep_config import SweepConfig
from dlapps.study.plan import plan_text

SECTIONS = ("2a", "2b", "2c", "2de")


@dataclass
class StudyConfig(Parallel):
    only: list[str] = opt(help="Run only these sections (repeatable); the report covers the whole study.",
                          choices=SECTIONS, default_factory=list)
    tables: list[int] = opt(help="Only the points these tables need, e.g. 4,5,7,10 (default: all).", csv=True,
                            default_factory=list)
    quick: bool = opt(False, "Embedded data and the sweeps' [quick] settings: minutes, not comparable.")
    seeds: int = opt(0, "Seeds per training point (0 = 3, or 1 with --quick; with 3, a claim that an occasional "
                        "failed run left short of 3 pairs adds seeds 3 and 4).", low=0)
    report_only: bool = opt(False, "Run nothing; rebuild the report from the finished points (byte for byte).")
    plan: bool = opt(False, "Run nothing; list what is left to run and its cost, measured on the finished points.")


@dataclass
class Entry:
    """One table or figure group of the study and the sweep that rebuilds it."""

    key: str                   # "5" for Table 5, "classviz" for a figure group
    section: str
    caption: str
    sweep: str | None          # file in sweeps/ (None: not rebuilt here)
    is_table: bool
    spec: dict[str, Any]

    @property
    def label(self) -> str:
        return f"Table {self.key}" if self.is_table else self.caption.split(":")[0]


def sweep_path(name: str) -> Path:
    """A packaged sweep file as a real path (they are plain files inside the package)."""
    return Path(str(package_file("sweeps").joinpath(name)))


def entries() -> list[Entry]:
    spec = study_spec()
    out = [Entry(str(k), v["section"], v["caption"], v.get("sweep"), True, v) for k, v in spec["tables"].items()]
    out += [Entry(k, v["section"], v["caption"], v.get("sweep"), False, v) for k, v in spec["figures"].items()]
    return out


def reference_rows() -> list[dict[str, Any]]:
    """The numbers the study reported: table, row, column, value (float where numeric), metric, point,
    band (tolerance for 'within band', empty: not judged), pages, note."""
    rows = []
    with package_file("reference.csv").open(encoding="utf-8") as f:
        for r in csv.DictReader(f):
            try:
                r["value"] = float(r["value"])
            except ValueError:
                pass
            r["band"] = float(r["band"]) if r.get("band") else None
            rows.append(r)
    return rows


def weights_available(model: str) -> bool:
    """Whether ``model``'s ImageNet weights load here (torchvision's cache, $DLAPPS_WEIGHTS or a download)."""
    try:
        build_model(model, "imagenet", verbose=False)
        return True
    except DlappsError:
        return False


PlanMode = Literal["full", "quick", "pipeline-check", "substitute", "not-rebuilt"]
# full:           the study's own sweep, full settings: its rows are judged
# quick:          the same sweep with its [quick] settings (embedded data, shortened runs): shown, never judged
# pipeline-check: a stand-in sweep on embedded data (--quick, where the real one needs ImageNet weights): its
#                 points answer none of the study's rows, so the rows are left empty
# substitute:     another network stands in for one whose weights are not here: shown, never judged
# not-rebuilt:    nothing runs (the study's inputs are not distributed, or --quick cannot run it)


@dataclass
class Plan:
    """What one entry runs here: the sweep file, how it runs (``mode``), the points its rows read, and why."""

    entry: Entry
    file: Path | None
    mode: PlanMode
    point_map: dict[str, str] = field(default_factory=dict)  # study point -> point that stands in for it
    note: str = ""
    sweep_dir: Path | None = None  # where its sweep ran (set by the report)

    @property
    def quick(self) -> bool:
        """Whether the sweep file's [quick] overrides apply."""
        return self.mode == "quick"

    @property
    def judged(self) -> bool:
        return self.mode == "full"


def plan_entry(e: Entry, quick: bool, availability: dict[str, bool]) -> Plan:
    """Choose the sweep for one entry: its quick file, its own file (with [quick]), or its substitute."""
    if e.sweep is None:
        return Plan(e, None, "not-rebuilt", note=e.spec.get("not_run", "not rebuilt by dlapps"))
    if quick:
        if e.spec.get("quick"):
            return Plan(e, sweep_path(e.spec["quick"]), "pipeline-check",
                        note="quick: a pipeline check on embedded data, not comparable with the study")
        if load_spec(sweep_path(e.sweep)).quick:
            return Plan(e, sweep_path(e.sweep), "quick", note="quick: embedded data and shortened runs")
        return Plan(e, None, "not-rebuilt", note="needs ImageNet weights and real data: not run with --quick")
    need = e.spec.get("needs")
    if need and need not in availability:  # probe once, and only where the study dir did not already say
        availability[need] = weights_available(need)
    if need and not availability[need]:
        return Plan(e, sweep_path(e.spec["substitute"]), "substitute", dict(e.spec.get("substitute_points", {})),
                    note=f"substitute: {need}'s ImageNet weights are not available here")
    return Plan(e, sweep_path(e.sweep), "full")


def _check_selection(cfg: StudyConfig) -> None:
    """One clear error for an unknown section or table number."""
    bad = [s for s in cfg.only if s not in SECTIONS]
    if bad:
        raise DlappsError(f"unknown study section {bad[0]!r}; use one of {', '.join(SECTIONS)}")
    known_tables = {int(e.key) for e in entries() if e.is_table}
    if set(cfg.tables) - known_tables:
        raise DlappsError(f"the study has Tables {min(known_tables)}-{max(known_tables)}; "
                          f"no Table {sorted(set(cfg.tables) - known_tables)[0]}")


def _n_seeds(cfg: StudyConfig) -> int:
    return cfg.seeds or (1 if cfg.quick else 3)


def _default_dir(cfg: StudyConfig) -> Path:
    return Path("runs") / f"study{'-quick' if cfg.quick else ''}"


def _dir_protocol(cfg: StudyConfig, out: Path) -> StudyConfig:
    """cfg with the --quick/--seeds the dir was run with (a rebuilt report or a plan describes the dir's
    protocol, not the flags')."""
    if not (out / "config.json").exists():
        return cfg
    try:
        old = RunDir(out).read_json("config.json").get("options", {})
    except (OSError, ValueError, AttributeError):
        old = {}
    return replace(cfg, quick=bool(old.get("quick", cfg.quick)), seeds=int(old.get("seeds", cfg.seeds) or 0))


def _open_study_dir(cfg: StudyConfig, out: Path | None) -> Path:
    """The study dir, with this call's config.json; a dir holding a study with other --quick/--seeds is
    refused, so one report never mixes two protocols. ``--report-only`` reads the dir and writes only the
    report, so a published study dir rebuilds byte for byte."""
    out = Path(out) if out else _default_dir(cfg)
    if cfg.report_only:
        if not out.is_dir():
            raise DlappsError(f"{out}: no study dir there to rebuild the report from")
        return out
    out.mkdir(parents=True, exist_ok=True)
    run = RunDir(out)
    if (out / "config.json").exists():
        try:
            old = run.read_json("config.json").get("options", {})
        except (OSError, ValueError, AttributeError):
            raise DlappsError(f"{out / 'config.json'} is damaged (not readable JSON); restore it or choose another "
                              "--out") from None
        if old.get("quick") != cfg.quick or old.get("seeds") != cfg.seeds:
            raise DlappsError(f"{out} holds a study run with other --quick/--seeds; choose another --out")
    run.write_json("config.json", {"app": "study", "command": "study", "options": to_jsonable(cfg),
                                   "versions": environment_info(),
                                   "created": time.strftime("%Y-%m-%dT%H:%M:%S")})
    return out


def study_plans(quick: bool, ran_in: Path | None = None) -> list[Plan]:
    """How every entry of the study runs here (the report always covers the whole study). ``ran_in``: a study
    dir whose sweeps decide instead where they can (an entry whose substitute ran there and whose own sweep did
    not is a substitute), so a report rebuilt elsewhere (a machine that has VGG16's weights) says what ran."""
    availability: dict[str, bool] = {}
    if ran_in is not None:
        for e in entries():
            need, sub = e.spec.get("needs"), e.spec.get("substitute")
            if need and sub and e.sweep and not quick:
                own, stand_in = (ran_in / Path(e.sweep).stem).is_dir(), (ran_in / Path(sub).stem).is_dir()
                if own != stand_in:
                    availability[need] = own
    return [plan_entry(e, quick, availability) for e in entries()]


@dataclass
class SweepRun:
    """One sweep file a study call runs: the entries it serves, its seeds, and (--tables) the points they need."""

    file: Path
    quick: bool
    plans: list[Plan]
    seeds: list[int] | None
    select: list[str] | None
    extra: dict[str, list[int]] = field(default_factory=dict)  # point -> replacement seeds (verdict.py's rule)

    @property
    def selected_extra(self) -> dict[str, list[int]]:
        """The replacement seeds of the points this call runs (--tables selects points)."""
        return {pt: s for pt, s in self.extra.items() if self.select is None or pt in self.select}


def sweeps_to_run(cfg: StudyConfig, plans: list[Plan], refs: list[dict[str, Any]], n_seeds: int,
                  out: Path | None = None) -> list[SweepRun]:
    """The sweeps --only/--tables select. One sweep file can serve several tables (Tables 5-10 share the DANN
    sweep): it runs once, with the union of the points its tables need. ``out``: the study dir, whose finished
    runs decide the replacement seeds its claims ask for."""
    extra = study_extra_seeds(out, plans, n_seeds) if out is not None else {}

    selected = [p for p in plans if (not cfg.only or p.entry.section in cfg.only)
                and (not cfg.tables or (p.entry.is_table and int(p.entry.key) in cfg.tables))]
    by_file: dict[tuple[Path, bool], list[Plan]] = {}
    for p in selected:
        if p.file is not None:
            by_file.setdefault((p.file, p.quick), []).append(p)
    out = []
    for (file, quick), ps in by_file.items():
        spec = load_spec(file)
        select = None
        if cfg.tables:
            wanted = {p.point_map.get(r["point"], r["point"]) for p in ps for r in refs if r["table"] == p.entry.key}
            wanted |= {pt for p in ps for pt in p.entry.spec.get("extra_points", {}).values()}
            wanted |= {pt for p in ps for m in p.entry.spec.get("readings", {}).values() for pt in m.values()}
            select = sorted({pt.name for pt in expand(spec, quick) if pt.name in wanted})
        out.append(SweepRun(file, quick, ps, study_seeds(spec, n_seeds), select, extra.get(file.stem, {})))
    return out


def _unfinished_extra(out: Path, todo: SweepRun) -> bool:
    """Whether a sweep has replacement seeds (of its selected points) that have not finished or stopped."""
    return any(not status(out / todo.file.stem / Point(pt, {}, s).dirname).finished
               for pt, seeds in todo.selected_extra.items() for s in seeds)


def run_study(cfg: StudyConfig, opts: RunOptions | None = None) -> RunResult:
    """Run (or finish) every selected sweep of the study, then write its report. ``opts.out`` is the study dir
    (default runs/study or runs/study-quick); the result's metrics are the summary's counts."""
    opts = opts or RunOptions()
    quiet = opts.quiet
    check_config(cfg)
    _check_selection(cfg)
    if cfg.plan:  # reads the dir, writes nothing
        out = Path(opts.out) if opts.out else _default_dir(cfg)
        cfg = _dir_protocol(cfg, out)
        n_seeds = _n_seeds(cfg)
        text, left = plan_text(out, sweeps_to_run(cfg, study_plans(cfg.quick), reference_rows(), n_seeds, out),
                               cfg.jobs)
        print(text, flush=True)
        return RunResult(out, left)
    out = _open_study_dir(cfg, Path(opts.out) if opts.out else None)
    if cfg.report_only:
        cfg = _dir_protocol(cfg, out)
    n_seeds = _n_seeds(cfg)
    refs = reference_rows()
    plans = study_plans(cfg.quick, out if cfg.report_only else None)
    failures: list[str] = []

    def run_one(todo: SweepRun, why: str = "") -> None:
        if not quiet:
            print(f"== study {', '.join(p.entry.label for p in todo.plans)}: {todo.file.name}"
                  f"{' (quick)' if todo.quick else ''}{why}", flush=True)
        try:
            run_sweep(SweepConfig(file=str(todo.file), jobs=cfg.jobs, threads=cfg.threads, backend=cfg.backend,
                                  address=cfg.address, quick=todo.quick, seeds=todo.seeds, select=todo.select,
                                  extra_seeds=todo.extra),
                      RunOptions(out=str(out / todo.file.stem), quiet=quiet))
        except DlappsError as err:  # one failing sweep must not lose the others: report it and go on
            failures.append(f"{todo.file.stem}: {err}")
            print(f"error: {err}", flush=True)

    if not cfg.report_only:
        for todo in sweeps_to_run(cfg, plans, refs, n_seeds, out):
            run_one(todo)
        # a claim whose pair a failed run broke asks for the next seed once its seeds have finished: ask again
        # after each round (at most seeds 3 and 4), until nothing new is asked for
        for _ in range(MAX_SEEDS - FIRST_SEEDS):
            again = [t for t in sweeps_to_run(cfg, plans, refs, n_seeds, out) if _unfinished_extra(out, t)]
            for todo in again:
                extra = "; ".join(f"{pt or 'base'}: seed {', '.join(map(str, s))}" for pt, s in todo.extra.items())
                run_one(todo, f" (replacement seeds: {extra})")
            if not again or failures:
                break
    summary = write_study_report(out, plans, refs, n_seeds, cfg.quick, failures)
    if failures:
        raise DlappsError(f"{len(failures)} sweep(s) of the study failed ({failures[0][:200]}); the report in "
                          f"{out} shows what finished; rerun the same command to retry only what is missing")
    return RunResult(out, summary)
