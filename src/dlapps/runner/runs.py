"""Run directories: resolved config, atomic writes, checkpoints and resume.

Layout of one run::

    RUN/config.json      resolved options, data source, versions, seed, device
    RUN/metrics.json     stable keys (README "Run directories"; the study reads them)
    RUN/tables/*.md|csv  tables ready to paste into a report
    RUN/figures/*.png
    RUN/checkpoints/     torch state, loaded with weights_only=True
    RUN/report.md|html   rebuilt from the files above by ``dlapps report``
"""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import os
import platform
import sys
import time
from pathlib import Path
from typing import Any, Iterable, Literal, Sequence

import torch

from dlapps import DlappsError, __version__
from dlapps.core.files import atomic_write_bytes, atomic_write_text  # noqa: F401  (runs' writers)
from dlapps.runner.options import opt, check_config
from dlapps.core.compute import resolve_device, seed_everything, set_threads
from dlapps.runner.tensorboard import TBLog, tensorboard_wanted
from dlapps.runner.tables import markdown_table

Device = Literal["auto", "cpu", "cuda", "mps"]


def to_jsonable(obj: Any) -> Any:
    """Dataclasses, paths, numpy and torch scalars -> plain JSON values."""
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return to_jsonable(dataclasses.asdict(obj))
    if isinstance(obj, dict):
        return {str(k): to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [to_jsonable(v) for v in obj]
    if isinstance(obj, Path):
        return str(obj)
    if hasattr(obj, "item") and callable(obj.item) and getattr(obj, "ndim", 0) == 0:
        return obj.item()
    if hasattr(obj, "tolist"):
        return obj.tolist()
    return obj


def metric(metrics: dict[str, Any], key: str) -> Any:
    """A dotted metrics.json key (``target.class_acc``), or None where it is absent."""
    v: Any = metrics
    for k in key.split("."):
        if not isinstance(v, dict) or k not in v:
            return None
        v = v[k]
    return v


def environment_info() -> dict[str, Any]:
    """Versions and machine facts recorded in every config, so numbers can be traced."""
    from importlib.metadata import PackageNotFoundError, version

    import numpy

    try:  # the installed version, without importing torchvision (seconds) into commands that do not use it
        tv = version("torchvision")
    except PackageNotFoundError:
        tv = "not installed"
    return {
        "dlapps": __version__,
        "python": sys.version.split()[0],
        "torch": torch.__version__,
        "torchvision": tv,
        "numpy": numpy.__version__,
        "platform": platform.platform(),
        "threads": torch.get_num_threads(),
        **source_commit(),
    }


def read_run_json(path: Path) -> Any:
    """A run's config.json or metrics.json read for a command that uses an existing run; a damaged one is the
    user's one-line error, not a traceback."""
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError):
        raise DlappsError(f"{path} is damaged (not readable JSON); restore it from a copy") from None


def source_commit() -> dict[str, Any]:
    """The git commit of the dlapps source that ran (``+dirty`` when it had uncommitted changes), so a published
    number names the code that made it; nothing when dlapps is not run from a git checkout (a pip install)."""
    import subprocess

    here = Path(__file__).resolve().parent
    try:
        head = subprocess.run(["git", "-C", str(here), "rev-parse", "--short=12", "HEAD"], capture_output=True,
                              text=True, timeout=10)
        if head.returncode != 0:
            return {}
        dirty = subprocess.run(["git", "-C", str(here), "status", "--porcelain", "--untracked-files=no", "--", "."],
                               capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return {}
    return {"commit": head.stdout.strip() + ("+dirty" if dirty else "")}


def default_out(app: str, command: str, root: str | Path = "runs") -> Path:
    """``runs/<app>-<command>-<timestamp>``; a numeric suffix keeps two runs in one second apart."""
    stamp = time.strftime("%Y%m%d-%H%M%S")
    base = Path(root) / f"{app}-{command}-{stamp}"
    path, k = base, 1
    while path.exists():
        k += 1
        path = base.with_name(f"{base.name}-{k}")
    return path


LAST_CHECKPOINT: dict[str, str] = {}  # the run dir and progress ("epoch 3") of this process's last checkpoint
# run dirs this process started with nothing in them (path -> whether the folder existed before), so a command
# that fails before its first result (a misspelt class, a missing file) can leave no empty run dir behind
STARTED_EMPTY: dict[Path, bool] = {}


def _progress_of(state: dict[str, Any]) -> str:
    if "epoch" in state:  # runner.fit's checkpoints: units done, and whether they are epochs or rounds
        return f"{state.get('unit', 'epoch')} {state['epoch']}"
    return "its last checkpoint"


class RunDir:
    """One run's folder. Create it with :meth:`create`; everything is written atomically."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self.tb = TBLog(None, False)  # TensorBoard view of the run; enabled by start_run(--tensorboard)

    # ----------------------------------------------------------------- creation / resume
    @classmethod
    def create(cls, path: Path | str | None, app: str, command: str, config: Any,
               resume: bool = False, extra: dict[str, Any] | None = None,
               may_change: set[str] | None = None, defaults: dict[str, Any] | None = None) -> "RunDir":
        """Make a new run dir (or reopen one with ``resume``) and write ``config.json``.

        An existing run dir is never overwritten: without ``resume`` it is an error, and with it the
        stored options must match the new ones (apart from the seed-independent run controls and the options
        ``may_change`` names, those a Config declares ``on_resume``). An option the stored run did not record
        (added to dlapps since) matches at its default (``defaults``; else the Config dataclass's own).
        """
        may_change = may_change if may_change is not None else _may_change(config)
        path = Path(path) if path else default_out(app, command)
        run = cls(path)
        cfg = {"app": app, "command": command, "options": to_jsonable(config)}
        if path.exists() and not path.is_dir():
            raise DlappsError(f"--out {path} is a file, not a folder; choose another --out")
        if path.exists() and any(path.iterdir()):
            if not (path / "config.json").exists():
                raise DlappsError(f"{path} exists and is not a dlapps run dir (no config.json); choose another --out")
            if not run.has_results():
                # life cycle: created -> has results -> complete. A run that failed before producing anything
                # (an unknown class name, a missing file) holds only its config (the command line removes such a
                # dir; a Python caller may keep it): the same --out starts afresh
                resume = False
            elif not resume:
                raise DlappsError(f"run dir {path} already exists; pass --resume to continue it or choose another --out")
            if resume:
                old = run.read_json("config.json")
                if old.get("app") != app or old.get("command") != command:
                    raise DlappsError(f"{path} holds a '{old.get('app')} {old.get('command')}' run, not '{app} {command}'")
                changed = _changed_options(old.get("options", {}), cfg["options"],
                                           defaults if defaults is not None else _defaults(config), may_change)
                if changed:
                    raise DlappsError(f"cannot resume {path}: options differ from the stored run ({', '.join(changed)})")
        elif resume and not path.exists():
            raise DlappsError(f"--resume given but {path} does not exist")
        if not run.has_results():
            STARTED_EMPTY.setdefault(path, path.exists() and not (path / "config.json").exists())
        try:
            for sub in ("tables", "figures", "checkpoints"):
                (path / sub).mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise DlappsError(f"cannot write run dir {path}: {e.strerror}") from None
        if not os.access(path, os.W_OK):
            raise DlappsError(f"cannot write run dir {path}: permission denied")
        cfg.update(extra or {})
        cfg["environment"] = environment_info()
        cfg["created"] = time.strftime("%Y-%m-%dT%H:%M:%S")
        if resume and (path / "config.json").exists():
            old = run.read_json("config.json")
            # the options a resume may change (how far to train) are recorded as this sitting set them
            options = {**old.get("options", {}), **{k: v for k, v in cfg["options"].items() if k in may_change}}
            cfg = {**old, "options": options, "environment": cfg["environment"], "resumed": cfg["created"],
                   **(extra or {})}
        run.write_json("config.json", cfg)
        return run

    def has_results(self) -> bool:
        """Whether the run produced anything (metrics, a checkpoint, a table, a figure or a report)."""
        if (self.path / "metrics.json").exists() or (self.path / "report.md").exists():
            return True
        return any(f.is_file() for sub in ("checkpoints", "tables", "figures") if (self.path / sub).is_dir()
                   for f in (self.path / sub).iterdir())

    def remove_if_empty(self, keep_folder: bool = False) -> bool:
        """Delete a run dir that holds no result (only its config, empty folders, TensorBoard's header); the
        folder itself stays where it existed before the run. Whether anything was removed."""
        import shutil

        if not self.path.is_dir() or self.has_results():
            return False
        for name in ("config.json", "tables", "figures", "checkpoints", "tb"):
            f = self.path / name
            if f.is_dir():
                shutil.rmtree(f, ignore_errors=True)
            elif f.exists():
                f.unlink()
        if not keep_folder and not any(self.path.iterdir()):
            self.path.rmdir()
        return True

    @classmethod
    def open_finished(cls, path: Path | str, app: str) -> tuple["RunDir", dict[str, Any], dict[str, Any]]:
        """An existing run dir of ``app`` with its config and last checkpoint (for sample / pseudo-label)."""
        run = cls(Path(path))
        if not (run.path / "config.json").exists():
            raise DlappsError(f"{path} is not a dlapps run dir (no config.json)")
        cfg = read_run_json(run.path / "config.json")
        if not isinstance(cfg, dict) or cfg.get("app") != app:
            found = cfg.get("app") if isinstance(cfg, dict) else None
            raise DlappsError(f"{path} holds {'an ' + repr(found) if found else 'no dlapps'} run, not a {app!r} run")
        ckpt = run.load_checkpoint()
        if ckpt is None:
            raise DlappsError(f"{path} has no checkpoint (checkpoints/last.pt)")
        return run, cfg, ckpt

    def update_config(self, **items: Any) -> None:
        """Add resolved facts (data source actually used, device, ...) to ``config.json``."""
        cfg = self.read_json("config.json")
        cfg.update(to_jsonable(items))
        self.write_json("config.json", cfg)

    # ----------------------------------------------------------------------------- files
    def file(self, name: str) -> Path:
        return self.path / name

    def write_json(self, name: str, obj: Any) -> Path:
        p = self.path / name
        atomic_write_text(p, json.dumps(to_jsonable(obj), indent=2, allow_nan=True) + "\n")
        return p

    def read_json(self, name: str) -> Any:
        with open(self.path / name, encoding="utf-8") as f:
            return json.load(f)

    def write_metrics(self, metrics: dict[str, Any]) -> Path:
        """metrics.json (atomically); TensorBoard's events are flushed at the same moment, so both agree."""
        path = self.write_json("metrics.json", metrics)
        if self.tb.writer is not None:
            self.tb.writer.flush()
        return path

    def write_text(self, name: str, text: str) -> Path:
        p = self.path / name
        atomic_write_text(p, text)
        return p

    def write_table(self, name: str, header: Sequence[str], rows: Iterable[Sequence[Any]],
                    caption: str = "") -> Path:
        """Write ``tables/<name>.md`` and ``tables/<name>.csv`` from the same rows."""
        rows = [list(r) for r in rows]
        md = (f"**{caption}**\n\n" if caption else "") + markdown_table(header, rows) + "\n"
        atomic_write_text(self.path / "tables" / f"{name}.md", md)
        buf = io.StringIO()
        w = csv.writer(buf)
        w.writerow(header)
        w.writerows(rows)
        atomic_write_text(self.path / "tables" / f"{name}.csv", buf.getvalue())
        return self.path / "tables" / f"{name}.md"

    def save_figure(self, fig: Any, name: str, dpi: int = 110) -> Path:
        """Save a matplotlib figure atomically as ``figures/<name>.png`` and close it."""
        import matplotlib.pyplot as plt

        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=dpi, bbox_inches="tight")
        plt.close(fig)
        p = self.path / "figures" / f"{name}.png"
        atomic_write_bytes(p, buf.getvalue())
        return p

    # ----------------------------------------------------------------------- checkpoints
    def save_checkpoint(self, state: dict[str, Any], name: str = "last.pt") -> Path:
        """Atomic ``torch.save``: an interrupt mid-write leaves the previous checkpoint intact."""
        buf = io.BytesIO()
        torch.save(state, buf)
        p = self.path / "checkpoints" / name
        atomic_write_bytes(p, buf.getvalue())
        if name == "last.pt":  # what a stopped run can say it kept
            LAST_CHECKPOINT.update(run=str(self.path), progress=_progress_of(state))
        return p

    def load_checkpoint(self, name: str = "last.pt") -> dict[str, Any] | None:
        """The checkpoint's state, or ``None`` when there is none yet (a fresh run)."""
        p = self.path / "checkpoints" / name
        if not p.exists():
            return None
        try:
            return torch.load(p, map_location="cpu", weights_only=True)
        except Exception as e:  # corrupt / foreign file
            raise DlappsError(f"cannot read checkpoint {p}: {e.__class__.__name__}") from None


def _changed_options(old: dict[str, Any], new: dict[str, Any], defaults: dict[str, Any] | None = None,
                     may_change: set[str] | None = None) -> list[str]:
    """Option names whose values differ; run controls (threads, quiet, device) and the options a Config marks
    ``on_resume`` (``may_change``) may change on resume.

    ``defaults``: an option added after the run was made is absent from its config; at its default it is
    what that run did (a new knob defaults to the old behaviour), so the run still resumes."""
    ignore = {"threads", "quiet", "device", "resume", "out", *(may_change or ())}
    defaults = defaults or {}
    keys = (set(old) | set(new)) - ignore
    return sorted(k for k in keys if old.get(k) != new.get(k)
                  and not (k not in old and k in defaults and new.get(k) == defaults[k]))


def _may_change(config: Any) -> set[str]:
    """The fields of a Config dataclass declared ``opt(..., on_resume=True)``."""
    if not dataclasses.is_dataclass(config):
        return set()
    return {f.name for f in dataclasses.fields(config) if f.metadata.get("on_resume")}


def _defaults(config: Any) -> dict[str, Any]:
    """A Config dataclass's field defaults, as config.json writes them."""
    if not dataclasses.is_dataclass(config):
        return {}
    out = {}
    for f in dataclasses.fields(config):
        if f.default is not dataclasses.MISSING:
            out[f.name] = to_jsonable(f.default)
        elif f.default_factory is not dataclasses.MISSING:
            out[f.name] = to_jsonable(f.default_factory())
    return out


@dataclasses.dataclass
class RunOptions:
    """Options every computing command shares (they control the run, not the experiment)."""

    out: str | None = opt(None, "Run directory [default: runs/<app>-<command>-<timestamp>].", metavar="DIR")
    resume: bool = opt(False, "Continue an interrupted run in --out from its last checkpoint.")
    seed: int = opt(0, "Random seed (same seed, same numbers on CPU).", low=0)
    device: Device = opt("auto", "auto picks cuda, then mps, then cpu.")
    threads: int = opt(0, "Torch CPU threads (0 = one per available core).", low=0)
    quiet: bool = opt(False, "No progress bars (they are also off when output is not a terminal).")
    preset: str | None = opt(None, "Fill options not given from a named preset: study (the study's settings) or "
                                   "paper (recorded in config.json).", metavar="NAME")
    tensorboard: bool = opt(False, "Also log scalars, images and embeddings to <run dir>/tb (or "
                                   "DLAPPS_TENSORBOARD=1).")


def start_run(app: str, command: str, config: Any, opts: RunOptions,
              extra: dict[str, Any] | None = None,
              devices: tuple[str, ...] = ("cpu", "cuda", "mps")) -> tuple[RunDir, torch.device]:
    """Seed, set threads, pick the device and create (or reopen) the run dir with its config.

    ``devices``: the device types the command actually runs on. ``--device auto`` picks among them; an
    explicit device the command cannot use is refused, so config.json never records a device a run did
    not use. A choice field (``Literal``) of the config or the options outside its choices is refused first,
    before anything is created."""
    if dataclasses.is_dataclass(config):  # a Config built in Python gets the checks click gives the CLI
        check_config(config)
    check_config(opts)
    threads = set_threads(opts.threads)
    if opts.device == "auto" and devices == ("cpu",):
        device = torch.device("cpu")
    else:
        device = resolve_device(opts.device)
    if device.type not in devices:
        raise DlappsError(f"`{app} {command}` runs on {' or '.join(devices)} only; --device {opts.device} is not "
                          "supported for it (use --device cpu)")
    seed_everything(opts.seed)
    info = {"seed": opts.seed, "device": str(device), "threads": threads, "preset": opts.preset, **(extra or {})}
    run = RunDir.create(opts.out, app, command, {**to_jsonable(config), "seed": opts.seed},
                        resume=opts.resume, extra=info, may_change=_may_change(config),
                        defaults=_defaults(config))  # the dict above has lost which options are new
    run.tb = TBLog(run.path, tensorboard_wanted(opts.tensorboard))
    run.tb.hparams({"app": app, "command": command, **to_jsonable(config), **info}, {})
    if not opts.quiet:
        print(f"run dir: {run.path}" + (f" (TensorBoard: tensorboard --logdir {run.path / 'tb'})" if run.tb.enabled
                                        else ""), flush=True)
    return run, device


def discard_empty_runs() -> list[Path]:
    """After a failed or interrupted command: remove the run dirs it started that still hold no result, so a
    mistake leaves nothing to clean up (a run that wrote a checkpoint, a table or metrics is always kept)."""
    return [p for p, existed in STARTED_EMPTY.items() if RunDir(p).remove_if_empty(keep_folder=existed)]
