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
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torch.utils.data import DataLoader, Dataset
from torchvision import transforms as T

from common import add_out_args, interleaved_ms_per_step, matmul_peak_gflops, out_dir, shared_dir, write_results

from dlapps.generate import GanConfig, run_gan
from dlapps.generate.config import build_nets, load_gan_data
from dlapps.generate.train import gan_step
from dlapps.generate.networks import Discriminator, Generator, dcgan_init
from dlapps.runner.runs import RunOptions


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
        ld, lg, _, _ = gan_step(G, D, oG, oD, real, y[idx], z, fl, cfg.label_in_d, cfg.precision)
        ld.item(), lg.item()

    return step


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--epochs", type=int, default=5)
    ap.add_argument("--steps", type=int, default=10, help="steps per timed block")
    ap.add_argument("--blocks", type=int, default=8, help="alternating reference/dlapps blocks")
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--models", default="cgan,dcgan", help="GANs to train after the speed check (also: cgan-bf16)")
    add_out_args(ap, "runs/bench-generate")
    args = ap.parse_args()
    shared_dir()
    out = out_dir(args)
    res: dict[str, object] = {}
    default_threads = torch.get_num_threads()
    c = GanConfig(conditional=True)
    speed = interleaved_ms_per_step({"reference": reference_step(c.conditional, c.d_label, c.g_label),
                                     "dlapps": dlapps_step(c),
                                     "dlapps bf16": dlapps_step(GanConfig(conditional=True, precision="bf16"))},
                                    args.blocks, args.steps)
    ref = speed["reference"]
    peak = matmul_peak_gflops()
    res.update(reference_ms_per_step=ref, dlapps_ms_per_step=speed["dlapps"], speedup_interleaved=ref / speed["dlapps"],
               dlapps_bf16_ms_per_step=speed["dlapps bf16"], speedup_bf16_interleaved=ref / speed["dlapps bf16"],
               reference_threads=default_threads, peak_gflops=peak)
    print(f"cGAN step, {args.blocks} alternating blocks of {args.steps} steps (medians): reference (DataLoader + "
          f"per-sample PIL transforms, textbook D, {default_threads} threads) {ref:.0f} ms/step; "
          + "; ".join(f"{k} {v:.0f} ms/step = {ref / v:.2f}x" for k, v in speed.items() if k != "reference"))
    peak_bf16 = matmul_peak_gflops(dtype=torch.bfloat16)
    res["peak_gflops_bf16"] = peak_bf16
    print(f"measured matmul peak: {peak:.0f} GFLOP/s float32, {peak_bf16:.0f} GFLOP/s bfloat16")
    opts = lambda name: RunOptions(out=str(out / name), resume=(out / name / "config.json").exists(),
                                   threads=args.threads, quiet=True)
    models = {"cgan": {"conditional": True}, "dcgan": {}, "cgan-bf16": {"conditional": True, "precision": "bf16"}}
    for name in args.models.split(","):
        if name not in models:
            raise SystemExit(f"unknown model {name!r}: choose from {', '.join(models)}")
        cond = models[name].get("conditional", False)
        r = run_gan(GanConfig(epochs=args.epochs, **models[name]), opts(name))
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
            p, kind = (peak_bf16, "bfloat16") if models[name].get("precision") == "bf16" else (peak, "float32")
            print(f"   speed over the whole run: {t['ms_per_step']:.0f} ms/step ({ref / t['ms_per_step']:.2f}x the "
                  "reference's interleaved median), "
                  f"{t['gflops_per_s']:.0f} GFLOP/s = {100 * t['gflops_per_s'] / p:.0f}% of the {kind} peak")
            res[name]["speedup"] = ref / t["ms_per_step"]
    (out / "bench.json").write_text(json.dumps(res, indent=2))
    write_results("generate", res)


if __name__ == "__main__":
    main()
