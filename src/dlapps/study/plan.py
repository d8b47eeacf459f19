"""``dlapps study --plan``: what a study dir still has to run and what that will cost, measured on the dir's own
finished points, so a study spread over several sittings can be scheduled (``--jobs``, which sections first)
before any of it starts. Nothing is run or written."""

from __future__ import annotations

import json
import statistics
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dlapps.runner.report import markdown_table
from dlapps.runner.presets import preset_options
from dlapps.sweep import expand, read_metrics, status, load_spec


def run_cost(m: dict[str, Any]) -> tuple[float, int] | None:
    """(seconds of training, epochs) of a finished run from its metrics.json: a DANN's per-epoch history
    (training and validation), or a GAN's step time × its steps (its train_s covers only the last process of
    a resumed run). None when the run records neither."""
    h = m.get("history")
    if isinstance(h, list) and h and all(isinstance(r, dict) and "train_s" in r for r in h):
        return sum(float(r["train_s"]) + float(r.get("val_s", 0.0)) for r in h), len(h)
    t = m.get("timing")
    if isinstance(t, dict) and t.get("ms_per_step") and m.get("steps") and m.get("epochs_done"):
        return float(t["ms_per_step"]) * int(m["steps"]) / 1000, int(m["epochs_done"])
    return None


def epochs_done(run_dir: Path) -> int:
    """Epochs an interrupted run has behind it (it resumes after them): its partial history, or the
    progress grids a GAN writes once per epoch."""
    try:
        h = json.loads((run_dir / "metrics.json").read_text(encoding="utf-8")).get("history")
        if isinstance(h, list):
            return len(h)
    except (OSError, ValueError, AttributeError):
        pass
    return len(list((run_dir / "progress").glob("epoch_*.png")))


@dataclass
class SweepLeft:
    """One sweep's state: how many of its runs finished or stopped, and what is left, in epochs."""

    name: str
    finished: int = 0
    stopped: int = 0
    left: list[tuple[str, str, int, int]] = field(default_factory=list)  # (dir, setting, epochs done, planned)
    per_epoch: dict[str, float] = field(default_factory=dict)       # setting -> median seconds per epoch
    sweep_per_epoch: float | None = None                              # the whole sweep's median

    def seconds_left(self) -> float | None:
        """One core's seconds to finish what is left; None if no run has measured an epoch yet."""
        total = 0.0
        for _, setting, done, epochs in self.left:
            rate = self.per_epoch.get(setting, self.sweep_per_epoch)
            if rate is None:
                return None
            total += rate * max(0, epochs - done)
        return total


def _planned_epochs(options: dict[str, Any], command: str, default: int | None) -> int | None:
    if "epochs" in options:
        return int(options["epochs"])
    if options.get("preset"):
        e = preset_options(str(options["preset"]), command).get("epochs")
        if e is not None:
            return int(e)
    return default


def _setting(options: dict[str, Any]) -> str:
    """A point's options but its epochs: what an epoch costs depends on them (data, network), not on how many
    epochs run, so Table 6's 100-epoch point is priced from the 20-epoch base's epochs."""
    return ",".join(f"{k}={v}" for k, v in sorted(options.items()) if k != "epochs")


def sweep_left(sweep_dir: Path, spec: Any, quick: bool, select: list[str] | None) -> SweepLeft:
    """Walk a sweep's planned points (``select``: only these names) against its dir; costs are measured on
    every epoch the sweep's runs have trained, selected or not, finished or still going (an epoch's seconds do
    not depend on whether the run got to its end)."""
    out = SweepLeft(sweep_dir.name)
    rates: dict[str, list[float]] = {}
    finished_epochs: list[int] = []
    todo = []
    for p in expand(spec, quick):
        d = sweep_dir / p.dirname
        st = status(d)
        m = read_metrics(d) if st.finished or st == "partial" else None
        cost = run_cost(m) if m else None
        if cost and cost[1]:
            rates.setdefault(_setting(p.options), []).append(cost[0] / cost[1])
            if st == "complete" and not p.options.get("epochs"):
                finished_epochs.append(cost[1])
        if select is not None and p.name not in select:
            continue
        out.finished += st == "complete"
        out.stopped += st == "diverged"
        if not st.finished:
            todo.append(p)
    default = int(statistics.median(finished_epochs)) if finished_epochs else None
    command = " ".join(spec.command)
    for p in todo:
        d = sweep_dir / p.dirname
        epochs = _planned_epochs(p.options, command, default)
        out.left.append((p.dirname, _setting(p.options), epochs_done(d) if d.exists() else 0, epochs or 0))
    out.per_epoch = {k: statistics.median(v) for k, v in rates.items()}
    all_rates = [r for v in rates.values() for r in v]
    out.sweep_per_epoch = statistics.median(all_rates) if all_rates else None
    return out


def _hours(s: float | None) -> str:
    return "unknown (no epoch measured yet)" if s is None else f"{s / 3600:.1f}"


def plan_text(out: Path, todo: list[Any], jobs: int) -> tuple[str, dict[str, Any]]:
    """The plan of one study dir as a Markdown table and its totals. ``todo``: run.sweeps_to_run's list."""
    rows, total_s, unknown, left = [], 0.0, False, 0
    for t in todo:
        spec = load_spec(t.file)
        if t.seeds is not None:
            spec.seeds = list(t.seeds)
        spec.extra = dict(t.extra)  # replacement seeds already asked for; later ones depend on results
        s = sweep_left(out / t.file.stem, spec, t.quick, t.select)
        secs = s.seconds_left()
        resuming = sum(1 for _, _, done, _ in s.left if done)
        rows.append([s.name, ", ".join(p.entry.label for p in t.plans), str(s.finished), str(s.stopped),
                     str(len(s.left)) + (f" ({resuming} resume)" if resuming else ""), _hours(secs if s.left else 0.0)])
        left += len(s.left)
        if s.left and secs is None:
            unknown = True
        total_s += secs or 0.0
    wall = total_s / max(1, jobs)
    extra = sum(len(seeds) for t in todo for seeds in t.selected_extra.values())
    text = "\n".join([
        f"Study dir {out}: what is left to run (costs: seconds of training per epoch, the median of this dir's "
        "runs (finished or still going) with the same settings but epochs, else of the sweep's; one thread per run).",
        "",
        markdown_table(["sweep", "serves", "finished", "stopped", "left", "core-hours left"], rows), "",
        f"Left: {left} runs, about {total_s / 3600:.1f} core-hours" + (" plus the sweeps not yet measured" if unknown
                                                                      else "")
        + f": about {wall / 3600:.1f} h at --jobs {jobs} (one core per job).",
        f"Replacement seeds asked for so far (verdict.py's rule, counted above): {extra}; more follow only where a "
        "run fails."])
    return text, {"runs_left": left, "core_hours_left": total_s / 3600, "unmeasured": unknown,
                  "replacement_seeds": extra}
