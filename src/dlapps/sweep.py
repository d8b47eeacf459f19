"""Sweeps: a grid (and/or list) of runs of one dlapps command, repeated over seeds, run locally in
parallel processes or as Ray tasks, aggregated into one comparison table and report.

A sweep file (TOML, or YAML if PyYAML is installed)::

    command = "adapt dann"              # any dlapps command that writes a run dir
    seeds = [0, 1]                      # repeats of every point
    metrics = ["target.class_acc", "source.class_acc"]   # table columns (dotted metrics.json keys)
    [base]                              # options of every point (CLI names without '--')
    epochs = 20
    [grid]                              # cartesian product
    lambda-schedule = ["exp", "linear"]
    [[points]]                          # and/or explicit points
    lambda-multiplier = 0.1
    [quick]                             # overrides for `dlapps sweep FILE --quick` (a small machine)
    epochs = 2

Each point is a normal run dir ``SWEEP/<point>-s<seed>``. Points already complete are skipped,
interrupted ones are resumed, so rerunning a killed sweep finishes only what is missing.
"""

from __future__ import annotations

import itertools
import json
import os
import re
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

import numpy as np

from dlapps import DlappsError, did_you_mean
from dlapps.apps import APP_COMMANDS, app_command, load_app
from dlapps.core.compute import available_cores
from dlapps.runner.hooks import hooks_of
from dlapps.runner.report import build_report
from dlapps.runner.options import check_config
from dlapps.sweep_config import SweepConfig
from dlapps.runner.results import RunResult
from dlapps.runner.runs import RunDir, RunOptions, atomic_write_text, metric


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
    # point name -> seeds it runs beyond its own: set by the caller (the study's replacement seeds for claims
    # whose pairs a failed run broke), never read from a sweep file
    extra: dict[str, list[int]] = field(default_factory=dict)


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
            from dlapps.runner.presets import tomllib  # the standard library's, or tomli on Python 3.10

            d = tomllib.loads(path.read_text())
    except ImportError:
        raise DlappsError("YAML sweep files need PyYAML (pip install pyyaml); TOML works out of the box") from None
    except Exception as e:
        raise DlappsError(f"cannot parse {path}: {e}") from None
    if not isinstance(d, dict) or "command" not in d:
        raise DlappsError(f"{path}: a sweep file needs `command = \"app command\"`")
    unknown = set(d) - {"command", "base", "grid", "points", "seeds", "metrics", "quick", "description"}
    if unknown:
        raise DlappsError(f"{path}: unknown keys {', '.join(sorted(unknown))}")
    grid = d.get("grid", {})
    for k, v in grid.items():
        if not isinstance(v, list) or not v:
            raise DlappsError(f"{path}: grid.{k} must be a non-empty list")
    return SweepSpec(command=str(d["command"]).split(), base=dict(d.get("base", {})), grid=dict(grid),
                     points=list(d.get("points", [])), seeds=[int(s) for s in d.get("seeds", [0])],
                     metrics=list(d.get("metrics", [])), quick=dict(d.get("quick", {})))


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
    """The command line of one point (multi-valued options such as --layer repeat the flag)."""
    args = list(spec.command)
    for k, v in p.options.items():
        flag = f"--{k}"
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


def read_metrics(run_dir: Path) -> dict[str, Any] | None:
    """A point's metrics.json, or None when it is missing or damaged (cut short, edited by hand): a damaged
    file makes the point unfinished, never the sweep's crash."""
    try:
        m = json.loads((Path(run_dir) / "metrics.json").read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError):
        return None
    return m if isinstance(m, dict) else None


class RunState(StrEnum):
    """Where a run dir stands; one enum read everywhere (a StrEnum: it compares equal to its name)."""

    COMPLETE = "complete"   # trained to its end
    DIVERGED = "diverged"   # stopped itself (a NaN loss): that is its result, and a rerun would only repeat it
    DAMAGED = "damaged"     # a metrics.json or config.json that cannot be read
    PARTIAL = "partial"     # has a config: running, or interrupted (resume it)
    NEW = "new"             # nothing yet

    @property
    def finished(self) -> bool:
        """A result to read (and never to run again): it completed or stopped itself."""
        return self in (RunState.COMPLETE, RunState.DIVERGED)


def status(run_dir: Path) -> RunState:
    """The :class:`RunState` of a run dir. A config.json that cannot be read damages the point too (its report
    and resume need it)."""
    if (run_dir / "config.json").exists() and not _readable_config(run_dir):
        return RunState.DAMAGED
    if (run_dir / "metrics.json").exists():
        m = read_metrics(run_dir)
        if m is None:
            return RunState.DAMAGED
        if m.get("diverged"):
            return RunState.DIVERGED
        if (run_dir / "report.md").exists() and m.get("complete", True):
            return RunState.COMPLETE
    if (run_dir / "config.json").exists():
        return RunState.PARTIAL
    return RunState.NEW


def _readable_config(run_dir: Path) -> bool:
    try:
        return isinstance(json.loads((run_dir / "config.json").read_text(encoding="utf-8")), dict)
    except (OSError, UnicodeDecodeError, ValueError):
        return False


def _set_aside(run_dir: Path) -> Path:
    """Move a point dir that cannot be resumed out of the way (kept, never deleted) so it reruns from scratch."""
    k, dest = 1, run_dir.with_name(f"{run_dir.name}.damaged")
    while dest.exists():
        k += 1
        dest = run_dir.with_name(f"{run_dir.name}.damaged{k}")
    run_dir.rename(dest)
    return dest


_RUNNING: set[subprocess.Popen] = set()  # the points this process is running (stopped with it)


SKIPPED = -999  # _run_point's code for a point another process is running


def _run_point(argv: list[str], log: Path) -> tuple[int, float]:
    """Run one point as its own process (isolation: one failing point does not stop the others).

    The point's lock file (``.<point>.lock`` beside its log) is held while it runs, so two sweeps over one
    dir (the study's two chains, a second terminal) never train the same point at once: the second skips it
    (returns ``SKIPPED``) and leaves its log alone. The lock goes with the process that holds it, a killed one
    included. Whether to resume is decided again under the lock: the other process may have moved it on."""
    from filelock import FileLock, Timeout

    run_dir = Path(argv[argv.index("--out") + 1])
    lock = FileLock(str(log.with_name(f".{run_dir.name}.lock")))
    try:
        lock.acquire(timeout=0)
    except Timeout:
        return SKIPPED, 0.0
    try:
        st = status(run_dir)
        if st.finished:  # finished elsewhere since this sweep looked
            return 0, 0.0
        if st == "partial" and "--resume" not in argv:
            argv = [*argv, "--resume"]
        t0 = time.perf_counter()
        with open(log, "w") as f:
            p = subprocess.Popen([sys.executable, "-m", "dlapps", *argv], stdout=f, stderr=subprocess.STDOUT,
                                 env={**os.environ, "PYTHONUNBUFFERED": "1"})
            _RUNNING.add(p)
            try:
                rc = p.wait()
            finally:
                _RUNNING.discard(p)
        return rc, time.perf_counter() - t0
    finally:
        lock.release()


def _stop_points() -> None:
    """Ctrl-C or SIGTERM of the sweep: stop its running points the same way (each keeps its last checkpoint
    and says so in its .log), so no orphan goes on training; the next run of the sweep resumes them."""
    import signal

    for p in list(_RUNNING):
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
    for p in list(_RUNNING):
        try:
            p.wait(timeout=60)
        except subprocess.TimeoutExpired:
            p.kill()


def run_sweep(cfg: SweepConfig, opts: RunOptions | None = None) -> RunResult:
    """Run every unfinished point, then aggregate. The sweep dir is ``opts.out`` (default
    runs/sweep-<file stem>); its metrics.json holds every point's mean ± sd over seeds.

    ``threads`` per point defaults to 1 so that results do not depend on ``jobs`` (CPU kernels reduce
    in a thread-count-dependent order); 0 splits the cores between the jobs instead."""
    check_config(cfg)
    opts = opts or RunOptions()
    file, quick, quiet, jobs, threads, backend, address = (Path(cfg.file), cfg.quick, opts.quiet, cfg.jobs,
                                                            cfg.threads, cfg.backend, cfg.address)
    seeds, select_by = cfg.seeds, cfg.select_by
    select = set(cfg.select) if cfg.select is not None else None
    out = Path(opts.out) if opts.out else None
    spec = load_spec(file)
    hooks = load_app(spec.command[0]) if spec.command else hooks_of(None)  # the app this sweep runs
    if select_by:
        if hooks.select_by is None:
            raise DlappsError(f"--select-by {select_by}: `{' '.join(spec.command)}` runs record no validators")
        select_by = hooks.select_by(select_by)
    if seeds is not None:
        spec.seeds = list(seeds)
    spec.extra = {k: list(v) for k, v in (cfg.extra_seeds or {}).items()}
    points = expand(spec, quick)
    out = Path(out) if out else Path("runs") / f"sweep-{Path(file).stem}{'-quick' if quick else ''}"
    validate_points(spec, points, out)
    out.mkdir(parents=True, exist_ok=True)
    planned = json.loads(json.dumps({p.dirname: {"command": spec.command, **p.options} for p in points}))
    _refuse_a_different_sweep(out, spec, planned, quick)
    RunDir(out).write_json("config.json", {"app": "sweep", "command": file.name, "options": {
        "file": file.name, "quick": quick, "spec": spec.__dict__, "points": planned}})
    jobs = max(1, jobs)
    if threads <= 0:  # split the cores: oversubscription costs more than it gives
        threads = max(1, available_cores() // jobs)
    todo = []
    for p in points:
        d = out / p.dirname
        st = status(d)
        if st.finished or (select is not None and p.name not in select):
            continue
        if st == "damaged":
            bad = "metrics.json" if _readable_config(d) else "config.json"
            if _readable_config(d):  # resume: the last checkpoint rebuilds the metrics
                print(f"damaged: {d / bad} cannot be read; the point resumes from its last checkpoint", flush=True)
                st = "partial"
            else:
                print(f"damaged: {d / bad} cannot be read; kept as {_set_aside(d).name}, the point reruns",
                      flush=True)
                st = "new"
        argv = argv_for(spec, p, d, threads) + (["--resume"] if st == "partial" else [])
        todo.append((p, argv, out / f"{p.dirname}.log"))
    if not quiet:
        print(f"sweep {file}: {len(points)} points, {len(todo)} to run "
              f"({jobs} job(s) x {threads} thread(s), backend {backend})", flush=True)
    failures: list[str] = []
    skipped: list[str] = []  # points another process holds (see _run_point): theirs to finish
    if backend == "ray":
        failures = _run_ray(todo, address, threads, out)
    elif backend == "local":
        from tqdm.auto import tqdm

        pool = ThreadPoolExecutor(max_workers=jobs)
        try:
            futs = {pool.submit(_run_point, argv, log): p for p, argv, log in todo}
            for fut in tqdm(futs, total=len(futs), desc="sweep points", disable=quiet or None):
                rc, _ = fut.result()
                if rc == SKIPPED:
                    skipped.append(futs[fut].dirname)
                elif rc != 0 and status(out / futs[fut].dirname) != "diverged":
                    failures.append(futs[fut].dirname)
        except KeyboardInterrupt:  # Ctrl-C, or SIGTERM through dlapps' main
            pool.shutdown(wait=False, cancel_futures=True)
            _stop_points()
            raise
        pool.shutdown()
    else:
        raise DlappsError("--backend must be local or ray")
    agg = aggregate(spec, points, out, select_by)
    if skipped and not quiet:
        print(f"{len(skipped)} point(s) left to the process already running them: {', '.join(skipped[:3])}"
              f"{'...' if len(skipped) > 3 else ''}", flush=True)
    if failures:
        raise DlappsError(f"{len(failures)} point(s) failed ({', '.join(failures[:3])}...); see their .log files "
                          f"in {out}; rerun the sweep to retry only those")
    return RunResult(out, RunDir(out).read_json("metrics.json") if (out / "metrics.json").exists() else {"points": agg})


def _refuse_a_different_sweep(out: Path, spec: SweepSpec, planned: dict[str, Any], quick: bool) -> None:
    """An existing sweep dir is the same sweep if every point that both name runs the same command with the
    same options: more seeds or new points extend it, and an edit that does not touch these runs (another
    [quick]) is harmless. Anything else would mix two experiments in one table: one clear error."""
    cfg_path = out / "config.json"
    if not cfg_path.exists():
        return
    try:
        old = json.loads(cfg_path.read_text(encoding="utf-8")).get("options", {})
    except (OSError, UnicodeDecodeError, ValueError, AttributeError):
        raise DlappsError(f"{cfg_path} is damaged (not readable JSON): the sweep cannot tell which experiment this "
                          "folder holds; restore it or choose another --out") from None
    if "points" in old:
        clash = [d for d in planned if d in old["points"] and old["points"][d] != planned[d]]
    else:  # a sweep dir from before points were recorded
        now = {k: v for k, v in json.loads(json.dumps(spec.__dict__)).items() if k != "extra"}
        clash = [] if old.get("spec") == now else ["(whole spec)"]
    if clash or old.get("quick") != quick:
        raise DlappsError(f"{out} holds a different sweep (point {(clash or ['quick/full'])[0]} differs); "
                          "choose another --out")


def _run_point_on_node(argv: list[str], log: str, marker: str) -> tuple[int, float, str]:
    """One point as a Ray task, on whichever node Ray picks. The sweep dir must be storage every node shares
    (results land where the driver reads them): the driver's marker file proves it. A point a previous attempt
    left unfinished (a killed worker, a retry) resumes from its last checkpoint (``_run_point`` decides)."""
    import socket

    node = socket.gethostname()
    if not Path(marker).exists():
        Path(log).parent.mkdir(parents=True, exist_ok=True)
        return -1, 0.0, f"{node}: cannot see {marker}; --out must be on storage every node of the cluster shares"
    rc, seconds = _run_point(argv, Path(log))
    return rc, seconds, node


def _run_ray(todo: list, address: str | None, threads: int, out: Path) -> list[str]:
    """Run the points as Ray tasks (``address``: a running cluster, e.g. ``auto`` on a node of it or
    ``ray://head:10001``; None starts a local instance), each with ``threads`` CPUs."""
    try:
        import ray
    except ImportError:
        raise DlappsError("--backend ray needs Ray: pip install 'dlapps[ray]'") from None
    try:
        ray.init(address=address, ignore_reinit_error=True, log_to_driver=False)
    except (ConnectionError, RuntimeError, ValueError) as e:
        raise DlappsError(f"cannot reach the Ray cluster at {address or 'a local instance'}: {e}") from None
    marker = out.resolve() / ".sweep-dir"
    atomic_write_text(marker, "dlapps sweep dir: every Ray node must see this file\n")
    remote = ray.remote(num_cpus=threads)(_run_point_on_node)
    refs = {remote.remote(argv, str(log.resolve()), str(marker)): (p, Path(argv[argv.index("--out") + 1]))
            for p, argv, log in todo}
    failures = []
    for ref, (p, run_dir) in refs.items():
        try:
            rc, _, node = ray.get(ref)
        except ray.exceptions.RayError as e:  # the task itself was lost (its node died, retries used up)
            rc, node = -1, f"lost ({e.__class__.__name__})"
        if rc == SKIPPED:
            print(f"point {p.dirname}: left to the process already running it", flush=True)
        elif rc != 0 and status(run_dir) != "diverged":
            failures.append(p.dirname)
            if not node or "cannot see" in node or "lost" in node:
                print(f"point {p.dirname}: {node}", flush=True)
    return failures


def aggregate(spec: SweepSpec, points: list[Point], out: Path, select_by: str | None = None) -> dict[str, Any]:
    """Mean ± std over seeds per point for the chosen metrics; table, figure, metrics.json, report; for runs
    that record validators (adapt), the selection table of every validator (and the ``select_by`` pick)."""
    from dlapps.runner.figures import plt

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
        k = metrics_keys[0]
        names = [n for n in agg if agg[n][k]["mean"] is not None]
        if names:
            fig, ax = plt.subplots(figsize=(max(5, 0.7 * len(names) + 2), 3.6))
            ax.bar(range(len(names)), [agg[n][k]["mean"] for n in names], yerr=[agg[n][k]["std"] for n in names],
                   capsize=3, color="tab:blue")
            ax.set_xticks(range(len(names)))
            ax.set_xticklabels(names, rotation=30, ha="right", fontsize=7)
            ax.set_ylabel(k)
            ax.set_title(f"{k} per point (mean ± sd over seeds)")
            run.save_figure(fig, "comparison")
    if hooks.history_curve is not None:
        _overlay_histories(run, groups, out, *hooks.history_curve)
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


def _overlay_histories(run: RunDir, groups: dict[str, list[Point]], out: Path, key: str, label: str) -> None:
    """The app's per-epoch curve (``key`` of each history row) of every point (first seed), overlaid."""
    from dlapps.runner.figures import curves

    series = {}
    for name, ps in groups.items():
        m = read_metrics(out / ps[0].dirname)
        if m is not None:
            h = m.get("history")
            if isinstance(h, list) and h and isinstance(h[0], dict) and key in h[0]:
                series[name] = [r[key] for r in h]
    if series:
        run.save_figure(curves(series, "epoch", label, f"{label[0].upper()}{label[1:]} per epoch"), "histories")
