"""visualize commands as runs: saliency, saliency-eval, fool, classviz (config -> run dir -> report)."""

from __future__ import annotations

import statistics
from typing import Any
from pathlib import Path


import numpy as np
import torch

from dlapps import DlappsError
from dlapps.runner.options import check_config
from dlapps.runner.figures import plt
from dlapps.core.models import build_model, resolve_class
from dlapps.runner.report import build_report
from dlapps.core.images import expand_image_args, open_image
from dlapps.runner.results import RunResult
from dlapps.runner.runs import RunOptions, start_run
from dlapps.core.inference import batch_size_for
from dlapps.visualize.attacks import fool_gradient_ascent_batch, pgd_linf_batch, quantize
from dlapps.visualize.classviz import class_visualization_batch
from dlapps.visualize.common import PixelModel, load_pixels, to_255
from dlapps.visualize.config import ClassVizConfig, FoolConfig, SaliencyConfig, SaliencyEvalConfig, VisConfig
from dlapps.visualize.report import fool_figure, save_png, classviz_figure, progress_figure, saliency_figure
from dlapps.visualize.evaluate import deletion_insertion, n_param_layers, randomize_top, rank_correlation
from dlapps.visualize.saliency import METHODS, compute_map, make_method


def _setup(cfg: VisConfig, command: str, opts: RunOptions):
    if not cfg.images and not cfg.data:
        raise DlappsError("give image files or --data NAME")
    cfg.images = expand_image_args(cfg.images)  # folders -> their image files; one error for a missing path
    lm = build_model(cfg.model, cfg.weights)
    run, device = start_run("visualize", command, cfg, opts)
    if cfg.pick and not cfg.data:
        raise DlappsError("--pick names images of --data: give --data NAME")
    x, names, labels = load_pixels(lm, cfg.images, cfg.data or None, cfg.n, cfg.data_source, pick=cfg.pick)
    run.update_config(model={"name": lm.name, "weights": lm.weights})
    return lm, PixelModel(lm).to(device), run, x.to(device), names, labels


def _targets(lm, model: PixelModel, x: torch.Tensor, target: str | None) -> torch.Tensor:
    if target is not None:
        return torch.full((len(x),), resolve_class(target, lm.class_names), dtype=torch.long)
    with torch.no_grad():
        return model(x).argmax(1).cpu()


# ---------------------------------------------------------------------------------- saliency


def run_saliency(cfg: SaliencyConfig, opts: RunOptions | None = None) -> RunResult:
    opts = opts or RunOptions()
    for m in cfg.methods:
        if m not in METHODS:
            raise DlappsError(f"unknown saliency method {m!r}; use {', '.join(METHODS)}")
    lm, model, run, x, names, _ = _setup(cfg, "saliency", opts)
    t = _targets(lm, model, x, cfg.target)
    maps = {m: compute_map(make_method(m, model), x, t) for m in cfg.methods}
    x, t = x.cpu(), t.cpu()
    run.save_figure(saliency_figure(x, t, names, maps, cfg.methods, lm.class_names), "saliency")
    metrics = {"images": names, "targets": [lm.class_names[int(v)] for v in t],
               "map_stats": {m: {"min": float(v.min()), "max": float(v.max())} for m, v in maps.items()}}
    run.write_metrics(metrics)
    run.write_text("summary.md", f"**Saliency** of {len(x)} images on {lm.name} ({lm.weights}) for "
                                 f"{'the predicted class' if cfg.target is None else cfg.target}: "
                                 f"{', '.join(cfg.methods)}. Each row: image | map | overlay per method.\n")
    build_report([run.path], title="visualize saliency")
    return RunResult(run.path, metrics)


def run_saliency_eval(cfg: SaliencyEvalConfig, opts: RunOptions | None = None) -> RunResult:
    """Deletion/insertion AUC of each method vs a random map, and the cascading randomisation check."""
    from tqdm.auto import tqdm

    opts = opts or RunOptions()
    lm, model, run, x, names, _ = _setup(cfg, "saliency-eval", opts)
    t = _targets(lm, model, x, cfg.target)
    g = torch.Generator().manual_seed(opts.seed)
    rows, per_method = [], {}
    maps = {m: compute_map(make_method(m, model), x, t) for m in cfg.methods}
    maps["random"] = torch.rand(x.shape[0], *x.shape[2:], generator=g)
    for m, mp in maps.items():
        dels, ins = [], []
        for i in tqdm(range(len(x)), desc=f"deletion/insertion {m}", disable=opts.quiet or None, leave=False):
            d, n_, _, _ = deletion_insertion(model, x[i], int(t[i]), mp[i], cfg.steps, fill=cfg.fill)
            dels.append(d)
            ins.append(n_)
        per_method[m] = {"deletion_auc": float(np.mean(dels)), "insertion_auc": float(np.mean(ins)),
                         "deletion_auc_per_image": dels, "insertion_auc_per_image": ins}
    n_layers = n_param_layers(model)
    sanity: dict[str, dict[str, float]] = {m: {} for m in cfg.methods}
    for k in sorted(set(min(k, n_layers) for k in cfg.randomize)):
        rmodel = randomize_top(model, k, seed=opts.seed)
        for m in cfg.methods:
            rm = compute_map(make_method(m, rmodel), x, t)
            sanity[m][str(k)] = float(np.mean([rank_correlation(maps[m][i], rm[i]) for i in range(len(x))]))
    for m in maps:
        r = [m, per_method[m]["deletion_auc"], per_method[m]["insertion_auc"]]
        r += [sanity.get(m, {}).get(str(min(k, n_layers)), float("nan")) for k in cfg.randomize]
        rows.append(r)
    run.write_table("saliency_quality", ["method", "deletion AUC ↓", "insertion AUC ↑"]
                    + [f"rank corr, top {k} randomised" for k in cfg.randomize], rows,
                    caption=f"Saliency quality over {len(x)} images ({lm.name})")
    metrics = {"methods": per_method, "sanity_rank_correlation": sanity, "n_images": len(x)}
    run.write_metrics(metrics)
    fig, ax = plt.subplots(figsize=(6, 3.5))
    for m, v in per_method.items():
        ax.bar(m, v["deletion_auc"], color="tab:gray" if m == "random" else "tab:blue")
    ax.set_ylabel("deletion AUC (lower is better)")
    ax.tick_params(axis="x", labelsize=8)
    run.save_figure(fig, "deletion_auc")
    better = [m for m in cfg.methods if per_method[m]["deletion_auc"] < per_method["random"]["deletion_auc"]]
    run.write_text("summary.md", (
        f"**Saliency evaluation** on {len(x)} images, {lm.name} ({lm.weights}). Methods with a lower deletion AUC "
        f"than a random map: {', '.join(better) or 'none'}. Random-map deletion AUC "
        f"{per_method['random']['deletion_auc']:.4f}. A map that passes the sanity check changes (low rank "
        f"correlation) once the top layers are re-initialised.\n"))
    build_report([run.path], title="visualize saliency-eval")
    return RunResult(run.path, metrics)


# ------------------------------------------------------------------------------------- fool


def _fool_targets(target: str, class_names: list[str], orig_pred: torch.Tensor, seed: int) -> list[int]:
    """One target class per image: the named class, or (``random``) a seeded draw other than the image's
    prediction, drawn in image order so that a target does not depend on the batch size."""
    if target != "random":
        return [resolve_class(target, class_names)] * len(orig_pred)
    g = torch.Generator().manual_seed(seed)
    targets = []
    for pred in orig_pred.tolist():
        tgt = int(torch.randint(len(class_names), (1,), generator=g))
        while tgt == pred:
            tgt = int(torch.randint(len(class_names), (1,), generator=g))
        targets.append(tgt)
    return targets


SALIENT_SHARE = 0.2  # the top share of pixels by saliency that counts as "what the network looks at"


def _fool_metrics(results: list[dict[str, Any]]) -> dict[str, Any]:
    """Success rate and medians over the successful attacks (a single image: its own numbers)."""
    ok = [r for r in results if r["success"]]
    med = lambda k: statistics.median([r[k] for r in ok]) if ok else float("nan")  # noqa: E731
    metrics = {"success": all(r["success"] for r in results), "success_rate": len(ok) / len(results),
               "iterations": med("iterations"), "l2": med("l2"), "linf": med("linf"),
               "target_prob": med("target_prob"), "change_in_salient": med("change_in_salient"),
               "png_still_fools_rate": float(np.mean([r["png_still_fools"] for r in results])),
               "per_image": results}
    if len(results) == 1:
        metrics.update({k: results[0][k] for k in ("success", "iterations", "l2", "linf", "target_prob",
                                                   "change_in_salient")})
    return metrics


def _write_fool_outputs(run: Any, cfg: FoolConfig, lm: Any, results: list[dict[str, Any]],
                        metrics: dict[str, Any]) -> None:
    """metrics.json, the attacks table and the summary."""
    ok = [r for r in results if r["success"]]
    run.write_metrics(metrics)
    run.write_table("attacks", ["image", "original", "target", "success", "iterations", "L2 (0-255)", "L∞ (0-255)",
                                "target prob", "PNG still fools"],
                    [[r["image"], r["original"], r["target"], r["success"], r["iterations"], r["l2"], r["linf"],
                      r["target_prob"], r["png_still_fools"]] for r in results],
                    caption=f"Targeted attacks ({cfg.method})")
    run.write_text("summary.md", (
        f"**Fooling images** ({'the lab’s normalised gradient ascent' if cfg.method == 'gradient' else f'PGD-L∞, ε = {cfg.eps}/255'}) "
        f"on {lm.name} ({lm.weights}): success on {len(ok)}/{len(results)} images; medians over successes: "
        f"{metrics['iterations']} iterations, L2 {metrics['l2']:.2f}, L∞ {metrics['linf']:.2f} (0-255 units). "
        f"Saved as lossless PNG, {100 * metrics['png_still_fools_rate']:.0f}% still fool the model after reloading.\n"))


def run_fool(cfg: FoolConfig, opts: RunOptions | None = None) -> RunResult:
    """Targeted adversarial ("fooling") images: each image pushed to its target class; where the change lies."""
    opts = opts or RunOptions()
    check_config(cfg)
    lm, model, run, x, names, _ = _setup(cfg, "fool", opts)
    bs = batch_size_for(lm.name, x.device, cfg.batch_size, task="gradient")
    with torch.no_grad():  # in batches: a thousand photos in one pass would hold gigabytes of activations
        orig_pred = torch.cat([model(x[i:i + bs]).argmax(1).cpu() for i in range(0, len(x), bs)])
    targets = _fool_targets(cfg.target, lm.class_names, orig_pred, opts.seed)
    t = torch.tensor(targets)
    if cfg.method == "gradient":  # each image stops at its own success; same result as one at a time
        attacks = fool_gradient_ascent_batch(model, x, t, cfg.lr, cfg.max_iters, bs, progress=not opts.quiet)
    else:
        attacks = pgd_linf_batch(model, x, t, cfg.eps / 255, cfg.max_iters, (cfg.alpha / 255) or None, bs,
                                 progress=not opts.quiet)
    # where the change lies: the share of its energy inside the 20 % of pixels the original class's gradient
    # saliency ranks highest (what the network looks at; 0.2 = spread evenly). The study reads its difference
    # images against the saliency maps ("this part of the daisy was highlighted by the saliency maps").
    sal = compute_map(make_method("gradient", model), x, orig_pred)
    x = x.cpu()
    model = model.cpu()
    results = []
    for i, (r, tgt) in enumerate(zip(attacks, targets)):
        x_adv = r.x_adv.cpu()
        l2, linf = to_255(x_adv - x[i])
        energy = (x_adv - x[i]).pow(2).sum(0)                                  # (H, W)
        top = sal[i] >= torch.quantile(sal[i].flatten().float(), 1 - SALIENT_SHARE)
        in_salient = float(energy[top].sum() / energy.sum().clamp_min(1e-12))
        q = quantize(x_adv)
        with torch.no_grad():
            survives = int(model(q[None]).argmax(1)) == tgt
        png = save_png(run, q, f"adversarial_{i:02d}.png")
        results.append({"image": names[i], "original": lm.class_names[int(orig_pred[i])],
                        "target": lm.class_names[tgt], "success": r.success, "iterations": r.iterations,
                        "l2": l2, "linf": linf, "target_prob": r.target_prob, "png_still_fools": survives,
                        "change_in_salient": in_salient,
                        "png": str(png.relative_to(run.path))})
        if not opts.quiet:
            print(f"{names[i]}: {results[-1]['original']} -> {results[-1]['target']}: "
                  f"{'success' if r.success else 'failed'} after {r.iterations} iterations, L2 {l2:.1f}, "
                  f"L∞ {linf:.1f} (0-255), PNG {'still fools' if survives else 'loses the attack (quantisation)'}",
                  flush=True)
    fool_figure(run, x, results, lm)
    run.tb.images("fool/original", x, nrow=min(len(x), 8))
    run.tb.images("fool/adversarial", torch.stack([a.x_adv.cpu() for a in attacks]), nrow=min(len(x), 8))
    metrics = _fool_metrics(results)
    _write_fool_outputs(run, cfg, lm, results, metrics)
    build_report([run.path], title="visualize fool")
    return RunResult(run.path, metrics)


# --------------------------------------------------------------------------------- classviz


def run_classviz(cfg: ClassVizConfig, opts: RunOptions | None = None) -> RunResult:
    opts = opts or RunOptions()
    from_data = cfg.init != "noise" and not Path(cfg.init).is_file() and ":" in cfg.init
    if cfg.init != "noise" and not Path(cfg.init).is_file() and not from_data:
        raise DlappsError(f"--init must be 'noise', an image file or DATASET:IMAGE; {cfg.init} not found")
    lm = build_model(cfg.model, cfg.weights)
    start = None
    if from_data:  # an image of a dataset (the study's Figure 22 starts from the lab's hay)
        data, key = cfg.init.split(":", 1)
        start = load_pixels(lm, data=data, pick=[key])[0][0]
    targets = [resolve_class(t, lm.class_names) for t in cfg.targets]
    run, device = start_run("visualize", "classviz", cfg, opts)
    run.update_config(model={"name": lm.name, "weights": lm.weights})
    model = PixelModel(lm).to(device)
    ch = lm.in_channels
    inits = []
    for k in range(len(targets)):
        g = torch.Generator().manual_seed(opts.seed + k)
        if cfg.init == "noise":
            init = 0.5 + 0.1 * torch.randn(ch, lm.input_size, lm.input_size, generator=g)
            inits.append(init.clamp(0, 1))
        elif start is not None:
            inits.append(start.clone())
        else:
            inits.append(lm.pixel_transform()(open_image(Path(cfg.init))))
    bs = batch_size_for(lm.name, device, cfg.batch_size, task="gradient")
    viz = []
    for i in range(0, len(targets), bs):  # each class keeps its own seeded jitter: same result as one at a time
        viz += class_visualization_batch(model, targets[i:i + bs], torch.stack(inits[i:i + bs]).to(device),
                                         [opts.seed + k for k in range(i, min(i + bs, len(targets)))], cfg.iters,
                                         cfg.lr, cfg.l2, cfg.jitter if lm.input_size > 64 else 1, cfg.blur_every,
                                         cfg.blur_sigma, cfg.frame_every, progress=not opts.quiet)
    results = []
    finals = []
    for k, (tgt, r) in enumerate(zip(targets, viz)):
        name = lm.class_names[tgt]
        finals.append((name, r))
        save_png(run, r.image, f"classviz_{k:02d}.png")
        run.save_figure(progress_figure(name, r), f"progress_{k:02d}")
        results.append({"target": name, "target_prob": r.target_prob, "iterations": r.iterations,
                        "first_iter_p90": r.first_p90})
        if not opts.quiet:
            print(f"{name}: probability {r.target_prob:.3f} after {r.iterations} iterations", flush=True)
    run.save_figure(classviz_figure(finals), "classviz")
    run.tb.images("classviz/final", torch.stack([r.image for _, r in finals]), nrow=len(finals))
    metrics = {"target_prob": min(r["target_prob"] for r in results), "per_class": results}
    run.write_metrics(metrics)
    run.write_table("classviz", ["class", "final probability", "iterations", "first iteration with p ≥ 0.9"],
                    [[r["target"], r["target_prob"], r["iterations"], r["first_iter_p90"] or "—"] for r in results],
                    caption="Class visualization")
    run.write_text("summary.md", (
        f"**Class visualization** on {lm.name} ({lm.weights}) from {cfg.init}: {cfg.iters} iterations, lr {cfg.lr}, "
        f"L2 {cfg.l2}, jitter {cfg.jitter}, blur every {cfg.blur_every}. Lowest final class probability "
        f"{metrics['target_prob']:.3f}.\n"))
    build_report([run.path], title="visualize classviz")
    return RunResult(run.path, metrics)
