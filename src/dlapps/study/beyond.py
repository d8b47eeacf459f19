"""The report's section after 2-c: the study's data under stronger methods (study.toml ``[beyond.*]``), each a
sweep published in ``beyond/<sweep stem>`` of the study dir, side by side as mean ± sd over its finished seeds.
A method not published yet is listed as not run, with the command that runs it: nothing here is typed by hand."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from dlapps.apps import load_app
from dlapps.runner.hooks import app_of
from dlapps.runner.runs import RunDir, metric
from dlapps.runner.tables import markdown_table
from dlapps.study.verdict import mean_sd
from dlapps.sweep import read_metrics, status

HEADER = ["method", "seeds", "target accuracy", "source accuracy", "chosen by", "gap to the oracle's pick",
          "ms per step", "minutes per run"]


def _seed_runs(d: Path) -> dict[int, dict[str, Any]]:
    """Seed -> metrics of each finished run ``<point>-s<seed>`` of a published sweep dir (its first point)."""
    out: dict[int, dict[str, Any]] = {}
    for run in sorted(p for p in d.iterdir() if p.is_dir()) if d.is_dir() else []:
        m = re.fullmatch(r"(.*)-s(\d+)", run.name)
        if m and status(run) == "complete" and (metrics := read_metrics(run)) is not None:
            out.setdefault(int(m[2]), metrics)
    return out


def _cell(values: list[float], digits: int = 4) -> str:
    """mean ± sample sd over the seeds ('—' when none recorded it)."""
    if not values:
        return "—"
    mean, sd = mean_sd(values)
    return f"{mean:.{digits}f}" + (f" ± {sd:.{digits}f}" if len(values) > 1 else "")


def _numbers(runs: dict[int, dict[str, Any]], key: str) -> list[float]:
    vals = [metric(m, key) for m in runs.values()]
    return [float(v) for v in vals if isinstance(v, (int, float)) and not isinstance(v, bool)]


def _minutes(m: dict[str, Any]) -> float | None:
    """One run's wall time: a DANN's total, or a pseudo-labelling run's rounds."""
    total = metric(m, "timing.total_s")
    if isinstance(total, (int, float)):
        return total / 60
    rounds = m.get("rounds")
    return sum(r.get("seconds", 0.0) for r in rounds) / 60 if isinstance(rounds, list) and rounds else None


def method_row(label: str, sweep: str, runs: dict[int, dict[str, Any]]) -> list[str]:
    """One method's row: its finished seeds' numbers, or 'not run yet' with the command that runs it."""
    stem = Path(sweep).stem
    if not runs:
        return [label, "not run yet", f"`dlapps sweep experiments/{sweep} --out study-results/beyond/{stem}`",
                "", "", "", "", ""]
    chosen = sorted({str(metric(m, "selected.by")) for m in runs.values() if metric(m, "selected.by")}) or ["last"]
    minutes = [x for x in (_minutes(m) for m in runs.values()) if x is not None]
    return [label, ", ".join(map(str, sorted(runs))), _cell(_numbers(runs, "target.class_acc")),
            _cell(_numbers(runs, "source.class_acc")), ", ".join(chosen),
            _cell(_numbers(runs, "selected.gap_to_oracle")), _cell(_numbers(runs, "timing.ms_per_step"), 1),
            _cell(minutes, 1)]


def _start_of(run: Path, out: Path) -> Path | None:
    """The published run a chained run started from (a pseudo-labelling run's --from, DIRT-T's --init), if any."""
    options = _sweep_config(run)
    start = str(options.get("start") or options.get("init") or "")
    return out / "beyond" / start.split("beyond/", 1)[1] if "beyond/" in start else None


def training_curve(run: Path, out: Path, depth: int = 0) -> tuple[list[float], list[float]]:
    """(minutes of training at the end of each epoch or round, target accuracy then) of one published run; a
    chained run's clock starts where its start run's ended, so the curve is what the whole chain cost."""
    m = read_metrics(run) if status(run) == "complete" else None
    if m is None:
        return [], []
    hooks = load_app(app_of(run))  # its app names the rows (old runs' names read as today's)
    rows = hooks.history(m) or hooks.history({"history": m.get("rounds")})
    start = _start_of(run, out) if depth < 3 else None
    t0 = training_curve(start, out, depth + 1)[0][-1:] if start is not None else []
    minutes, accs, t = [], [], t0[0] if t0 else 0.0
    for r in rows:
        t += float(r.get("train_s", r.get("seconds", 0.0))) / 60
        if isinstance(r.get("target.class_acc"), (int, float)):
            minutes.append(t)
            accs.append(float(r["target.class_acc"]))
    return minutes, accs


def accuracy_time_figure(out: Path, methods: dict[str, str], goal: float = 0.98) -> str | None:
    """Target accuracy against training time, every published seed of every method (the issue's question: what
    a laptop reaches, and how fast); the PNG's path relative to ``out``, or None when nothing is published."""
    from dlapps.runner.figures import plt  # matplotlib: only when a figure is drawn
    curves = {label: [training_curve(run, out) for run in sorted((out / "beyond" / Path(sweep).stem).glob("*-s*"))
                      if run.is_dir()] for label, sweep in methods.items()}
    curves = {k: [c for c in v if c[0]] for k, v in curves.items()}
    if not any(curves.values()):
        return None
    fig, ax = plt.subplots(figsize=(7, 4))
    for i, (label, runs) in enumerate(curves.items()):
        for j, (x, y) in enumerate(runs):
            ax.plot(x, y, marker=".", lw=1, color=f"C{i}", alpha=0.8, label=label if j == 0 else None)
    ax.axhline(goal, color="k", ls="--", lw=0.8, label=f"{goal:g}")
    ax.set_xlabel("training time, minutes (one thread; a chained method starts where its start run ended)", fontsize=8)
    ax.set_ylabel("target test accuracy", fontsize=8)
    ax.legend(fontsize=7, loc="lower right")
    ax.set_title("Target accuracy against training time, every seed", fontsize=9)
    fig.tight_layout()
    return RunDir(out).save_figure(fig, "beyond_accuracy_time").relative_to(out).as_posix()


def _sweep_config(d: Path) -> dict[str, Any]:
    """The options of a dir's config.json (a sweep's: its spec and every planned point's options; a run's: its
    options); {} if absent or unreadable."""
    try:
        return json.loads((d / "config.json").read_text(encoding="utf-8")).get("options", {})
    except (OSError, ValueError):
        return {}


def _fmt(v: Any) -> str:
    return "—" if v is None else f"{v:.4g}" if isinstance(v, float) else str(v)


def _mean_cell(runs: list[dict[str, Any]], key: str) -> str:
    """A point's mean of one metric over its finished seeds (an integer metric, e.g. an epoch, stays whole)."""
    raw = [v for v in (metric(m, key) for m in runs) if isinstance(v, (int, float)) and not isinstance(v, bool)]
    if not raw:
        return "—"
    mean = sum(raw) / len(raw)
    return str(round(mean)) if all(isinstance(v, int) for v in raw) and mean == round(mean) else _fmt(float(mean))


def _gap(oracle: dict[str, Any], agg: dict[str, Any]) -> float | None:
    """How much target test accuracy the validator's pick gives up against the oracle's; None if unknown."""
    a, b = oracle.get("target_acc"), agg.get("selected_target_acc")
    return round(float(a) - float(b), 6) if isinstance(a, (int, float)) and isinstance(b, (int, float)) else None


def settings_part(label: str, sweep: str, method_sweep: str, out: Path) -> list[str]:
    """How a method's settings were chosen, read from the published selection sweep alone: each planned point with
    the sweep's own metrics (mean over its finished seeds), then, once every point has run, the pick of the
    validator the sweep file declared before it ran, the oracle's pick beside it, and whether the method's published
    runs use the picked point's options."""
    stem = Path(sweep).stem
    d = out / "beyond" / stem
    cfg = _sweep_config(d)
    run_it = f"`dlapps sweep experiments/{sweep} --out study-results/beyond/{stem}`"
    head = f"**How {label}'s settings were chosen** (`experiments/{sweep}`, published in `beyond/{stem}/`)"
    if not cfg:
        return [f"{head}: not run yet ({run_it}).", ""]
    spec, planned = cfg.get("spec", {}), cfg.get("points", {})
    keys: list[str] = list(spec.get("metrics", []))
    points: dict[str, list[str]] = {}  # point name -> its planned run dirs (one per seed)
    for dirname in planned:
        points.setdefault(re.sub(r"-s\d+$", "", dirname), []).append(dirname)
    rows, done = [], 0
    for name, dirs in points.items():
        finished = [m for r in dirs if status(d / r) == "complete" and (m := read_metrics(d / r)) is not None]
        done += bool(finished) and len(finished) == len(dirs)
        if not finished:
            rows.append([f"`{name}`", "not run yet", *([""] * len(keys))])
            continue
        rows.append([f"`{name}`", str(len(finished)), *(_mean_cell(finished, k) for k in keys)])
    by = spec.get("select_by") or "—"
    part = [f"{head}: {done} of {len(points)} points have run; the point {by} scores best is chosen (the validator "
            "declared in the sweep file before it ran; target test labels are read only to report).", "",
            markdown_table(["point", "seeds run", *keys], rows), ""]
    agg = read_metrics(d) if (d / "metrics.json").exists() else None
    chosen = agg.get("selected_point") if agg and agg.get("complete") else None
    if not chosen:
        return part + [f"The choice is made when every point has run ({run_it}).", ""]
    oracle = next((p for p in agg.get("selection", []) if p.get("validator") == "oracle"), {})
    line = (f"**Chosen by {agg.get('selected_by')}**: `{chosen}`, target test accuracy "
            f"{_fmt(agg.get('selected_target_acc'))}; the oracle's pick (reads the test labels): "
            f"`{oracle.get('point')}` at {_fmt(oracle.get('target_acc'))}"
            + (f" ({agg.get('selected_by')}'s pick is {gap:.4f} below it)." if (gap := _gap(oracle, agg)) else
               " (the same point)." if gap == 0 else "."))
    picked = next((o for r, o in planned.items() if re.sub(r"-s\d+$", "", r) == chosen), {})
    used = list(_sweep_config(out / "beyond" / Path(method_sweep).stem).get("points", {}).values())
    differ = sorted({k for o in used for k in spec.get("grid", {}) if str(o.get(k)) != str(picked.get(k))})
    if used:  # the method's runs must be the chosen point, or the row above is not what was chosen
        line += (f" {label}'s published runs use these options." if not differ else
                 f" **{label}'s published runs do not use these options** ({', '.join(differ)} differ).")
    return part + [line, ""]


def reading_part(stem: str, why: str, out: Path) -> list[str]:
    """A sweep of this section stopped and kept as a reading (its settings replaced after its first points): its
    finished runs with the sweep's own metrics, and why it was replaced; nothing when it is not published."""
    d = out / "beyond" / stem
    spec = _sweep_config(d).get("spec", {})
    keys: list[str] = [*spec.get("metrics", []), "target.domain_acc"]  # whether its domain head won
    runs = [(r.name, m) for r in sorted(p for p in d.iterdir() if p.is_dir())
            if status(r) == "complete" and (m := read_metrics(r)) is not None] if d.is_dir() else []
    if not runs:
        return []
    rows = [[f"`{name}`", *(_mean_cell([m], k) for k in keys)] for name, m in runs]
    return [f"**A reading kept, not counted** (`beyond/{stem}/`): {why}", "",
            markdown_table(["run", *keys], rows), ""]


def cost_part(out: Path) -> list[str]:
    """What a step of each method costs on this machine and what the authors' schedule would take, from the
    benchmark's figures published beside the runs (``beyond/step_costs.json``, written by bench_beyond.py)."""
    try:
        doc = json.loads((out / "beyond" / "step_costs.json").read_text(encoding="utf-8"))
        f = doc["figures"]
    except (OSError, ValueError, KeyError):
        return []
    steps = [f"{name.removesuffix('_ms_per_step').replace('_', ' on ')} {ms:.1f} ms"
             + (f" (×{f[name.replace('_ms_per_step', '_vs_dann')]:.2f})"
                if name.replace("_ms_per_step", "_vs_dann") in f else " (the reference)")
             for name, ms in f.items() if name.endswith("_ms_per_step")]
    hours = f.get("authors_schedule_hours", {})
    return [f"**What a step costs here, and what the authors' schedule would take** (`{doc.get('command')}` at "
            f"`{doc.get('commit')}`, {str(doc.get('date', ''))[:10]}, {doc.get('threads')} thread"
            + (f", {f['batch_per_domain']} images per domain a step" if "batch_per_domain" in f else "")
            + f", on {f.get('network')} unless named): " + "; ".join(steps) + "."
            + (f" The authors train VADA for {f['authors_steps']:,} steps: "
               + ", ".join(f"{h:.1f} h on {net}" for net, h in hours.items()) + " on one thread of this machine."
               if hours and "authors_steps" in f else ""), ""]


def goal_part(spec: dict[str, Any], published: dict[str, dict[int, dict[str, Any]]]) -> list[str]:
    """The section's declared goal, which methods meet it over enough seeds, and the closest one where none does
    (``published``: method -> its finished runs by seed)."""
    goal, need = spec.get("goal", {}), int(spec.get("goal_seeds", 3))
    if not goal:
        return []
    want = " and ".join(f"{k} ≥ {v:g}" for k, v in goal.items())
    means = {}
    for label, runs in published.items():
        vals = {k: _numbers(runs, k) for k in goal}
        if all(vals.values()):
            means[label] = ({k: mean_sd(v)[0] for k, v in vals.items()}, len(runs))
    met = [f"{label} ({n} seeds)" for label, (m, n) in means.items()
           if n >= need and all(m[k] >= v for k, v in goal.items())]
    first = next(iter(goal))
    closest = max(means.items(), key=lambda kv: kv[1][0][first], default=None)
    line = f"**The goal** (declared before the runs): {want}, mean over {need} seeds. "
    if met:
        line += "Met by " + ", ".join(met) + "."
    elif closest:
        label, (m, n) = closest
        line += (f"Not met by any published method yet; the closest on {first}: {label}, "
                 + ", ".join(f"{k} {m[k]:.4f}" for k in goal) + f" over {n} of {need} seeds.")
    else:
        line += "No method has published a run yet."
    return [line, ""]


def beyond_part(out: Path, specs: dict[str, dict[str, Any]]) -> list[str]:
    """Each ``[beyond.*]`` entry of study.toml as a table under its title, the methods' sources below it, how a
    method's settings were chosen (``settings``), and the accuracy of every published run against its training
    time."""
    part: list[str] = []
    for spec in specs.values():
        published = {label: _seed_runs(out / "beyond" / Path(sweep).stem) for label, sweep in spec["methods"].items()}
        rows = [method_row(label, sweep, published[label]) for label, sweep in spec["methods"].items()]
        notes = [f"- **{label}**: {note}." for label, note in spec.get("notes", {}).items()]
        part += [f"## {spec['title']}", "", spec["caption"], "", markdown_table(HEADER, rows), "",
                 *goal_part(spec, published), *notes, ""]
        for label, sweep in spec.get("settings", {}).items():
            part += settings_part(label, sweep, spec["methods"][label], out)
        for stem, why in spec.get("readings", {}).items():
            part += reading_part(stem, why, out)
        part += cost_part(out)
        fig = accuracy_time_figure(out, spec["methods"])
        if fig:
            part += [f"![{spec['title']}: target accuracy against training time]({fig})", ""]
    return part
