"""The cost of the methods beyond the study (VADA, DIRT-T) against DANN's step, on the real MNIST / MNIST-M of
../shared/data, one thread (as the published sweeps run).

Times, in alternating blocks in one process (this VM's speed drifts, so a ratio needs both under the same
conditions): a DANN step with dlapps' defaults (dann-bn; the reference), a VADA step (``--preset vada``: DANN plus
the target's conditional entropy and VAT on both domains, one power iteration each) and a DIRT-T step (the target's
entropy and VAT inside the trust region KL(teacher ‖ student)), all on the same network and batch size, and a VADA
step on the authors' own network (``--arch shu-small``). That step times the authors' schedule (80 epochs x 1,000
iterations, RuiShu/dirt-t ``codebase/train.py``) gives what their VADA would take on this CPU, measured per step rather
than guessed. Then reads
the published "beyond the study" runs (study-results/beyond/<sweep>) for what a whole run cost and reached, so the
table says what a step costs and what a run took; a method not published yet is said to be not run. The figures go to
benchmarks/results/beyond.json and, for the study report, to study-results/beyond/step_costs.json.

    python benchmarks/bench_beyond.py [--steps 20] [--blocks 6] [--study study-results]
"""

from __future__ import annotations

import argparse
import copy
import json
import statistics
from dataclasses import replace
from pathlib import Path
from typing import Callable

import torch

from common import interleaved_ms_per_step, real_batches, shared_dir, write_results

from dlapps.adapt import DannConfig
from dlapps.adapt.dann import DIRTT_DEFAULTS, dann_step
from dlapps.adapt.evaluation import CL
from dlapps.adapt.networks import build_dann
from dlapps.runner.presets import preset_config

# the authors' VADA schedule (RuiShu/dirt-t codebase/train.py: n_epoch = 80, iterep = 1000, bs = 64 per domain); a
# dlapps step at --batch-size 128 takes 64 images of each domain, and trains the head and the features on them at once
AUTHORS_STEPS = 80 * 1000

METHODS = {"DANN": "adapt_beyond_dann", "DANN + pseudo-labels": "adapt_beyond_pseudo_label",
           "VADA": "adapt_beyond_vada", "VADA + DIRT-T": "adapt_beyond_dirtt"}


def step_of(cfg: DannConfig, dirtt: bool = False) -> Callable[[], None]:
    """One training step as ``dlapps adapt dann`` (or ``dirt-t``) takes it, on batches drawn from the real data."""
    draw = real_batches(cfg)
    model = build_dann(cfg.arch).to(memory_format=CL)
    teacher = copy.deepcopy(model).eval() if dirtt else None
    opt = (torch.optim.SGD(model.parameters(), lr=cfg.lr, momentum=cfg.momentum) if cfg.optimizer == "sgd"
           else torch.optim.Adam(model.parameters(), lr=cfg.lr))

    def step() -> None:
        xs, y, xt = draw()
        loss, *_ = dann_step(model, opt, xs, y, xt, cfg.lambda_start or 0.1, cfg, teacher)
        loss.item()  # the loop's per-step bookkeeping syncs

    return step


def published(study: Path) -> dict[str, dict[str, float | int]]:
    """Per method, what its published runs took and reached (mean over seeds); a method not published: absent."""
    out: dict[str, dict[str, float | int]] = {}
    for label, stem in METHODS.items():
        runs = [json.loads(f.read_text()) for f in sorted((study / "beyond" / stem).glob("*-s*/metrics.json"))]
        runs = [m for m in runs if m.get("complete")]
        if not runs:
            continue
        minutes = [m["timing"]["total_s"] / 60 for m in runs if "total_s" in m.get("timing", {})]
        minutes += [sum(r["seconds"] for r in m["rounds"]) / 60 for m in runs if "rounds" in m]
        out[label] = {"seeds": len(runs), "target": statistics.fmean(m["target"]["class_acc"] for m in runs),
                      "minutes_per_run": statistics.fmean(minutes) if minutes else float("nan")}
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--steps", type=int, default=20, help="steps per timed block")
    ap.add_argument("--blocks", type=int, default=6, help="alternating blocks")
    ap.add_argument("--study", default=str(Path(__file__).resolve().parents[1] / "study-results"))
    args = ap.parse_args()
    shared_dir()
    torch.set_num_threads(1)  # as the published sweeps run (--threads 1)
    dann = DannConfig()
    vada = preset_config(DannConfig, "adapt dann", "vada")
    dirtt = preset_config(DannConfig, "adapt dann", "vada", **DIRTT_DEFAULTS)
    small = replace(vada, arch="shu-small")
    speed = interleaved_ms_per_step({"DANN": step_of(dann), "VADA": step_of(vada), "DIRT-T": step_of(dirtt, True),
                                     "VADA_shu-small": step_of(small)}, args.blocks, args.steps, warmup=2)
    res: dict[str, object] = {f"{k}_ms_per_step": v for k, v in speed.items()}
    res.update({f"{k}_vs_dann": v / speed["DANN"] for k, v in speed.items() if k != "DANN"})
    res["network"] = dann.arch
    res["batch_per_domain"] = dann.batch_size // 2
    res["authors_steps"] = AUTHORS_STEPS
    res["authors_schedule_hours"] = {net: AUTHORS_STEPS * speed[k] / 3.6e6 for net, k in
                                     ((dann.arch, "VADA"), (small.arch, "VADA_shu-small"))}
    hours = res["authors_schedule_hours"]
    print(f"one step, batch {dann.batch_size}, network {dann.arch}, 1 thread, {args.blocks} alternating blocks of "
          f"{args.steps} steps (medians): DANN {speed['DANN']:.1f} ms (the reference); VADA {speed['VADA']:.1f} ms "
          f"(x{speed['VADA'] / speed['DANN']:.2f}); DIRT-T {speed['DIRT-T']:.1f} ms "
          f"(x{speed['DIRT-T'] / speed['DANN']:.2f}); VADA on the authors' network ({small.arch}) "
          f"{speed['VADA_shu-small']:.1f} ms (x{speed['VADA_shu-small'] / speed['DANN']:.2f})")
    print(f"the authors' schedule ({AUTHORS_STEPS:,} steps) on one thread here: "
          + ", ".join(f"{h:.1f} h on {net}" for net, h in hours.items()))
    runs = published(Path(args.study))
    res["published"] = runs
    for label in METHODS:
        r = runs.get(label)
        print(f"{label}: " + (f"{r['seeds']} published seeds, target {r['target']:.4f}, {r['minutes_per_run']:.1f} "
                              "min per run" if r else "not run yet (no published run in study-results/beyond/)"))
    path = write_results("beyond", res, threads=1)
    study = Path(args.study)
    if (study / "beyond").is_dir():  # the study report's "beyond" section reads the costs from its own dir
        from dlapps.runner.runs import atomic_write_text
        atomic_write_text(study / "beyond" / "step_costs.json", path.read_text())
        print(f"wrote {study / 'beyond' / 'step_costs.json'} (the study report's beyond section reads it)")


if __name__ == "__main__":
    main()
