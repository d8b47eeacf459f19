"""DCGAN / conditional GAN training loop (pytorch/examples style): one step, checkpoints, the run."""

from __future__ import annotations

import time
from typing import Any
import numpy as np
import torch
import torch.nn.functional as F
from tqdm.auto import tqdm
from dlapps import DlappsError
from dlapps.core.compute import DivergenceError
from dlapps.generate.networks import Discriminator, Generator, conv_flops
from dlapps.runner.report import build_report
from dlapps.runner.results import RunResult
from dlapps.runner.fit import Loop, fit
from dlapps.runner.runs import RunDir, RunOptions, start_run
from dlapps.generate.config import GanConfig, build_nets, load_gan_data
from dlapps.generate.quality import coverage_failure, quality
from dlapps.generate.report import write_figures, progress_grid, write_summary


def run_gan(cfg: GanConfig, opts: RunOptions | None = None) -> RunResult:
    """Train a DCGAN or cGAN; write losses, progress grids, samples, quality metrics and the report."""
    opts = opts or RunOptions()
    run, device = start_run(  # checks the Config (ranges, GanConfig.check) before the run dir exists
        "generate", "cgan" if cfg.conditional else "dcgan", cfg, opts)
    x, y, x_test, y_test, bundle = load_gan_data(cfg)
    run.update_config(data_source=bundle.source + (f" [{bundle.note}]" if bundle.note else ""))
    n_classes, nc = len(bundle.class_names), x.shape[1]
    G, D = build_nets(cfg, nc, n_classes)
    # channels-last (NHWC) activations: oneDNN's (transposed) convolutions run faster on CPU (same maths)
    G, D = G.to(device, memory_format=torch.channels_last), D.to(device, memory_format=torch.channels_last)
    hist, failures, t_train, trained_epochs, steps = train_gan(G, D, x, y, n_classes, cfg, run, opts, device)
    G.eval()
    metrics: dict[str, Any] = {"epochs_done": cfg.epochs, "steps": len(hist["loss_d"]), "failures": failures}
    if t_train:
        fl = _step_flops(G, D, cfg, nc, n_classes)
        ms = 1000 * t_train / (trained_epochs * steps)
        # train_s covers this process's epochs only (a resumed run's last part): epochs_timed says how many
        metrics["timing"] = {"train_s": t_train, "epochs_timed": trained_epochs, "ms_per_step": ms,
                             "gflops_per_s": fl / ms / 1e6}
    if cfg.eval_samples:
        metrics.update(quality(G, cfg, x_test, y_test, n_classes, bundle, device, opts))
        msg = coverage_failure(metrics["class_coverage"], n_classes)
        if msg:
            failures.append(msg)
            print("warning: " + msg, flush=True)
    metrics["failures"] = failures
    run.write_metrics(metrics)
    write_figures(run, G, hist, cfg, n_classes, device, steps, opts.seed)
    write_summary(run, cfg, metrics, bundle)
    build_report([run.path], title=f"generate {'cGAN' if cfg.conditional else 'DCGAN'}")
    return RunResult(run.path, metrics)


def fixed_noise(nz: int, n_classes: int, seed: int, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """The progress grids' fixed noise, the same every epoch: 100 z (10 per class row for the cGAN)."""
    g = torch.Generator().manual_seed(seed + 99)
    return (torch.randn(100, nz, generator=g).to(device),
            torch.arange(10).repeat_interleave(10).remainder(n_classes).to(device))


def train_gan(G: Generator, D: Discriminator, x: torch.Tensor, y: torch.Tensor, n_classes: int, cfg: GanConfig,
              run: RunDir, opts: RunOptions, device: torch.device) -> tuple[dict[str, list[float]], list[str], float,
                                                                            int, int]:
    """The GAN's epoch, readable top to bottom, run by the one loop (``runner.fit``: checkpoints, resume).
    Returns the per-step history, the failures seen, the training seconds, the epochs trained by this call
    and the steps per epoch."""
    optG = torch.optim.Adam(G.parameters(), lr=cfg.lr, betas=(cfg.beta1, 0.999))
    optD = torch.optim.Adam(D.parameters(), lr=cfg.lr, betas=(cfg.beta1, 0.999))
    fixed_z, fixed_y = fixed_noise(cfg.nz, n_classes, opts.seed, device)
    steps = len(x) // cfg.batch_size
    if steps == 0:
        raise DlappsError(f"--batch-size {cfg.batch_size} is larger than the {len(x)} training images")
    # resumable: the per-step losses (D, G, D(x), D(G(z))) and the failures seen so far
    state: dict[str, Any] = {"hist": {"loss_d": [], "loss_g": [], "d_x": [], "d_g_z": []}, "failures": []}
    timed = {"s": 0.0, "epochs": 0, "low_d": 0}  # this process only: a resumed run times its own part

    def epoch(e: int, history: list[dict[str, float]]) -> dict[str, float]:
        hist, failures = state["hist"], state["failures"]
        torch.manual_seed(opts.seed * 1000 + e)  # per-epoch seeding: identical numbers after --resume
        perm = torch.randperm(len(x))
        G.train(); D.train()  # noqa: E702
        t0 = time.perf_counter()
        bar = tqdm(range(steps), desc=f"epoch {e + 1}/{cfg.epochs}", disable=opts.quiet or None, leave=False)
        for i in bar:
            idx = perm[i * cfg.batch_size:(i + 1) * cfg.batch_size]
            real = x[idx].to(device, memory_format=torch.channels_last)     # (B, C, 32, 32)
            lab = y[idx].to(device)                                          # (B,)
            z = torch.randn(cfg.batch_size, cfg.nz, device=device)
            fake_lab = torch.randint(n_classes, (cfg.batch_size,), device=device)
            loss_d, loss_g, out_real, out_fake = gan_step(G, D, optG, optD, real, lab, z, fake_lab, cfg.label_in_d,
                                                          cfg.precision)
            ld, lg = loss_d.item(), loss_g.item()
            hist["loss_d"].append(ld)
            hist["loss_g"].append(lg)
            hist["d_x"].append(torch.sigmoid(out_real).mean().item())
            hist["d_g_z"].append(torch.sigmoid(out_fake).mean().item())
            if not (np.isfinite(ld) and np.isfinite(lg)):
                raise DivergenceError(f"loss became NaN/inf at epoch {e + 1}, step {i + 1}; "
                                      f"checkpoint of epoch {e} kept in {run.path / 'checkpoints'}")
            timed["low_d"] = timed["low_d"] + 1 if ld < 1e-3 else 0
            if timed["low_d"] == cfg.collapse_steps:
                msg = f"discriminator collapse: D loss < 1e-3 for {cfg.collapse_steps} steps (epoch {e + 1})"
                failures.append(msg)
                print("warning: " + msg, flush=True)
            if i % 25 == 0:
                bar.set_postfix(D=f"{ld:.3f}", G=f"{lg:.3f}")
            run.tb.scalars("step", {k: v[-1] for k, v in hist.items()}, e * steps + i)
        timed["s"] += time.perf_counter() - t0
        timed["epochs"] += 1
        progress_grid(run, G, fixed_z, fixed_y, e + 1, cfg.conditional)
        return {"epoch": e + 1, **{k: float(np.mean(v[-steps:])) for k, v in hist.items()}}  # this epoch's means

    def say(history: list[dict[str, float]]) -> str:
        m = history[-1]
        return (f"epoch {m['epoch']}: loss D {m['loss_d']:.3f}, G {m['loss_g']:.3f}, D(x) {m['d_x']:.3f}, "
                f"D(G(z)) {m['d_g_z']:.3f}")

    fit(run, opts, Loop({"G": G, "D": D, "optG": optG, "optD": optD}, epoch, cfg.epochs, state=state, say=say))
    return state["hist"], state["failures"], timed["s"], timed["epochs"], steps


def gan_step(G: Generator, D: Discriminator, optG: torch.optim.Optimizer, optD: torch.optim.Optimizer,
             real: torch.Tensor, lab: torch.Tensor, z: torch.Tensor, fake_lab: torch.Tensor,
             label_in_d: bool = True, precision: str = "fp32") -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """One DCGAN step (pytorch/examples order): update D on real + fake, then G through the new D.

    Returns the D loss, the G loss and D's logits on the real and the fake batch.
    """
    ones = torch.ones(len(real), device=real.device)
    zeros = torch.zeros(len(real), device=real.device)
    amp = lambda: torch.autocast(real.device.type, dtype=torch.bfloat16, enabled=precision == "bf16")  # noqa: E731
    dl, fl = (lab, fake_lab) if label_in_d else (None, None)
    with amp():
        fake = G(z, fake_lab)                                                # (B, C, 32, 32)
        # (1) D: maximise log D(x) + log(1 - D(G(z)))
        out_real = D(real, dl).float()
        out_fake = D(fake.detach(), fl).float()
    loss_d = F.binary_cross_entropy_with_logits(out_real, ones) + F.binary_cross_entropy_with_logits(out_fake, zeros)
    optD.zero_grad(set_to_none=True)
    loss_d.backward()
    optD.step()
    # (2) G: maximise log D(G(z)). D's weights are frozen for this pass: the textbook loop also
    # computes D's weight gradients here and then throws them away (optD.zero_grad comes first in
    # the next D step); skipping them gives G the same update for ~15 % less work.
    D.requires_grad_(False)
    try:
        with amp():
            out = D(fake, fl).float()
        loss_g = F.binary_cross_entropy_with_logits(out, ones)
        optG.zero_grad(set_to_none=True)
        loss_g.backward()
        optG.step()
    finally:
        D.requires_grad_(True)
    return loss_d.detach(), loss_g.detach(), out_real.detach(), out_fake.detach()


def _step_flops(G: Generator, D: Discriminator, cfg: GanConfig, nc: int, k: int) -> float:
    """FLOPs of one training step: G fwd+bwd, D fwd+bwd on real, on fake (twice), ≈ 3x forward each."""
    z = torch.randn(2, cfg.nz)
    lab = torch.zeros(2, dtype=torch.long)
    g = conv_flops(G, z, lab)
    d = conv_flops(D, torch.zeros(2, nc, 32, 32), lab)
    return cfg.batch_size * (3 * g + 3 * d * 3)
