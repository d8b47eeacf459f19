"""A GAN run's figures (losses, D outputs, progress grids and strip, samples by label, interpolation) and summary."""

from __future__ import annotations

import io
from typing import Any
import torch
from dlapps.runner.figures import curves, image_grid
from dlapps.generate.networks import Generator
from dlapps.runner.runs import RunDir, atomic_write_bytes
from dlapps.generate.config import GanConfig
from dlapps.generate.quality import generate


def progress_grid(run: RunDir, G: Generator, z: torch.Tensor, y: torch.Tensor, epoch: int, cond: bool) -> None:
    G.eval()
    with torch.no_grad():
        imgs = G(z, y if G.n_classes else None).cpu().add(1).div(2)
    G.train()
    from torchvision.utils import make_grid
    from PIL import Image

    run.tb.images("samples/fixed_noise", imgs, epoch, nrow=10)
    grid = make_grid(imgs, nrow=10, padding=2, pad_value=1.0).mul(255).byte().permute(1, 2, 0).numpy()
    buf = io.BytesIO()
    Image.fromarray(grid).save(buf, format="PNG")
    atomic_write_bytes(run.path / "progress" / f"epoch_{epoch:03d}.png", buf.getvalue())


def write_figures(run: RunDir, G: Generator, hist: dict, cfg: GanConfig, n_classes: int, device: torch.device,
             steps: int, seed: int) -> None:
    from PIL import Image

    sm = max(1, min(50, len(hist["loss_d"]) // 20))
    run.save_figure(curves({"D loss": hist["loss_d"], "G loss": hist["loss_g"]}, "step", "loss",
                           "Discriminator and generator losses", smooth=sm), "losses")
    run.save_figure(curves({"D(x)": hist["d_x"], "D(G(z))": hist["d_g_z"]}, "step", "mean D output",
                           "D on real and generated images", smooth=sm), "d_outputs")
    frames = sorted((run.path / "progress").glob("epoch_*.png"))
    if frames:
        imgs = [Image.open(f).convert("RGB") for f in frames]
        buf = io.BytesIO()
        imgs[0].save(buf, format="GIF", save_all=True, append_images=imgs[1:], duration=600, loop=0)
        atomic_write_bytes(run.path / "figures" / "progress.gif", buf.getvalue())
        # strip: the first row of the fixed-noise grid after each epoch (one row per epoch)
        w, h = imgs[0].size
        row_h = (h - 2) // 10
        strip = Image.new("RGB", (w, row_h * len(imgs) + 2), "white")
        for k, im in enumerate(imgs):
            strip.paste(im.crop((0, 0, w, row_h + 2)), (0, k * row_h))
        buf = io.BytesIO()
        strip.resize((w * 2, strip.size[1] * 2), Image.NEAREST).save(buf, format="PNG")
        atomic_write_bytes(run.path / "figures" / "progress_strip.png", buf.getvalue())
    if G.n_classes:
        # one row per label, one column per fixed z (the study's figure 47)
        g = torch.Generator().manual_seed(seed + 5)
        z = torch.randn(10, cfg.nz, generator=g).repeat(n_classes, 1).to(device)
        labels = torch.arange(n_classes).repeat_interleave(10).to(device)
        with torch.no_grad():
            imgs = G(z, labels).cpu().add(1).div(2)
        run.save_figure(image_grid(imgs, 10, "cGAN: one row per label, one column per fixed z"), "samples_by_label")
        # latent interpolation between two z, for each label
        z0, z1 = torch.randn(2, cfg.nz, generator=g)
        t = torch.linspace(0, 1, 10)[:, None]
        zi = (z0 * (1 - t) + z1 * t).repeat(n_classes, 1).to(device)
        with torch.no_grad():
            imgs = G(zi, labels).cpu().add(1).div(2)
        run.save_figure(image_grid(imgs, 10, "latent interpolation z0 → z1 (rows: labels)"), "interpolation")
    else:
        fake, _ = generate(G, 100, cfg.nz, n_classes, device, seed=seed + 3)
        run.save_figure(image_grid(fake.add(1).div(2), 10, "Final samples (10x10)"), "samples")


def write_summary(run: RunDir, cfg: GanConfig, m: dict[str, Any], bundle: Any) -> None:
    kind = "Conditional GAN" + ("" if cfg.label_in_d else " without the label in D") if cfg.conditional else "DCGAN"
    lines = [f"**{kind}** on {bundle.name} ({bundle.source}), {cfg.epochs} epochs, nz {cfg.nz}, ngf {cfg.ngf}, "
             f"ndf {cfg.ndf}, batch {cfg.batch_size}, Adam lr {cfg.lr} β1 {cfg.beta1}, init {cfg.init}"
             + (f", label to D: {cfg.d_label if cfg.label_in_d else 'none'}, to G: {cfg.g_label}" if cfg.conditional else "")
             + (", bfloat16 autocast" if cfg.precision == "bf16" else "") + ".", ""]
    if "class_coverage" in m:
        hist = ", ".join(f"{i}: {p:.1%}" for i, p in enumerate(m["class_hist"]))
        lines += [f"Quality over {m['eval_samples']:,} samples, judged by a reference classifier trained on "
                  f"{m.get('reference_classifier_trained_on', 'the real training set')} (test accuracy "
                  f"{m['reference_classifier_test_acc']:.4f}): "
                  f"**{m['class_coverage']} classes** with ≥ 2 % of the samples, class KL {m['class_kl']:.4f}, "
                  f"classifier-FID **{m['classifier_fid']:.3f}** (floor {m['classifier_fid_floor']:.3f}: "
                  f"{m.get('classifier_fid_floor_from', 'real train vs real test')})"
                  + (f", conditional accuracy **{m['conditional_accuracy']:.4f}**" if "conditional_accuracy" in m else "")
                  + (f", speck rate {m['speck_rate']:.4f} (share of samples with a stray dot of ink; real test "
                     f"images {m['speck_rate_real']:.4f})" if "speck_rate" in m else "")
                  + ".", "", f"Predicted class shares: {hist}.", "",
                  f"Standard FID/IS: {m['standard_fid_note']}.", ""]
    for f in m.get("failures", []):
        lines += [f"⚠ **{f}**", ""]
    if "timing" in m:
        lines += [f"Speed: {m['timing']['ms_per_step']:.1f} ms/step, {m['timing']['gflops_per_s']:.1f} GFLOP/s.", ""]
    run.write_text("summary.md", "\n".join(lines))
