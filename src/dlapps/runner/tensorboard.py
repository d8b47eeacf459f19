"""Optional TensorBoard logging of a run, into its run dir (``tb/``): scalars per step and per epoch,
image grids, embeddings for the projector, and the run's config as hparams.

Off unless ``--tensorboard`` or ``DLAPPS_TENSORBOARD=1``; needs the ``tensorboard`` package (the
optional extra ``dlapps[tensorboard]``). Watching a run: ``tensorboard --logdir runs/``.
Everything logged here is also in metrics.json, so TensorBoard is a view, never the record.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Mapping

import torch

from dlapps import DlappsError


def tensorboard_wanted(flag: bool) -> bool:
    """--tensorboard, or DLAPPS_TENSORBOARD set to 1/true/yes."""
    return flag or os.environ.get("DLAPPS_TENSORBOARD", "").lower() in ("1", "true", "yes")


class TBLog:
    """A SummaryWriter in ``<run dir>/tb`` when enabled, else every call does nothing (no import cost)."""

    def __init__(self, run_dir: Path | None, enabled: bool) -> None:
        self.writer = None
        if not enabled or run_dir is None:
            return
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError:
            raise DlappsError("--tensorboard needs the tensorboard package: pip install 'dlapps[tensorboard]'") from None
        self.writer = SummaryWriter(log_dir=str(Path(run_dir) / "tb"))

    @property
    def enabled(self) -> bool:
        return self.writer is not None

    def scalars(self, prefix: str, values: Mapping[str, Any], step: int) -> None:
        """Each number in ``values`` as ``<prefix>/<key>`` at ``step`` (non-numbers are skipped)."""
        if self.writer is None:
            return
        for k, v in values.items():
            if isinstance(v, (int, float)) and not isinstance(v, bool):
                self.writer.add_scalar(f"{prefix}/{k}", float(v), step)

    def images(self, tag: str, x: torch.Tensor, step: int = 0, nrow: int = 8) -> None:
        """A grid of images (B, C, H, W) in [0, 1]."""
        if self.writer is None:
            return
        import torchvision

        grid = torchvision.utils.make_grid(x.detach().float().cpu().clamp(0, 1), nrow=nrow, padding=1)
        self.writer.add_image(tag, grid, step)

    def embedding(self, features: torch.Tensor, labels: list[str], tag: str, step: int = 0) -> None:
        """(N, D) features with one label per row, for TensorBoard's projector."""
        if self.writer is None:
            return
        self.writer.add_embedding(features.detach().float().cpu(), metadata=labels, tag=tag, global_step=step)

    def hparams(self, config: Mapping[str, Any], metrics: Mapping[str, Any]) -> None:
        """The run's options (numbers, strings, booleans) beside its final scalar metrics."""
        if self.writer is None:
            return
        hp = {k: v for k, v in config.items() if isinstance(v, (int, float, str, bool))}
        final = {f"final/{k}": float(v) for k, v in metrics.items()
                 if isinstance(v, (int, float)) and not isinstance(v, bool)}
        self.writer.add_hparams(hp, final, run_name=".")

    def close(self) -> None:
        if self.writer is not None:
            self.writer.flush()
            self.writer.close()
            self.writer = None
