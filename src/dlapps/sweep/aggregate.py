"""A sweep's results over seeds: mean ± sd per point, the comparison table and figure, the app's own tables (its hooks), the report."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from dlapps import DlappsError
from dlapps.apps import load_app
from dlapps.runner.hooks import AppHooks, hooks_of
from dlapps.runner.report import build_report
from dlapps.runner.runs import RunDir, atomic_write_text, metric
from dlapps.sweep.spec import Point, SweepSpec
from dlapps.sweep.state import read_metrics, status


def aggregate(spec: SweepSpec, points: list[Point], out: Path, select_by: str | None = None) -> dict[str, Any]:
    """Mean ± std over seeds per point for the chosen metrics; table, figure, metrics.json, report; for runs
    whose app registered an aggregate hook, its own tables (adapt: each validator's pick and the --select-by one)."""
    run = RunDir(out)
    groups: dict[str, list[Point]] = {}
    for p in points:
        groups.setdefault(p.name or "base", []).append(p)
    metrics_keys = spec.metrics or _default_metrics(out, points)
    rows, agg = [], {}
    finished: dict[str, list[dict[str, Any]]] = {}
    stopped: dict[str, int] = {}  # point -> seeds that stopped themselves: outside the mean, never out of sight
    for name, ps in groups.items():
        vals: dict[str, list[float]] = {k: [] for k in metrics_keys}
        for p in ps:
            m = read_metrics(out / p.dirname)
            if m is not None:
                if m.get("diverged"):
                    stopped[name] = stopped.get(name, 0) + 1
                elif m.get("complete", True):
                    finished.setdefault(name, []).append(m)
                for k in metrics_keys:
                    v = metric(m, k)
                    if isinstance(v, (int, float)) and not isinstance(v, bool):
                        vals[k].append(float(v))
        agg[name] = {k: {"mean": float(np.mean(v)) if v else None,
                         "std": float(np.std(v, ddof=1)) if len(v) > 1 else 0.0,  # sample sd, as the study report
                         "n": len(v)} for k, v in vals.items()}
        note = f" ({stopped[name]} of {len(ps)} seeds stopped: NaN or collapse)" if name in stopped else ""
        rows.append([name + note] + [_pm(agg[name][k]) for k in metrics_keys])
    run.write_table("comparison", ["point"] + metrics_keys, rows,
                    caption=f"{' '.join(spec.command)}: mean ± sd over seeds {spec.seeds} (sd: sample standard "
                            "deviation, n − 1; a seed that stopped itself is outside the mean and named)")
    hooks = load_app(spec.command[0]) if spec.command else hooks_of(None)
    if hooks.aggregate is not None:  # the app's own tables over the points (adapt: the validators' picks)
        summary_extra, sweep_metrics, select_error = hooks.aggregate(run, finished, select_by)
    else:
        summary_extra, sweep_metrics, select_error = "", {}, None
    run.write_metrics({"points": agg, "stopped_seeds": stopped, "n_points": len(points), "complete": all(
        status(out / p.dirname).finished for p in points), **sweep_metrics})
    if metrics_keys:
        _comparison_figure(run, agg, metrics_keys[0])
    if hooks.history_curve is not None:
        _overlay_histories(run, groups, out, hooks)
    damaged = [p.dirname for p in points if status(out / p.dirname) == "damaged"]
    if damaged:
        summary_extra += (f"\n**Damaged** (a results file cannot be read; not in the table, and the next run of the "
                          f"sweep redoes them): {', '.join(damaged)}.\n")
    atomic_write_text(out / "summary.md", f"**Sweep** of `dlapps {' '.join(spec.command)}`: {len(groups)} points × "
                                          f"{len(spec.seeds)} seed(s). Table: mean ± sd over seeds (sample sd, n − 1).\n"
                                          + summary_extra)
    # the report reads every run that can be read; a damaged point is listed above instead of stopping it
    done = [out / p.dirname for p in points if (out / p.dirname / "config.json").exists() and p.dirname not in damaged]
    build_report([out] + done, out_dir=out, title=f"sweep {' '.join(spec.command)}")
    if select_error:  # after the table and report: the sweep's results are kept, the bad option still fails
        raise DlappsError(select_error)
    return agg


def _comparison_figure(run: RunDir, agg: dict[str, Any], k: str) -> None:
    """The first metric per point as bars, mean ± sd over seeds (figure ``comparison``)."""
    from dlapps.runner.figures import plt  # matplotlib: only when a sweep draws

    names = [n for n in agg if agg[n][k]["mean"] is not None]
    if not names:
        return
    fig, ax = plt.subplots(figsize=(max(5, 0.7 * len(names) + 2), 3.6))
    ax.bar(range(len(names)), [agg[n][k]["mean"] for n in names], yerr=[agg[n][k]["std"] for n in names],
           capsize=3, color="tab:blue")
    ax.set_xticks(range(len(names)))
    ax.set_xticklabels(names, rotation=30, ha="right", fontsize=7)
    ax.set_ylabel(k)
    ax.set_title(f"{k} per point (mean ± sd over seeds)")
    run.save_figure(fig, "comparison")


def _pm(s: dict[str, Any]) -> str:
    if s["mean"] is None:
        return "—"
    return f"{s['mean']:.4f} ± {s['std']:.4f}" if s["n"] > 1 else f"{s['mean']:.4f}"


def _default_metrics(out: Path, points: list[Point]) -> list[str]:
    """Without a metrics list: the scalar accuracy-like keys of the first finished point."""
    for p in points:
        m = read_metrics(out / p.dirname)
        if m is not None:
            keys = []
            for k, v in m.items():
                if isinstance(v, dict):
                    keys += [f"{k}.{kk}" for kk, vv in v.items() if isinstance(vv, (int, float)) and "acc" in kk]
                elif isinstance(v, (int, float)) and not isinstance(v, bool) and any(
                        t in k for t in ("acc", "fid", "coverage", "kl")):
                    keys.append(k)
            return keys[:6]
    return []


def _overlay_histories(run: RunDir, groups: dict[str, list[Point]], out: Path, hooks: AppHooks) -> None:
    """The app's per-epoch curve (its ``history_curve``) of every point (first seed), overlaid."""
    from dlapps.runner.figures import curves  # matplotlib: only when a sweep draws

    key, label = hooks.history_curve or ("", "")
    series = {}
    for name, ps in groups.items():
        m = read_metrics(out / ps[0].dirname)
        if m is not None:
            h = hooks.history(m)
            if h and key in h[0]:
                series[name] = [r[key] for r in h]
    if series:
        run.save_figure(curves(series, "epoch", label, f"{label[0].upper()}{label[1:]} per epoch"), "histories")
