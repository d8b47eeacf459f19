"""generate benchmark on the real MNIST of ../shared/data.

In one script: a plain reference loop (pytorch/examples dcgan style: torchvision-style Dataset with
per-sample PIL transforms + DataLoader, default threads, the same networks and batch, the textbook
concatenating D in NCHW) and dlapps' step run in alternating blocks of the same number of steps; then
the lab-default cGAN and DCGAN train for 5 epochs on full MNIST and report their quality metrics.

    python benchmarks/bench_generate.py [--epochs 5] [--blocks 8] [--steps 10] [--out runs/bench-generate]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torch.utils.data import DataLoader, Dataset
from torchvision import transforms as T

from common import matmul_peak_gflops, ms_per_step, shared_dir

from dlapps.generate import GanConfig, run_gan
from dlapps.generate.train import build_nets, gan_step, load_gan_data
from dlapps.generate.networks import Discriminator, Generator, dcgan_init
from dlapps.runs import RunOptions


class PilMnist(Dataset):
    def __init__(self, x: np.ndarray, y: np.ndarray):
        self.x, self.y = x, y
        self.tf = T.Compose([T.Resize(32), T.ToTensor(), T.Normalize((0.5,), (0.5,))])

    def __len__(self) -> int:
        return len(self.y)

    def __getitem__(self, i: int):
        return self.tf(Image.fromarray(self.x[i])), int(self.y[i])


def plain_d(D: Discriminator, x: torch.Tensor, labels: torch.Tensor | None) -> torch.Tensor:
    """The textbook conditional D forward: concatenate K one-hot label maps to the image, NCHW."""
    if not D.n_classes:
        return D.net(x).view(-1)
    maps = F.one_hot(labels, D.n_classes).float()[:, :, None, None].expand(-1, -1, x.shape[2], x.shape[3])
    x = torch.cat([x, maps], 1)
    if D.embed is None:
        return D.net(x).view(-1)
    h = D.net[:-1](x)
    return D.net[-1](h).view(-1) + (D.embed(labels) * h.flatten(1)).sum(1)


def reference_step(conditional: bool, d_label: str, g_label: str) -> Callable[[], None]:
    """One step of the plain loop: DataLoader + per-sample PIL transforms, NCHW, textbook D."""
    d = np.load(shared_dir() / "data" / "mnist.npz")
    loader = DataLoader(PilMnist(d["x_train"], d["y_train"]), batch_size=128, shuffle=True, drop_last=True)
    k = 10 if conditional else 0
    G = Generator(100, 32, 1, k, label_bn=g_label == "bn")
    D = Discriminator(32, 1, k, projection=d_label == "projection")
    G.apply(dcgan_init)
    D.apply(dcgan_init)
    oG = torch.optim.Adam(G.parameters(), 2e-4, betas=(0.5, 0.999))
    oD = torch.optim.Adam(D.parameters(), 2e-4, betas=(0.5, 0.999))
    it = iter(loader)

    def step() -> None:
        nonlocal it
        try:
            real, lab = next(it)
        except StopIteration:
            it = iter(loader)
            real, lab = next(it)
        lab = lab if k else None
        z = torch.randn(128, 100)
        fl = torch.randint(10, (128,)) if k else None
        fake = G(z, fl)
        ld = F.binary_cross_entropy_with_logits(plain_d(D, real, lab), torch.ones(128)) + \
            F.binary_cross_entropy_with_logits(plain_d(D, fake.detach(), fl), torch.zeros(128))
        oD.zero_grad()
        ld.backward()
        oD.step()
        lg = F.binary_cross_entropy_with_logits(plain_d(D, fake, fl), torch.ones(128))
        oG.zero_grad()
        lg.backward()
        oG.step()
        ld.item(), lg.item()

    return step


def dlapps_step(cfg: GanConfig) -> Callable[[], None]:
    """One step as run_gan takes it: tensor data set, channels-last, gan_step, the loss reads."""
    x, y, _, _, bundle = load_gan_data(cfg)
    G, D = build_nets(cfg, x.shape[1], len(bundle.class_names))
    G, D = G.to(memory_format=torch.channels_last), D.to(memory_format=torch.channels_last)
    oG = torch.optim.Adam(G.parameters(), cfg.lr, betas=(cfg.beta1, 0.999))
    oD = torch.optim.Adam(D.parameters(), cfg.lr, betas=(cfg.beta1, 0.999))

    def step() -> None:
        idx = torch.randint(len(x), (cfg.batch_size,))
        real = x[idx].to(memory_format=torch.channels_last)
        z = torch.randn(cfg.batch_size, cfg.nz)
        fl = torch.randint(10, (cfg.batch_size,))
        ld, lg, _, _ = gan_step(G, D, oG, oD, real, y[idx], z, fl, cfg.label_in_d)
        ld.item(), lg.item()

    return step


def interleaved_speed(cfg: GanConfig, blocks: int, steps: int) -> tuple[float, float]:
    """ms/step of the reference and of dlapps, timed in alternating blocks of ``steps`` steps.

    Alternating keeps both under the same machine conditions (this VM's speed drifts by tens of
    percent over minutes); each gets the median of its blocks.
    """
    ref, ours = reference_step(cfg.conditional, cfg.d_label, cfg.g_label), dlapps_step(cfg)
    t_ref, t_ours = [], []
    for _ in range(blocks):
        t_ref.append(ms_per_step(ref, steps, warmup=1))
        t_ours.append(ms_per_step(ours, steps, warmup=1))
    return float(np.median(t_ref)), float(np.median(t_ours))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--epochs", type=int, default=5)
    ap.add_argument("--steps", type=int, default=10, help="steps per timed block")
    ap.add_argument("--blocks", type=int, default=8, help="alternating reference/dlapps blocks")
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--out", default="runs/bench-generate")
    ap.add_argument("--models", default="cgan,dcgan", help="which GANs to train after the speed check")
    args = ap.parse_args()
    shared_dir()
    out = Path(args.out)
    res: dict[str, object] = {}
    default_threads = torch.get_num_threads()
    ref, ours = interleaved_speed(GanConfig(conditional=True), args.blocks, args.steps)
    peak = matmul_peak_gflops()
    res.update(reference_ms_per_step=ref, dlapps_ms_per_step=ours, speedup_interleaved=ref / ours,
               reference_threads=default_threads, peak_gflops=peak)
    print(f"cGAN step, {args.blocks} alternating blocks of {args.steps} steps: reference (DataLoader + per-sample PIL "
          f"transforms, textbook D, {default_threads} threads) {ref:.0f} ms/step, dlapps {ours:.0f} ms/step "
          f"-> {ref / ours:.2f}x")
    print(f"measured matmul peak: {peak:.0f} GFLOP/s")
    opts = lambda name: RunOptions(out=str(out / name), resume=(out / name / "config.json").exists(),
                                   threads=args.threads, quiet=True)
    for name, cond in (("cgan", True), ("dcgan", False)):
        if name not in args.models.split(","):
            continue
        r = run_gan(GanConfig(conditional=cond, epochs=args.epochs), opts(name))
        m = r.metrics
        res[name] = {k: m.get(k) for k in ("class_coverage", "class_kl", "classifier_fid", "classifier_fid_floor",
                                           "conditional_accuracy", "failures", "timing", "class_hist")}
        t = m.get("timing", {})
        line = (f"{name} ({args.epochs} epochs): {m['class_coverage']}/10 classes >= 2 %, KL {m['class_kl']:.4f}, "
                f"classifier-FID {m['classifier_fid']:.3f} (floor {m['classifier_fid_floor']:.3f})")
        if cond:
            line += f", conditional accuracy {m['conditional_accuracy']:.4f}"
        print(line)
        if t:
            print(f"   speed over the whole run: {t['ms_per_step']:.0f} ms/step ({ref / t['ms_per_step']:.2f}x the "
                  "reference's interleaved median), "
                  f"{t['gflops_per_s']:.0f} GFLOP/s = {100 * t['gflops_per_s'] / peak:.0f}% of peak")
            res[name]["speedup"] = ref / t["ms_per_step"]
    (out / "bench.json").write_text(json.dumps(res, indent=2))


if __name__ == "__main__":
    main()
