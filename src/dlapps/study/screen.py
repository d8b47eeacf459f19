"""A screen: a diagnostic sweep run before a section is rerun under another protocol, judged by a rule written in
``study.toml`` ([screens.NAME]) before it ran. Each run is read at its last screened epoch; reading (a), the
published protocol, is read from the study's own runs at the same epochs and seeds."""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dlapps.apps import load_app
from dlapps.sweep import read_metrics, status
from dlapps.runner.tables import markdown_table


@dataclass
class ScreenRun:
    """One (reading, setting, seed) of a screen at its last screened epoch."""

    reading: str
    setting: str
    seed: int
    state: str                 # finished | nan | collapsed (stopped there by older code) | at-chance | missing
    epochs: int = 0            # epochs it trained (of the screened ones)
    target: float | None = None
    source: float | None = None

    @property
    def stopped(self) -> bool:
        return self.state in ("nan", "collapsed", "at-chance")


def point_name(setting: str, epochs: int, schedule_epochs: int, extra: str) -> str:
    """The sweep point of a setting screened for ``epochs`` of its schedule, under a reading's own options."""
    return ",".join(x for x in (setting, f"stop-after={epochs}" if epochs < schedule_epochs else "", extra) if x)


def read_run(run_dir: Path, epochs: int, stopped_source_acc: float) -> tuple[str, int, float | None, float | None]:
    """(state, epochs trained, target and source accuracy) of a run read at epoch ``epochs``: a run that stopped
    itself before it is ``nan`` (its loss became NaN in the epoch after its last row) or ``collapsed`` (the
    published runs' older code stopped a run after a collapsed epoch, its last row); one below
    ``stopped_source_acc`` on its own labelled domain at that epoch is ``at-chance``."""
    st = status(run_dir)
    m = read_metrics(run_dir) if st.finished else None
    if m is None:
        return "missing", 0, None, None
    h = load_app("adapt").history(m)  # the screen reads DANN runs, in today's names
    if len(h) < epochs and st == "diverged":
        dead = bool(h) and float(h[-1]["source.class_acc"]) < stopped_source_acc
        return ("collapsed" if dead else "nan"), len(h), None, None
    if len(h) < epochs:
        return "missing", len(h), None, None
    row = h[epochs - 1]
    src, tgt = float(row["source.class_acc"]), float(row["target.class_acc"])
    return ("at-chance" if src < stopped_source_acc else "finished"), epochs, tgt, src


def screen_runs(spec: dict[str, Any], screen_dir: Path, published_dir: Path) -> list[ScreenRun]:
    """Every run the screen's rule reads: the published reading first, then the screened ones."""
    runs = []
    total, cut = int(spec["schedule_epochs"]), float(spec["stopped_source_acc"])
    readings = {spec["published"]: None, **spec["readings"]}
    for reading, extra in readings.items():
        for setting, epochs in spec["settings"].items():
            for seed in spec["seeds"]:
                if extra is None:   # the published run of the same setting, read at the same epoch
                    d = published_dir / (f"{setting}-s{seed}" if setting else f"base-s{seed}")
                else:
                    name = point_name(setting, int(epochs), total, extra)
                    d = screen_dir / (f"{name}-s{seed}" if name else f"base-s{seed}")
                runs.append(ScreenRun(reading, setting, seed, *read_run(d, int(epochs), cut)))
    return runs


def verdict(spec: dict[str, Any], runs: list[ScreenRun]) -> tuple[dict[str, dict[str, Any]], str]:
    """Per reading (stopped runs, runs read, base mean target, whether it qualifies) and the rule's outcome."""
    per: dict[str, dict[str, Any]] = {}
    for reading in [spec["published"], *spec["readings"]]:
        mine = [r for r in runs if r.reading == reading]
        base = [r.target for r in mine if r.setting == "" and r.state == "finished"]
        mean = statistics.fmean(base) if base else None
        per[reading] = {"stopped": sum(r.stopped for r in mine), "read": sum(r.state != "missing" for r in mine),
                        "planned": len(mine), "base_mean": mean,
                        "base_read": sum(r.setting == "" and r.state != "missing" for r in mine),
                        "qualifies": mean is not None and abs(mean - spec["base_target"]) <= spec["base_tolerance"]}
    if any(v["read"] < v["planned"] for v in per.values()):
        left = sum(v["planned"] - v["read"] for v in per.values())
        return per, f"not decided: {left} of the screen's runs have not run yet"
    ok = [k for k in spec["readings"] if per[k]["qualifies"]]
    if not ok:
        return per, f"no screened reading's base lies within {spec['base_tolerance']} of {spec['base_target']}: " \
                    f"({spec['published']}) stays"
    fewest = min(per[k]["stopped"] for k in ok)
    best = spec["tie"] if spec["tie"] in ok and per[spec["tie"]]["stopped"] == fewest else \
        next(k for k in ok if per[k]["stopped"] == fewest)
    if fewest >= per[spec["published"]]["stopped"]:
        return per, f"({best}) stops {fewest} runs, not fewer than ({spec['published']})'s " \
                    f"{per[spec['published']]['stopped']}: ({spec['published']}) stays"
    return per, f"({best}) wins: {fewest} stopped runs against ({spec['published']})'s " \
                f"{per[spec['published']]['stopped']}, base {per[best]['base_mean']:.3f}"


def screen_section(name: str, spec: dict[str, Any], screen_dir: Path, published_dir: Path) -> list[str]:
    """The screen's part of the study report: its rule, each run's state, and the rule's outcome."""
    runs = screen_runs(spec, screen_dir, published_dir)
    per, outcome = verdict(spec, runs)
    names = spec.get("reading_names", {})
    cell = {"finished": lambda r: f"{r.target:.3f}", "nan": lambda r: f"NaN (ep {r.epochs + 1})",
            "collapsed": lambda r: f"collapsed (ep {r.epochs}), stopped",
            "at-chance": lambda r: f"at chance ({r.target:.2f})", "missing": lambda r: "not run"}
    rows = []
    for reading in per:
        for setting, epochs in spec["settings"].items():
            rs = sorted((r for r in runs if r.reading == reading and r.setting == setting), key=lambda r: r.seed)
            rows.append([f"({reading})", f"`{setting}`" if setting else "Table 5 base", epochs, *(cell[r.state](r) for r in rs)])
    summary = [[f"({k}) {names.get(k, '')}", f"{v['stopped']} of {v['read']} read ({v['planned']} planned)",
                "—" if v["base_mean"] is None else f"{v['base_mean']:.3f}",
                "not run yet" if not v["base_read"] else "yes" if v["qualifies"] else "no"]
               for k, v in per.items()]
    seeds = spec["seeds"]
    return [f"### Screen `{name}`: {spec['title']}", "",
            f"Declared before it ran (`study.toml` [screens.{name}], sweep `experiments/{spec['sweep']}`). A run "
            f"*stops* if its loss became NaN or its source accuracy is below {spec['stopped_source_acc']} at its last "
            f"screened epoch. Among the readings whose base mean target accuracy lies within "
            f"{spec['base_tolerance']} of the study's {spec['base_target']}, the one with the fewest stopped runs "
            f"wins (a tie: ({spec['tie']})), if it stops fewer than ({spec['published']}); ({spec['published']}) is "
            "read from the published runs at the same epochs and seeds. Target accuracy at the last screened epoch:",
            "", markdown_table(["reading", "setting", "epochs", *(f"seed {s}" for s in seeds)], rows), "",
            markdown_table(["reading", "stopped runs", "base mean target", "base within band"], summary), "",
            f"**Outcome**: {outcome}.", ""]
