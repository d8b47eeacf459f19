"""DCGAN / conditional GAN training loop (pytorch/examples style), metrics, figures and sampling."""

from __future__ import annotations

import io
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from dlapps import DlappsError
from dlapps.compute import DivergenceError
from dlapps.data import load_dataset
from dlapps.figures import curves, image_grid
from dlapps.generate import metrics as M
from dlapps.generate.networks import Discriminator, Generator, conv_flops, dcgan_init
from dlapps.report import build_report
from dlapps.results import RunResult
from dlapps.runs import RunDir, RunOptions, atomic_write_bytes, start_run


@dataclass
class GanConfig:
    data: str = "mnist"            # mnist | cifar10 (or any registry name with 32x32-able images)
    data_source: str = "auto"      # auto|local|download|embedded
    conditional: bool = False      # cGAN: the label goes to G (and to D unless label_in_d is False)
    label_in_d: bool = True        # the study's ablation: --no-label-in-d
    d_label: str = "projection"    # how D sees the label: input (one-hot maps only, the lab) | projection (also a class-specific last layer)
    g_label: str = "bn"            # how G sees the label: input (one-hot next to z, the lab) | bn (also class-specific batch-norm gain/shift)
    nz: int = 100                  # latent size
    ngf: int = 32                  # generator width
    ndf: int = 32                  # discriminator width
    epochs: int = 5
    batch_size: int = 128
    lr: float = 2e-4
    beta1: float = 0.5
    init: str = "dcgan"            # dcgan: N(0, .02) convs, N(1, .02) BN | default: PyTorch's init
    limit: int = 0                 # >0: first N training images (quick runs)
    eval_samples: int = 10000      # generated samples for the quality metrics (0 = skip metrics)
    collapse_steps: int = 200      # D loss < 1e-3 for this many steps in a row = discriminator collapse
    precision: str = "fp32"        # fp32 | bf16: bfloat16 autocast for the training step's convolutions (weights,
                                   # optimiser and metrics stay float32); ~1.5x faster on CPUs with AMX/AVX512-BF16


def _images_32(x: torch.Tensor) -> torch.Tensor:
    """uint8 (N, C, H, W) -> float (N, C, 32, 32) in [-1, 1] (MNIST is padded 2 px, like the lab)."""
    x = x.float().div_(127.5).sub_(1)
    if x.shape[-1] == 28:
        x = F.pad(x, (2, 2, 2, 2), value=-1.0)
    elif x.shape[-1] != 32:
        x = F.interpolate(x, size=(32, 32), mode="bilinear", align_corners=False, antialias=True)
    return x.contiguous()


def load_gan_data(cfg: GanConfig) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, Any]:
    b = load_dataset(cfg.data, source=cfg.data_source)
    if b.train.encoded:
        raise DlappsError(f"{cfg.data}: generate needs a tensor dataset such as mnist or cifar10")
    xtr, ytr = b.train.images, b.train.labels
    if cfg.limit:
        xtr, ytr = xtr[:cfg.limit], ytr[:cfg.limit]
    return _images_32(xtr), ytr, _images_32(b.test.images), b.test.labels, b


def build_nets(cfg: GanConfig, nc: int, n_classes: int) -> tuple[Generator, Discriminator]:
    if cfg.init not in ("dcgan", "default"):
        raise DlappsError("--init must be dcgan or default")
    k = n_classes if cfg.conditional else 0
    if cfg.g_label not in ("input", "bn"):
        raise DlappsError("--g-label must be input or bn")
    G = Generator(cfg.nz, cfg.ngf, nc, k, label_bn=cfg.g_label == "bn")
    if cfg.d_label not in ("input", "projection"):
        raise DlappsError("--d-label must be input or projection")
    D = Discriminator(cfg.ndf, nc, k if cfg.label_in_d else 0, projection=cfg.d_label == "projection")
    if cfg.init == "dcgan":
        G.apply(dcgan_init)
        D.apply(dcgan_init)
    return G, D


def run_gan(cfg: GanConfig, opts: RunOptions | None = None) -> RunResult:
    """Train a DCGAN or cGAN; write losses, progress grids, samples, quality metrics and the report."""
    opts = opts or RunOptions()
    if cfg.epochs < 1 or cfg.batch_size < 2:
        raise DlappsError("--epochs must be >= 1 and --batch-size >= 2")
    if cfg.precision not in ("fp32", "bf16"):
        raise DlappsError("--precision must be fp32 or bf16")
    if not cfg.conditional and not cfg.label_in_d:
        raise DlappsError("--no-label-in-d only applies to the conditional GAN (generate cgan)")
    run, device = start_run("generate", "cgan" if cfg.conditional else "dcgan", cfg, opts)
    x, y, x_test, y_test, bundle = load_gan_data(cfg)
    run.update_config(data_source=bundle.source + (f" [{bundle.note}]" if bundle.note else ""))
    n_classes, nc = len(bundle.class_names), x.shape[1]
    G, D = build_nets(cfg, nc, n_classes)
    # channels-last (NHWC) activations: oneDNN's (transposed) convolutions run faster on CPU (same maths)
    G, D = G.to(device, memory_format=torch.channels_last), D.to(device, memory_format=torch.channels_last)
    optG = torch.optim.Adam(G.parameters(), lr=cfg.lr, betas=(cfg.beta1, 0.999))
    optD = torch.optim.Adam(D.parameters(), lr=cfg.lr, betas=(cfg.beta1, 0.999))
    # fixed noise for the progress grids: 10 z per class row for the cGAN, 100 z otherwise
    g = torch.Generator().manual_seed(opts.seed + 99)
    fixed_z = torch.randn(100, cfg.nz, generator=g).to(device)
    fixed_y = torch.arange(10).repeat_interleave(10).remainder(n_classes).to(device)
    hist: dict[str, list[float]] = {"loss_d": [], "loss_g": [], "d_x": [], "d_g_z": []}
    failures: list[str] = []
    start_epoch, low_d = 0, 0
    ckpt = run.load_checkpoint() if opts.resume else None
    if ckpt is not None:
        G.load_state_dict(ckpt["G"]); D.load_state_dict(ckpt["D"])  # noqa: E702
        optG.load_state_dict(ckpt["optG"]); optD.load_state_dict(ckpt["optD"])  # noqa: E702
        hist, start_epoch, failures = ckpt["hist"], ckpt["epoch"], ckpt["failures"]
        print(f"resuming after epoch {start_epoch}", flush=True)
    steps = len(x) // cfg.batch_size
    if steps == 0:
        raise DlappsError(f"--batch-size {cfg.batch_size} is larger than the {len(x)} training images")
    t_train = 0.0
    for epoch in range(start_epoch, cfg.epochs):
        torch.manual_seed(opts.seed * 1000 + epoch)  # per-epoch seeding: identical numbers after --resume
        perm = torch.randperm(len(x))
        G.train(); D.train()  # noqa: E702
        t0 = time.perf_counter()
        bar = tqdm(range(steps), desc=f"epoch {epoch + 1}/{cfg.epochs}", disable=opts.quiet or None, leave=False)
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
                _save(run, G, D, optG, optD, epoch, hist, failures, fixed_z, fixed_y)
                raise DivergenceError(f"loss became NaN/inf at epoch {epoch + 1}, step {i + 1}; "
                                      f"checkpoint of epoch {epoch} kept in {run.path / 'checkpoints'}")
            low_d = low_d + 1 if ld < 1e-3 else 0
            if low_d == cfg.collapse_steps:
                msg = f"discriminator collapse: D loss < 1e-3 for {cfg.collapse_steps} steps (epoch {epoch + 1})"
                failures.append(msg)
                print("warning: " + msg, flush=True)
            if i % 25 == 0:
                bar.set_postfix(D=f"{ld:.3f}", G=f"{lg:.3f}")
            run.tb.scalars("step", {k: v[-1] for k, v in hist.items()}, epoch * steps + i)
        t_train += time.perf_counter() - t0
        run.tb.scalars("epoch", {k: float(np.mean(v[-steps:])) for k, v in hist.items()}, epoch + 1)
        _progress_grid(run, G, fixed_z, fixed_y, epoch + 1, cfg.conditional)
        _save(run, G, D, optG, optD, epoch + 1, hist, failures, fixed_z, fixed_y)
        if not opts.quiet:
            n = steps
            print(f"epoch {epoch + 1}: loss D {np.mean(hist['loss_d'][-n:]):.3f}, G {np.mean(hist['loss_g'][-n:]):.3f}, "
                  f"D(x) {np.mean(hist['d_x'][-n:]):.3f}, D(G(z)) {np.mean(hist['d_g_z'][-n:]):.3f}", flush=True)
    G.eval()
    metrics: dict[str, Any] = {"epochs_done": cfg.epochs, "steps": len(hist["loss_d"]), "failures": failures}
    if t_train:
        fl = _step_flops(G, D, cfg, nc, n_classes)
        ms = 1000 * t_train / ((cfg.epochs - start_epoch) * steps)
        metrics["timing"] = {"train_s": t_train, "ms_per_step": ms, "gflops_per_s": fl / ms / 1e6}
    if cfg.eval_samples:
        metrics.update(quality(G, cfg, x, y, x_test, y_test, n_classes, bundle, device, opts))
        if metrics["class_coverage"] < max(2, int(0.8 * n_classes)):
            msg = (f"class coverage collapse: only {metrics['class_coverage']} of {n_classes} classes have >= 2 % "
                   "of the samples (mode collapse)")
            failures.append(msg)
            print("warning: " + msg, flush=True)
    metrics["failures"] = failures
    run.write_metrics(metrics)
    _figures(run, G, hist, cfg, n_classes, device, steps, opts.seed)
    _summary(run, cfg, metrics, bundle)
    build_report([run.path], title=f"generate {'cGAN' if cfg.conditional else 'DCGAN'}")
    return RunResult(run.path, metrics)


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


def _save(run: RunDir, G: Generator, D: Discriminator, optG: Any, optD: Any, epoch: int, hist: dict,
          failures: list[str], fixed_z: torch.Tensor, fixed_y: torch.Tensor) -> None:
    run.save_checkpoint({"G": G.state_dict(), "D": D.state_dict(), "optG": optG.state_dict(),
                         "optD": optD.state_dict(), "epoch": epoch, "hist": hist, "failures": failures,
                         "fixed_z": fixed_z.cpu(), "fixed_y": fixed_y.cpu()})


def _step_flops(G: Generator, D: Discriminator, cfg: GanConfig, nc: int, k: int) -> float:
    """FLOPs of one training step: G fwd+bwd, D fwd+bwd on real, on fake (twice), ≈ 3x forward each."""
    z = torch.randn(2, cfg.nz)
    lab = torch.zeros(2, dtype=torch.long)
    g = conv_flops(G, z, lab)
    d = conv_flops(D, torch.zeros(2, nc, 32, 32), lab)
    return cfg.batch_size * (3 * g + 3 * d * 3)


@torch.no_grad()
def generate(G: Generator, n: int, nz: int, n_classes: int, device: torch.device, seed: int,
             labels: torch.Tensor | None = None, batch: int = 1000) -> tuple[torch.Tensor, torch.Tensor]:
    """n samples in [-1, 1] (CPU) and the labels they were asked for (uniform when conditional)."""
    g = torch.Generator().manual_seed(seed)
    if labels is None:
        labels = torch.arange(n) % max(n_classes, 1)
    out = []
    for i in range(0, n, batch):
        z = torch.randn(min(batch, n - i), nz, generator=g).to(device)
        out.append(G(z, labels[i:i + batch].to(device) if G.n_classes else None).cpu())
    return torch.cat(out), labels


def quality(G: Generator, cfg: GanConfig, x: torch.Tensor, y: torch.Tensor, x_test: torch.Tensor,
            y_test: torch.Tensor, n_classes: int, bundle: Any, device: torch.device, opts: RunOptions) -> dict:
    """Coverage, KL, classifier-FID (+ floor), conditional accuracy.

    The judge is one cached classifier per dataset and source, trained on the dataset's whole training
    split whatever this run's --limit, so numbers of runs with different options stay comparable."""
    x_full = _images_32(bundle.train.images)
    ref = M.reference_classifier(x_full, bundle.train.labels, x_test, y_test,
                                 key=f"{cfg.data}|{bundle.source}", seed=0, quiet=opts.quiet)
    ref_split = ("its test images (no training split is available here, so the judge has seen the images it is "
                 "tested on)" if bundle.train is bundle.test else "its whole training split")
    n = cfg.eval_samples
    fake, asked = generate(G, n, cfg.nz, n_classes, device, seed=opts.seed + 7)
    pred = M.predict(ref.model, fake).argmax(1)
    real_dist = np.bincount(bundle.train.labels.numpy(), minlength=n_classes).astype(float)
    out: dict[str, Any] = M.class_coverage(pred, n_classes, real_dist)
    m = min(n, len(x_test), len(x_full))  # the floor (real train vs real test) ignores --limit too
    g = torch.Generator().manual_seed(1)
    f_test = M.features(ref.model, x_test[torch.randperm(len(x_test), generator=g)[:m]])
    f_train = M.features(ref.model, x_full[torch.randperm(len(x_full), generator=g)[:m]])
    out["classifier_fid"] = M.frechet_distance(M.features(ref.model, fake[:m]), f_test)
    out["classifier_fid_floor"] = M.frechet_distance(f_train, f_test)
    out["reference_classifier_test_acc"] = ref.test_acc
    out["eval_samples"] = n
    if cfg.conditional:
        out["conditional_accuracy"] = (pred == asked).float().mean().item()
    out["reference_classifier_trained_on"] = ref_split
    out["standard_fid_note"] = ("not computed: the Inception weights that FID/IS need cannot be downloaded offline; "
                                "classifier-FID uses a classifier trained on the dataset instead")
    return out


def _progress_grid(run: RunDir, G: Generator, z: torch.Tensor, y: torch.Tensor, epoch: int, cond: bool) -> None:
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


def _figures(run: RunDir, G: Generator, hist: dict, cfg: GanConfig, n_classes: int, device: torch.device,
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


def _summary(run: RunDir, cfg: GanConfig, m: dict[str, Any], bundle: Any) -> None:
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
                  f"classifier-FID **{m['classifier_fid']:.3f}** (real train vs real test floor "
                  f"{m['classifier_fid_floor']:.3f})"
                  + (f", conditional accuracy **{m['conditional_accuracy']:.4f}**" if "conditional_accuracy" in m else "")
                  + ".", "", f"Predicted class shares: {hist}.", "",
                  f"Standard FID/IS: {m['standard_fid_note']}.", ""]
    for f in m.get("failures", []):
        lines += [f"⚠ **{f}**", ""]
    if "timing" in m:
        lines += [f"Speed: {m['timing']['ms_per_step']:.1f} ms/step, {m['timing']['gflops_per_s']:.1f} GFLOP/s.", ""]
    run.write_text("summary.md", "\n".join(lines))


def _saved_generator(ckpt: dict[str, Any], o: dict[str, Any]) -> tuple[Generator, int]:
    """Rebuild the generator of a checkpoint; label count and channels are read off its weights."""
    sd = ckpt["G"]
    n_classes = sd["net.0.weight"].shape[0] - o["nz"]
    nc = sd["net.9.weight"].shape[1]  # last ConvTranspose2d: (ngf, nc, 4, 4)
    G = Generator(o["nz"], o["ngf"], nc, n_classes, label_bn=any(k.startswith("label_bn.") for k in sd))
    G.load_state_dict(sd)
    return G.eval(), n_classes


def evaluate_run(run_dir: Path, eval_samples: int = 10000, seed: int = 0, quiet: bool = False,
                 device: torch.device = torch.device("cpu")) -> dict[str, Any]:
    """Recompute the quality metrics of a saved generator (e.g. after the reference classifier changed)."""
    run, cfg_d, ckpt = RunDir.open_finished(run_dir, "generate")
    o = cfg_d["options"]
    cfg = GanConfig(**{k: v for k, v in o.items() if k in GanConfig.__dataclass_fields__})
    cfg.eval_samples = eval_samples
    G, n_classes = _saved_generator(ckpt, o)
    x, y, x_test, y_test, bundle = load_gan_data(cfg)
    metrics = run.read_json("metrics.json") if (run.path / "metrics.json").exists() else {}
    q = quality(G.to(device), cfg, x, y, x_test, y_test, len(bundle.class_names), bundle, device,
                RunOptions(seed=seed, quiet=quiet))
    metrics.update(q)
    metrics["failures"] = [f for f in metrics.get("failures", []) if "coverage collapse" not in f]
    if q["class_coverage"] < max(2, int(0.8 * len(bundle.class_names))):
        metrics["failures"].append(f"class coverage collapse: only {q['class_coverage']} classes have >= 2 % "
                                   "of the samples (mode collapse)")
    run.write_metrics(metrics)
    _summary(run, cfg, metrics, bundle)
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
    from dlapps.figures import plt

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
