"""Per-layer architecture table: output shape, parameters, cumulative parameters, share of the total."""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn as nn

from dlapps.runner.results import RunResult
from dlapps.transfer.config import InspectConfig
from dlapps.runner.runs import RunOptions, start_run
from dlapps.core.models import build_model
from dlapps.transfer.report import write_inspect_outputs


@dataclass
class LayerRow:
    name: str
    kind: str
    output_shape: tuple[int, ...]
    params: int
    cumulative: int
    share: float


def inspect_model(model: nn.Module, input_size: int = 224, in_ch: int = 3) -> tuple[list[LayerRow], int]:
    """Run one (1, C, S, S) input through the model and record every leaf module in execution order.

    Parameters are counted once per module (a module called twice is listed twice, counted once),
    so the rows add up to the model's total.
    """
    rows: list[tuple[str, str, tuple[int, ...], int]] = []
    seen: set[int] = set()
    names = {id(m): n for n, m in model.named_modules()}

    def hook(m: nn.Module, inp: tuple, out: torch.Tensor) -> None:
        p = 0 if id(m) in seen else sum(t.numel() for t in m.parameters(recurse=False))
        seen.add(id(m))
        shape = tuple(out.shape[1:]) if isinstance(out, torch.Tensor) else ()
        rows.append((names[id(m)], m.__class__.__name__, shape, p))

    leaves = [m for m in model.modules() if not list(m.children()) or any(True for _ in m.parameters(recurse=False))]
    hs = [m.register_forward_hook(hook) for m in leaves]
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            model(torch.zeros(1, in_ch, input_size, input_size))
    finally:
        for h in hs:
            h.remove()
        model.train(was_training)
    total = sum(p.numel() for p in model.parameters())
    out, cum = [], 0
    for name, kind, shape, p in rows:
        cum += p
        out.append(LayerRow(name, kind, shape, p, cum, p / total if total else 0.0))
    # parameters of modules never called in forward (rare) are still part of the total
    return out, total


def model_flops(model: nn.Module, input_size: int = 224, in_ch: int = 3) -> float:
    """Forward FLOPs of one image (torch's FlopCounterMode: 2 per multiply-add)."""
    from torch.utils.flop_counter import FlopCounterMode

    counter = FlopCounterMode(display=False)
    model.eval()
    with torch.no_grad(), counter:
        model(torch.zeros(1, in_ch, input_size, input_size))
    return float(counter.get_total_flops())


def run_inspect(cfg: InspectConfig, opts: RunOptions | None = None) -> RunResult:
    """The per-layer table of a model as a run: table, metrics (total parameters, FLOPs), report.
    Counting runs on the CPU (one input), so ``--device cuda`` is refused rather than recorded."""
    opts = opts or RunOptions()
    run, _ = start_run("transfer", "inspect", cfg, opts, devices=("cpu",))
    lm = build_model(cfg.model, cfg.weights)
    size = cfg.input_size or lm.input_size
    ch = lm.in_channels
    rows, total = inspect_model(lm.model, size, ch)
    flops = model_flops(lm.model, size, ch)
    metrics, table = write_inspect_outputs(run, cfg, rows, total, flops, size)
    return RunResult(run.path, {**metrics, "rows": table})
