"""``generate evaluate`` and ``generate sample`` on a finished run dir: the saved generator, re-measured or sampled."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any
import numpy as np
import torch
from dlapps import DlappsError
from dlapps.runner.figures import image_grid
from dlapps.generate.networks import Generator
from dlapps.runner.fit import parts_of
from dlapps.runner.report import build_report
from dlapps.runner.runs import RunDir, RunOptions, atomic_write_bytes, read_run_json, source_commit
from dlapps.generate.config import GanConfig, load_gan_data
from dlapps.generate.quality import coverage_failure, generate, quality
from dlapps.generate.report import write_summary


def _saved_generator(ckpt: dict[str, Any], o: dict[str, Any]) -> tuple[Generator, int]:
    """Rebuild the generator of a checkpoint; label count and channels are read off its weights."""
    sd = parts_of(ckpt)["G"]
    n_classes = sd["net.0.weight"].shape[0] - o["nz"]
    nc = sd["net.9.weight"].shape[1]  # last ConvTranspose2d: (ngf, nc, 4, 4)
    G = Generator(o["nz"], o["ngf"], nc, n_classes, label_bn=any(k.startswith("label_bn.") for k in sd))
    G.load_state_dict(sd)
    return G.eval(), n_classes


def evaluate_run(run_dir: Path, eval_samples: int = 10000, seed: int | None = None, quiet: bool = False,
                 device: torch.device = torch.device("cpu")) -> dict[str, Any]:
    """Recompute the quality metrics of a saved generator (e.g. after the reference classifier changed, or to
    add a metric a run predates). ``seed`` defaults to the run's own, so the samples are the ones its training
    measured and unchanged metrics come out identical; metrics.json records the call beside them."""
    run, cfg_d, ckpt = RunDir.open_finished(run_dir, "generate")
    o = cfg_d["options"]
    cfg = GanConfig(**{k: v for k, v in o.items() if k in GanConfig.__dataclass_fields__})
    cfg.eval_samples = eval_samples
    seed = int(cfg_d.get("seed", 0)) if seed is None else seed
    G, n_classes = _saved_generator(ckpt, o)
    x, y, x_test, y_test, bundle = load_gan_data(cfg)
    # training's own keys (timing, failures) stay beside the re-measured ones
    metrics = read_run_json(run.path / "metrics.json") if (run.path / "metrics.json").exists() else {}
    q = quality(G.to(device), cfg, x_test, y_test, len(bundle.class_names), bundle, device,
                RunOptions(seed=seed, quiet=quiet))
    # the numbers this call replaces stay in the file, so a re-measurement never silently rewrites a result
    previous = {k: metrics[k] for k in q if k in metrics and metrics[k] != q[k]}
    metrics.update(q)
    metrics["evaluated"] = {"command": f"dlapps generate evaluate RUN_DIR --eval-samples {eval_samples} --seed {seed}",
                            **source_commit(), **({"replaced": previous} if previous else {})}
    metrics["failures"] = [f for f in metrics.get("failures", []) if "coverage collapse" not in f]
    msg = coverage_failure(q["class_coverage"], len(bundle.class_names))
    if msg:
        metrics["failures"].append(msg)
    run.write_metrics(metrics)
    write_summary(run, cfg, metrics, bundle)
    build_report([run.path], title=f"generate {'cGAN' if cfg.conditional else 'DCGAN'}")
    return metrics


def sample(run_dir: Path, n: int = 100, seed: int = 0, label: int | None = None,
           device: torch.device = torch.device("cpu")) -> Path:
    """Write n new samples (grid PNG + uint8 npz) from a saved generator into RUN_DIR/samples/."""
    run, cfg_d, ckpt = RunDir.open_finished(run_dir, "generate")
    o = cfg_d["options"]
    G, n_classes = _saved_generator(ckpt, o)
    labels = None
    if label is not None:
        if not n_classes:
            raise DlappsError("--label needs a conditional (cgan) run")
        if not 0 <= label < n_classes:
            raise DlappsError(f"--label must be in 0..{n_classes - 1}")
        labels = torch.full((n,), label, dtype=torch.long)
    imgs, asked = generate(G.to(device), n, o["nz"], n_classes, device, seed, labels)
    imgs = imgs.add(1).div(2)
    stem = f"samples_n{n}_seed{seed}" + (f"_label{label}" if label is not None else "")
    out = run.path / "samples" / f"{stem}.png"
    if out.exists():
        raise DlappsError(f"{out} exists already; choose another --seed")
    from dlapps.runner.figures import plt  # matplotlib: only when a figure is drawn

    fig = image_grid(imgs[:min(n, 400)], nrow=min(20, int(np.ceil(np.sqrt(min(n, 400))))), title=stem)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)
    atomic_write_bytes(out, buf.getvalue())
    arr = imgs.mul(255).round().byte().permute(0, 2, 3, 1).numpy()
    buf = io.BytesIO()
    np.savez_compressed(buf, images=arr, labels=asked.numpy())
    atomic_write_bytes(out.with_suffix(".npz"), buf.getvalue())
    return out
