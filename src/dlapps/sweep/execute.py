"""Running a sweep's points: local processes (one thread each by default) or Ray tasks; resuming, refusing a different sweep in the same dir, stopping cleanly."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from dlapps import DlappsError
from dlapps.apps import load_app
from dlapps.core.compute import available_cores
from dlapps.runner.hooks import hooks_of
from dlapps.runner.options import check_config
from dlapps.runner.results import RunResult
from dlapps.runner.runs import RunDir, RunOptions, atomic_write_text
from dlapps.sweep.aggregate import aggregate
from dlapps.sweep.spec import Point, SweepSpec, apply_settings_from, argv_for, expand, load_spec, validate_points
from dlapps.sweep.state import RunState, _readable_config, _set_aside, status
from dlapps.sweep_config import SweepConfig

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
    file, quiet = Path(cfg.file), opts.quiet
    spec = load_spec(file)
    select_by = _select_by(spec, cfg.select_by or spec.select_by)
    if spec.settings_from:  # the options a selection sweep chose, read from its files, never typed in
        said = apply_settings_from(spec, required=not (cfg.plan or cfg.quick))
        if not quiet:
            print(said, flush=True)
    if cfg.seeds is not None:
        spec.seeds = list(cfg.seeds)
    spec.extra = {k: list(v) for k, v in (cfg.extra_seeds or {}).items()}
    points = expand(spec, cfg.quick)
    out = Path(opts.out) if opts.out else Path("runs") / f"sweep-{file.stem}{'-quick' if cfg.quick else ''}"
    validate_points(spec, points, out)
    if cfg.plan:  # checked and listed; nothing created
        states = {p.dirname: str(status(out / p.dirname)) for p in points}
        if not quiet:
            for d, s in states.items():
                print(f"{s:>9}  {d}", flush=True)
        return RunResult(out, {"plan": states})
    out.mkdir(parents=True, exist_ok=True)
    planned = json.loads(json.dumps({p.dirname: {"command": spec.command, **p.options} for p in points}))
    _refuse_a_different_sweep(out, spec, planned, cfg.quick)
    RunDir(out).write_json("config.json", {"app": "sweep", "command": file.name, "options": {
        "file": file.name, "quick": cfg.quick, "spec": spec.__dict__, "points": planned}})
    jobs = max(1, cfg.jobs)
    threads = cfg.threads if cfg.threads > 0 else max(1, available_cores() // jobs)  # oversubscription costs more
    todo = _todo(spec, points, out, threads, set(cfg.select) if cfg.select is not None else None)
    if not quiet:
        print(f"sweep {file}: {len(points)} points, {len(todo)} to run "
              f"({jobs} job(s) x {threads} thread(s), backend {cfg.backend})", flush=True)
    if cfg.backend == "ray":
        failures, skipped = _run_ray(todo, cfg.address, threads, out), []
    else:
        failures, skipped = _run_local(todo, jobs, out, quiet)
    agg = aggregate(spec, points, out, select_by)
    if skipped and not quiet:
        print(f"{len(skipped)} point(s) left to the process already running them: {', '.join(skipped[:3])}"
              f"{'...' if len(skipped) > 3 else ''}", flush=True)
    if failures:
        raise DlappsError(f"{len(failures)} point(s) failed ({', '.join(failures[:3])}...); see their .log files "
                          f"in {out}; rerun the sweep to retry only those")
    return RunResult(out, RunDir(out).read_json("metrics.json") if (out / "metrics.json").exists() else {"points": agg})


def _select_by(spec: SweepSpec, name: str | None) -> str | None:
    """The canonical name of a --select-by validator, from the app the sweep runs (its hooks know them)."""
    if not name:
        return None
    hooks = load_app(spec.command[0]) if spec.command else hooks_of(None)
    if hooks.select_by is None:
        raise DlappsError(f"--select-by {name}: `{' '.join(spec.command)}` runs record no validators")
    return hooks.select_by(name)


def _todo(spec: SweepSpec, points: list[Point], out: Path, threads: int,
          select: set[str] | None) -> list[tuple[Point, list[str], Path]]:
    """The points left to run (point, command line, log file): not finished, and among ``select`` if given. A
    damaged point resumes from its checkpoint if its config can be read, else it is set aside and reruns."""
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
                st = RunState.PARTIAL
            else:
                print(f"damaged: {d / bad} cannot be read; kept as {_set_aside(d).name}, the point reruns",
                      flush=True)
                st = RunState.NEW
        argv = argv_for(spec, p, d, threads) + (["--resume"] if st == "partial" else [])
        todo.append((p, argv, out / f"{p.dirname}.log"))
    return todo


def _run_local(todo: list[tuple[Point, list[str], Path]], jobs: int, out: Path,
               quiet: bool) -> tuple[list[str], list[str]]:
    """Run the points as local processes, ``jobs`` at a time. Returns (failed points, points another process
    holds). A point that stopped itself (a NaN) is a result, not a failure."""
    from tqdm.auto import tqdm  # only when points run here

    failures: list[str] = []
    skipped: list[str] = []  # points another process holds (see _run_point): theirs to finish
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
    return failures, skipped


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
