"""The one training loop every app's training goes through: epochs (or rounds), checkpoints, resume, the per-epoch
history, TensorBoard scalars, keeping the best epoch and early stopping. Each app supplies its epoch.

As in nanoGPT's single loop and Lightning's ``fit``: the app says *what* one epoch does (DANN's steps, a GAN's
D/G steps, a pseudo-labelling round) and returns its row of numbers; ``fit`` owns *when* things are saved and
resumed, so every app resumes the same way, and one checkpoint format serves them all::

    checkpoints/last.pt = {"parts": {name: state_dict}, "epoch": units done, "unit": "epoch" | "round",
                           "history": [row per unit], "state": {the app's own resumable data}}

An interrupted run (Ctrl-C, SIGTERM, a killed process) resumes after its last finished unit with the same numbers,
because each app seeds its epoch by the epoch's index. A non-finite loss (``DivergenceError``) saves the finished
units first, then propagates: the run dir keeps them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Protocol

from dlapps import DlappsError
from dlapps.core.compute import DivergenceError
from dlapps.runner.runs import RunDir, RunOptions

Row = dict[str, Any]


class Stateful(Protocol):
    def state_dict(self) -> dict[str, Any]: ...
    def load_state_dict(self, state: dict[str, Any]) -> Any: ...


@dataclass
class Loop:
    """What one app's training is made of; ``fit`` runs it.

    ``epoch(i, history)`` trains unit ``i`` (0-based) and returns its row (``history`` holds the rows before it).
    """

    parts: dict[str, Stateful]                    # modules and optimisers, checkpointed by name
    epoch: Callable[[int, list[Row]], Row]        # one unit of training, seeded by its index
    epochs: int                                   # units to train (a --stop-after screen: fewer than the schedule)
    unit: str = "epoch"                           # "epoch" | "round": how the history and the messages count
    state: dict[str, Any] = field(default_factory=dict)  # the app's own resumable data, updated in place on resume
    best: Callable[[list[Row]], bool] | None = None   # whether the last row is the best so far (keeps selected.pt)
    stop: Callable[[list[Row]], bool] | None = None   # early stopping, asked before each unit (and on resume)
    keep: tuple[str, ...] = ("model",)            # the parts selected.pt keeps
    progress: Callable[[list[Row]], dict[str, Any]] | None = None  # metrics.json while it trains
    say: Callable[[list[Row]], str] | None = None  # the line printed after each unit (not with --quiet)
    after: Callable[[list[Row]], None] | None = None  # raises to end the run once the unit is saved (a NaN test loss)


def checkpoint(loop: Loop, history: list[Row], parts: tuple[str, ...] | None = None) -> dict[str, Any]:
    """The one checkpoint format (see the module docstring)."""
    names = parts or tuple(loop.parts)
    return {"parts": {n: loop.parts[n].state_dict() for n in names}, "epoch": len(history), "unit": loop.unit,
            "history": history, "state": loop.state}


def parts_of(ckpt: dict[str, Any]) -> dict[str, Any]:
    """The state dicts of a checkpoint, by part name (checkpoints of dlapps before ``fit`` kept them at the top)."""
    return ckpt["parts"] if "parts" in ckpt else ckpt


def resume(run: RunDir, loop: Loop) -> list[Row]:
    """Load the last checkpoint into the loop's parts and state; its history ([] when there is none)."""
    ckpt = run.load_checkpoint()
    if ckpt is None:
        return []
    if "parts" not in ckpt:
        raise DlappsError(f"{run.path}: its checkpoint comes from an older dlapps and cannot be resumed; run the "
                          "command again without --resume into a new --out")
    for name, part in loop.parts.items():
        part.load_state_dict(ckpt["parts"][name])
    loop.state.update(ckpt["state"])
    print(f"resuming after {loop.unit} {ckpt['epoch']}", flush=True)
    return list(ckpt["history"])


def fit(run: RunDir, opts: RunOptions, loop: Loop) -> list[Row]:
    """Train ``loop`` in ``run`` (resuming it with ``opts.resume``); returns the whole history."""
    history = resume(run, loop) if opts.resume else []
    for i in range(len(history), loop.epochs):
        if loop.stop is not None and loop.stop(history):  # also when resuming a run that had stopped itself
            break
        try:
            row = loop.epoch(i, history)
        except DivergenceError:
            run.save_checkpoint(checkpoint(loop, history))  # the finished units stay resumable and readable
            raise
        history.append(row)
        run.tb.scalars(loop.unit, {k: v for k, v in row.items() if isinstance(v, (int, float))}, i + 1)
        if loop.best is not None and loop.best(history):
            run.save_checkpoint(checkpoint(loop, history, loop.keep), "selected.pt")
        run.save_checkpoint(checkpoint(loop, history))
        if loop.progress is not None:
            run.write_metrics(loop.progress(history))
        if loop.say is not None and not opts.quiet:
            print(loop.say(history), flush=True)
        if loop.after is not None:
            loop.after(history)
    return history
