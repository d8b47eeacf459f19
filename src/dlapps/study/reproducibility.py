"""Same seed, same numbers, checked on what is published: every pair of finished runs in the study dir that ran
the same command with the same settings and seed in different places (a screen and the study's own sweep, say)
is compared epoch by epoch on the epochs both trained. A reader sees that the published numbers repeat without
re-running anything; a pair that differs is shown with where it first differs.

Settings are a run's resolved options (config.json); an option a run did not record (it was added to dlapps
later) reads as the command's default, which is what the run did. Options that do not change what a run trains
(where it writes, how much it prints, how many epochs of the schedule it stops after, its t-SNE figure) are not
compared; the schedule's length (``epochs``) and the thread count are.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from itertools import combinations
from pathlib import Path
from typing import Any

from dlapps.apps import APP_COMMANDS, app_command, load_app
from dlapps.runner.report import markdown_table
from dlapps.sweep import read_metrics, status

# options that say where a run writes, what it prints or draws, or how far into its schedule it stops: two runs
# that differ only there trained the same epochs the same way
NOT_TRAINING = frozenset({"out", "quiet", "resume", "tsne_points", "stop_after", "report_title"})


@dataclass
class Run:
    path: Path                    # relative to the study dir
    app: str
    command: str
    seed: Any
    threads: Any
    options: dict[str, Any]
    history: list[dict[str, Any]]   # per-epoch rows under today's names; a run without epochs: [its metrics]
    epochs: bool = True             # whether ``history`` holds epochs (else the run's final numbers)


def _defaults(app: str, command: str) -> dict[str, Any]:
    """The command's option defaults (what a run that did not record an option did)."""
    group = app_command(app)
    cmd = getattr(group, "commands", {}).get(command)
    return {p.name: p.default for p in cmd.params if p.name} if cmd is not None else {}


def _empty(v: Any) -> bool:
    return v is None or v == ""


def _flat(d: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """A metrics.json as one row of dotted keys -> numbers (lists and strings left out)."""
    row: dict[str, Any] = {}
    for k, v in d.items():
        if isinstance(v, dict):
            row |= _flat(v, f"{prefix}{k}.")
        elif isinstance(v, (int, float)) and not isinstance(v, bool):
            row[f"{prefix}{k}"] = v
    return row


def _is_time(key: str) -> bool:
    """A wall-clock reading (seconds, ms per step, timing.*, throughput), which two identical runs need not share."""
    last = key.rsplit(".", 1)[-1]
    return key.startswith("timing.") or last.endswith("_s") or last.startswith("ms_") or last in (
        "seconds", "images_per_s", "steps_per_s")


def finished_runs(out: Path, depth: int = 4) -> list[Run]:
    """Every finished run of an app under the study dir (its sweeps, diagnostics, beyond and readings)."""
    runs = []
    files = sorted({f for d in range(1, depth + 1) for f in out.glob("/".join(["*"] * d) + "/config.json")})
    for f in files:
        try:
            cfg = json.loads(f.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if not isinstance(cfg, dict) or cfg.get("app") not in APP_COMMANDS or not status(f.parent).finished:
            continue
        metrics = read_metrics(f.parent) or {}
        rows = load_app(cfg["app"]).history(metrics)
        runs.append(Run(f.parent.relative_to(out), cfg["app"], str(cfg.get("command")), cfg.get("seed"),
                        cfg.get("threads"), dict(cfg.get("options") or {}), rows or [_flat(metrics)], bool(rows)))
    return runs


def same_settings(a: Run, b: Run, defaults: dict[str, Any]) -> bool:
    """Whether two runs trained with the same settings and seed (an unrecorded option reads as its default)."""
    if (a.app, a.command, a.seed, a.threads) != (b.app, b.command, b.seed, b.threads):
        return False
    keys = (set(a.options) | set(b.options)) - NOT_TRAINING
    if defaults:  # a recorded field the command has no option for was never set: its config default, both sides
        keys &= set(defaults)
    for k in keys:
        va, vb = (r.options.get(k) for r in (a, b))
        va = defaults.get(k) if _empty(va) else va
        vb = defaults.get(k) if _empty(vb) else vb
        if not (_empty(va) and _empty(vb)) and va != vb:
            return False
    return True


def compare(a: Run, b: Run) -> tuple[int, str]:
    """(epochs both trained, where they first differ or 'identical'): every number of each shared epoch's row,
    except the wall-clock ones (a run without epochs: its final numbers, as one row)."""
    shared = min(len(a.history), len(b.history))
    for i in range(shared):
        ra, rb = a.history[i], b.history[i]
        for k in sorted(set(ra) & set(rb)):
            if _is_time(k):
                continue
            if ra[k] != rb[k] and not (ra[k] != ra[k] and rb[k] != rb[k]):  # NaN equals NaN here
                return shared, f"differ from epoch {i + 1} on ({k}: {ra[k]} vs {rb[k]})"
    return shared, "identical" if shared else "no shared epoch"


def pairs(out: Path) -> list[tuple[Run, Run, int, str]]:
    """Each pair of finished runs with the same settings and seed that lie in different sweeps, compared."""
    runs = finished_runs(out)
    defaults: dict[tuple[str, str], dict[str, Any]] = {}
    found = []
    for a, b in combinations(runs, 2):
        if a.path.parent == b.path.parent or (a.app, a.command) != (b.app, b.command):
            continue
        key = (a.app, a.command)
        if key not in defaults:
            defaults[key] = _defaults(*key)
        if same_settings(a, b, defaults[key]):
            found.append((a, b, *compare(a, b)))
    return found


def reproducibility_part(out: Path) -> list[str]:
    """The report's section: each pair, its shared epochs and whether their numbers agree bit for bit."""
    found = pairs(out)
    if not found:
        return []
    same = sum(v == "identical" for *_, v in found)
    rows = [[f"`{a.path.as_posix()}`", f"`{b.path.as_posix()}`", n if a.epochs and b.epochs else "final numbers", v]
            for a, b, n, v in found]
    return ["## Reproducibility: the same run, published twice", "",
            f"Runs of the same command with the same settings and seed in two places of this study dir, compared on "
            f"every number of every epoch both trained (a run without epochs: its final numbers; wall-clock times "
            f"aside): {same} of {len(found)} pairs agree bit "
            "for bit. Options that only say where a run writes, what it draws or after how many epochs of its "
            "schedule it stops are not compared; an option a run did not record (added to dlapps later) reads as "
            "its default.", "", markdown_table(["run", "same settings and seed", "epochs both trained", "numbers"],
                                               rows), ""]
