"""adapt benchmark on the real MNIST / MNIST-M of ../shared/data.

Runs, in one script: the source-only baseline, DANN with defaults, pseudo-labelling from the DANN run
(and the same loop on the true target labels, its ceiling), and a plain reference loop (torchvision
Dataset with per-sample PIL transforms + DataLoader, default threads, same model and batch) for a
fixed number of steps, timed in alternating blocks with dlapps' own step (``dann_step`` on batches
indexed from the in-memory tensors), then prints the speed ratio and the achieved GFLOP/s against the
measured matmul peak. Starts from an empty --out; with --reuse, finished runs already there are reused (their timings come from their history).

    python benchmarks/bench_adapt.py [--epochs 20] [--out runs/bench-adapt]
"""

from __future__ import annotations

import argparse
import json
import time
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torch.utils.data import DataLoader, Dataset
from torchvision import transforms as T

from common import (add_out_args, interleaved_ms_per_step, matmul_peak_gflops, out_dir, real_batches, shared_dir,
                    write_results)

from dlapps.adapt import DannConfig, PseudoLabelConfig, run_dann, run_pseudo_label
from dlapps.adapt.dann import dann_step
from dlapps.adapt.evaluation import CL
from dlapps.adapt.networks import DANN, flops_per_sample
from dlapps.runner.runs import RunOptions


class PilDigits(Dataset):
    """The pytorch/examples way: decode each sample to PIL and transform it on every access."""

    def __init__(self, x: np.ndarray, y: np.ndarray, mean: float = 0.5, std: float = 0.5):
        self.x, self.y = x, y
        self.tf = T.Compose([T.Resize(28), T.Grayscale(3) if x.ndim == 3 else T.Lambda(lambda im: im),
                             T.ToTensor(), T.Normalize((mean,) * 3, (std,) * 3)])

    def __len__(self) -> int:
        return len(self.y)

    def __getitem__(self, i: int):
        return self.tf(Image.fromarray(self.x[i])), int(self.y[i])


def reference_step(batch: int) -> Callable[[], None]:
    """One step of the plain loop: next DataLoader batches, one pass per domain, summed domain loss."""
    d = shared_dir() / "data"
    m, mm = np.load(d / "mnist.npz"), np.load(d / "mnist_m.npz")
    src = DataLoader(PilDigits(m["x_train"], m["y_train"]), batch_size=batch // 2, shuffle=True, drop_last=True)
    tgt = DataLoader(PilDigits(mm["x_train"], mm["y_train"]), batch_size=batch // 2, shuffle=True, drop_last=True)
    model = DANN(batchnorm=True)  # dlapps' default network, one pass per domain, summed domain loss
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    zeros, ones = torch.zeros(batch // 2), torch.ones(batch // 2)
    it_s, it_t = iter(src), iter(tgt)

    def step() -> None:
        (xs, ys), (xt, _) = next(it_s), next(it_t)
        (c, ds), (_, dt) = model(xs, 1.0), model(xt, 1.0)
        loss = (F.cross_entropy(c, ys) + F.binary_cross_entropy_with_logits(ds[:, 0], zeros)
                + F.binary_cross_entropy_with_logits(dt[:, 0], ones))
        opt.zero_grad()
        loss.backward()
        opt.step()

    return step


def dlapps_step(cfg: DannConfig) -> Callable[[], None]:
    """One step as ``dlapps adapt dann`` takes it: batches indexed from the in-memory tensors, then dann_step."""
    draw = real_batches(cfg)
    model = DANN(batchnorm=cfg.arch == "dann-bn").to(memory_format=CL)
    opt = torch.optim.SGD(model.parameters(), lr=cfg.lr, momentum=0.9)

    def step() -> None:
        xs, y, xt = draw()
        loss, closs, dloss, cls, dcorrect = dann_step(model, opt, xs, y, xt, 1.0, cfg)
        loss.item(), closs.item(), dloss.item(), dcorrect.item()  # the loop's per-step bookkeeping syncs

    return step


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--epochs", type=int, default=20)
    ap.add_argument("--source-only-epochs", type=int, default=10)
    ap.add_argument("--rounds", type=int, default=10)
    ap.add_argument("--steps", type=int, default=20, help="steps per timed block")
    ap.add_argument("--blocks", type=int, default=8, help="alternating reference/dlapps blocks")
    ap.add_argument("--threads", type=int, default=0)
    add_out_args(ap, "runs/bench-adapt")
    args = ap.parse_args()
    shared_dir()
    out = out_dir(args)
    res: dict[str, object] = {}

    default_threads = torch.get_num_threads()
    cfg = DannConfig()
    speed = interleaved_ms_per_step({"reference": reference_step(cfg.batch_size), "dlapps": dlapps_step(cfg)},
                                    args.blocks, args.steps, warmup=2)
    ref, ms = speed["reference"], speed["dlapps"]
    peak = matmul_peak_gflops()
    gf = 3 * flops_per_sample(DANN()) * cfg.batch_size / ms / 1e6  # forward + backward ≈ 3x forward
    res.update(reference_ms_per_step=ref, dann_ms_per_step=ms, speedup=ref / ms, gflops=gf, peak_gflops=peak,
               share_of_peak=gf / peak, threads=default_threads)
    print(f"DANN step, {args.blocks} alternating blocks of {args.steps} steps (medians, {default_threads} threads): "
          f"reference (DataLoader + per-sample PIL transforms) {ref:.1f} ms/step; dlapps {ms:.1f} ms/step = "
          f"{ref / ms:.2f}x; {gf:.1f} GFLOP/s = {100 * gf / peak:.0f}% of the measured {peak:.0f} GFLOP/s matmul peak")

    opts = lambda name: RunOptions(out=str(out / name), resume=(out / name / "config.json").exists(),
                                   threads=args.threads, quiet=True)
    # the baseline with DANN's default network, and with the paper's network (its Table: 0.5225)
    for name, kw in (("source-only", {}), ("source-only-paper-net", {"arch": "dann", "normalize": "mnist"})):
        so = run_dann(DannConfig(source_only=True, epochs=args.source_only_epochs, **kw), opts(name))
        res[name] = {k: so.metrics[k]["class_acc"] for k in ("source", "target")}
        adabn = so.metrics["target"].get("class_acc_domain")
        print(f"{name} ({args.source_only_epochs} epochs, arch {kw.get('arch', 'dann-bn')}): source "
              f"{so.metrics['source']['class_acc']:.4f}, target {so.metrics['target']['class_acc']:.4f}"
              + (f" (with target BN statistics: {adabn:.4f})" if adabn is not None else ""))

    t0 = time.perf_counter()
    reused = opts("dann").resume  # a finished run in --out is reused: its timings come from its own history
    dn = run_dann(DannConfig(epochs=args.epochs), opts("dann"))
    res["dann"] = {k: dn.metrics[k]["class_acc"] for k in ("source", "target")}
    res["dann_train_s"] = sum(h["train_s"] for h in dn.metrics["history"])
    res["dann_wall_s"] = None if reused else time.perf_counter() - t0
    run_ms = dn.metrics["timing"]["ms_per_step"]
    res.update(dann_run_ms_per_step=run_ms, dann_run_gflops=dn.metrics["timing"]["gflops_per_s"])
    res["dann_target_acc_running_bn"] = dn.metrics["target"].get("class_acc_running")
    took = (f"{res['dann_train_s'] / 60:.1f} min of training" + ("" if reused else
            f", {res['dann_wall_s'] / 60:.1f} min with evaluation") + (", reused run" if reused else ""))
    print(f"DANN ({args.epochs} epochs, {took}, BN statistics per domain): "
          f"source {dn.metrics['source']['class_acc']:.4f}, target {dn.metrics['target']['class_acc']:.4f} "
          f"(with the running BN averages: {res['dann_target_acc_running_bn']})")
    print(f"whole run: {run_ms:.1f} ms/step ({dn.metrics['timing']['gflops_per_s']:.0f} GFLOP/s), measured while it ran")

    pl = run_pseudo_label(PseudoLabelConfig(start=str(dn.run_dir), rounds=args.rounds), opts("pseudo-label"))
    res["pseudo_label_target_acc"] = pl.metrics["target"]["class_acc"]
    print(f"DANN + pseudo-labels ({args.rounds} rounds): target {pl.metrics['target']['class_acc']:.4f} (running BN "
          f"averages: {pl.metrics['target'].get('class_acc_running')})")
    # the ceiling of the same loop: every target training image with its true label
    orc = run_pseudo_label(PseudoLabelConfig(start=str(dn.run_dir), rounds=args.rounds, oracle_labels=True),
                           opts("oracle-labels"))
    res["oracle_labels_target_acc"] = orc.metrics["target"]["class_acc"]
    print(f"ceiling: the same loop on the TRUE labels of all {orc.metrics['rounds'][-1]['n_labels']:,} target training "
          f"images: target {orc.metrics['target']['class_acc']:.4f}")
    (out / "bench.json").write_text(json.dumps(res, indent=2))
    write_results("adapt", res)


if __name__ == "__main__":
    main()
