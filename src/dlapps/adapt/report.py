"""adapt outputs: Table 5 (class/domain loss and accuracy per domain), curves, t-SNE, summary."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from dlapps.adapt.evaluation import CL, with_domain_statistics
from dlapps.adapt.data import Domain
from dlapps.adapt.networks import DANN
from dlapps.runner.figures import curves, plt
from dlapps.runner.report import build_report
from dlapps.runner.runs import RunDir
from dlapps.adapt.validators import HIGHER_IS_BETTER, spearman


def table5(run: RunDir, metrics: dict[str, Any], name: str = "evaluation") -> None:
    """The study's Table 5 layout; batch-norm networks get one class-accuracy column per test-time protocol."""
    both = "class_acc_running" in metrics["target"] or "class_acc_domain" in metrics["target"]
    header = ["split", "class loss", "class acc", "domain loss", "domain acc"]
    if both:
        header[2] = f"class acc ({metrics.get('bn_eval', 'domain')} BN)"
        other = "running" if "class_acc_running" in metrics["target"] else "domain"
        header.append(f"class acc ({other} BN)")
    rows = []
    for dom in ("source", "target"):
        m = metrics[dom]
        rows.append([dom + " test", m["class_loss"], m["class_acc"], m["domain_loss"], m["domain_acc"]]
                    + ([m.get(f"class_acc_{other}")] if both else []))
    sel = metrics.get("selected")
    caption = (f"Evaluation of epoch {sel['epoch']}, selected by {sel['by']}" if sel else
               "Evaluation after the last epoch") + " (the study's Table 5 layout)"
    if both:
        caption += ("; BN = the batch-norm statistics used at test time: 'domain' re-estimates them on each "
                    "domain's unlabelled training images, 'running' uses the training averages")
    run.write_table(name, header, rows, caption=caption)


def history_table(run: RunDir, history: list[dict[str, float]]) -> None:
    cols = ["epoch", "lr", "lambda", "train.class_loss", "train.domain_loss", "source.class_acc",
            "target.class_acc", "target.domain_acc", "ms_per_step"]
    run.write_table("history", cols, [[h.get(c) for c in cols] for h in history], caption="Per-epoch history")


def validator_keys(rows: list[dict[str, Any]]) -> list[str]:
    """The validators recorded in a history (epochs or rounds), in dlapps.adapt.validators' order."""
    return [v for v in HIGHER_IS_BETTER if rows and f"validators.{v}" in rows[0]]


def validators_table_and_figure(run: RunDir, rows: list[dict[str, Any]], step: str, acc_key: str) -> None:
    """Per epoch (or round) every validator beside the target test accuracy it should track, and one panel
    per validator: its score against target accuracy, with the Spearman correlation over the entries."""
    names = validator_keys(rows)
    if not names:
        return
    cols = [step, acc_key] + [f"validators.{v}" for v in names]
    run.write_table("validators", cols, [[r.get(c) for c in cols] for r in rows],
                    caption=f"Validators per {step} (computed without target test labels; target_val, when present, "
                            f"uses the --target-val labels) beside the target test accuracy")
    fig, axes = plt.subplots(1, len(names), figsize=(2.6 * len(names), 2.8), squeeze=False)
    acc = [r[acc_key] for r in rows]
    for ax, v in zip(axes[0], names):
        score = [r[f"validators.{v}"] for r in rows]
        ax.plot(score, acc, "o-", ms=3, lw=0.8)
        ax.set_xlabel(f"{v} ({'higher' if HIGHER_IS_BETTER[v] else 'lower'} is better)", fontsize=8)
        rho = spearman(score, acc) * (1 if HIGHER_IS_BETTER[v] else -1)
        ax.set_title(f"ρ = {rho:+.2f}", fontsize=9)
        ax.tick_params(labelsize=7)
    axes[0][0].set_ylabel("target test accuracy", fontsize=8)
    fig.suptitle(f"Validators against target accuracy, one point per {step} (ρ: rank correlation, signed so "
                 "that + means the validator ranks like accuracy)", fontsize=9)
    fig.tight_layout()
    run.save_figure(fig, "validators")


@torch.no_grad()
def tsne_figure(model: DANN, src: Domain, tgt: Domain, n: int, seed: int, title: str, device: torch.device,
                per_domain_bn: bool = False, tb: Any = None):
    """t-SNE of the feature embeddings of n source + n target test images, by domain and by class.
    ``per_domain_bn``: embed each domain with its own batch-norm statistics, as the run is evaluated.
    ``tb``: a TBLog that also receives the raw embeddings for TensorBoard's projector."""
    from sklearn.manifold import TSNE

    g = torch.Generator().manual_seed(seed)
    i_s = torch.randperm(len(src.x_test), generator=g)[:n]
    i_t = torch.randperm(len(tgt.x_test), generator=g)[:n]
    m_s, m_t = ((with_domain_statistics(model, src.x_train, device), with_domain_statistics(model, tgt.x_train, device))
                if per_domain_bn else (model.eval(), model.eval()))
    emb = torch.cat([m_s.embed(src.x_test[i_s].to(device, memory_format=CL)),
                     m_t.embed(tgt.x_test[i_t].to(device, memory_format=CL))]).cpu().numpy()
    xy = TSNE(n_components=2, init="pca", perplexity=min(30, max(5, len(emb) // 4)), random_state=seed).fit_transform(emb)
    labels = np.concatenate([src.y_test[i_s].numpy(), tgt.y_test[i_t].numpy()])
    dom = np.r_[np.zeros(len(i_s)), np.ones(len(i_t))]
    if tb is not None:
        tb.embedding(torch.from_numpy(emb), [f"{'target' if d else 'source'} {c}" for d, c in zip(dom, labels)],
                     "features")
    fig, axes = plt.subplots(1, 2, figsize=(10, 4.6))
    for d, name, c in ((0, "source", "tab:blue"), (1, "target", "tab:red")):
        axes[0].scatter(*xy[dom == d].T, s=4, alpha=0.6, c=c, label=name)
    axes[0].legend(markerscale=3)
    axes[0].set_title("by domain")
    sc = axes[1].scatter(*xy.T, s=4, alpha=0.7, c=labels, cmap="tab10")
    axes[1].legend(*sc.legend_elements(), fontsize=7, markerscale=0.8, ncol=2)
    axes[1].set_title("by class (both domains)")
    for ax in axes:
        ax.set_xticks([])
        ax.set_yticks([])
    fig.suptitle(title)
    return fig


def _bn_note(metrics: dict[str, Any], source_only: bool = False) -> str:
    """One sentence on the test-time batch-norm statistics, with the other protocol's target accuracy."""
    t = metrics["target"]
    if "class_acc_running" in t:
        how = ("the protocol DANN is evaluated with, so the pair compares like with like; for a network trained on "
               "the source alone this is AdaBN" if source_only else "as in training")
        return ("Batch norm at test time: each domain with its own statistics (re-estimated on its unlabelled "
                f"training images, {how}); with the running averages the target accuracy is "
                f"{t['class_acc_running']:.4f}.\n\n")
    if "class_acc_domain" in t:
        return ("Batch norm at test time: running averages (source statistics); with the target's own statistics "
                f"(AdaBN) the target accuracy would be {t['class_acc_domain']:.4f}.\n\n")
    return ""


def _label_use(tgt: Domain) -> str:
    """Which target labels the run read, in one sentence (the protocol a reader must know)."""
    if tgt.has_val:
        return (f"Protocol: {len(tgt.x_val):,} labelled target training images (--target-val, never trained on) were "
                "available for selection; target test labels were used for evaluation only.")
    return "Target test labels were used for evaluation only; no target label was used for training or selection."


def _selection_note(metrics: dict[str, Any]) -> str:
    """What --stop-by chose, and what the last epoch would have given."""
    sel = metrics.get("selected")
    if not sel:
        return ""
    return (f"Model selection: the epoch validator **{sel['by']}** scores best, epoch {sel['epoch']} of "
            f"{metrics['epochs_done']} (chosen without target test labels"
            + ("; target_val uses the --target-val labels" if sel["by"] == "target_val" else "")
            + f"); the last epoch's target accuracy was {sel['last_epoch_target_acc']:.4f}"
            + (f"; the oracle (reads the target test labels: a diagnostic) would pick epoch {sel['oracle_epoch']} at "
               f"{sel['oracle_target_acc']:.4f}, {sel['gap_to_oracle']:.4f} above the choice"
               if "oracle_epoch" in sel else "") + ".\n\n")


def write_outputs(run: RunDir, model: DANN, src: Domain, tgt: Domain, cfg: Any, metrics: dict[str, Any],
                  device: torch.device, seed: int) -> None:
    """Tables, figures, summary.md and the report of a finished adapt run."""
    hist = metrics["history"]
    table5(run, metrics)
    history_table(run, hist)
    validators_table_and_figure(run, [{"epoch": h["epoch"], **h} for h in hist], "epoch", "target.class_acc")
    ep = [h["epoch"] for h in hist]
    run.save_figure(curves({"train class": [h["train.class_loss"] for h in hist],
                            "train domain": [h["train.domain_loss"] for h in hist],
                            "source test class": [h["source.class_loss"] for h in hist],
                            "target test class": [h["target.class_loss"] for h in hist]},
                           "epoch", "loss", "Class and domain losses", x=ep), "losses")
    run.save_figure(curves({"source test": [h["source.class_acc"] for h in hist],
                            "target test": [h["target.class_acc"] for h in hist],
                            "domain (target test)": [h["target.domain_acc"] for h in hist]},
                           "epoch", "accuracy", "Accuracy", x=ep), "accuracy")
    kind = "source-only" if cfg.source_only else "DANN"
    if cfg.tsne_points:
        run.save_figure(tsne_figure(model, src, tgt, cfg.tsne_points, seed, f"t-SNE of features, {kind}", device,
                                    per_domain_bn=metrics.get("bn_eval") == "domain", tb=run.tb), "tsne")
    lam = "λ = 0 (source only)" if cfg.source_only else (
        f"λ schedule {cfg.lambda_schedule} from {cfg.lambda_start} to {cfg.lambda_end}, updated {cfg.lambda_update}, "
        + (f"× {cfg.lambda_multiplier}" if cfg.multiplier_on == "lambda" else f"domain loss × {cfg.lambda_multiplier}"))
    t = metrics.get("timing", {})
    run.write_text("summary.md", (
        f"**{kind}**, {src.name} → {tgt.name}, {len(hist)} epochs, batch {cfg.batch_size} (half per domain), "
        f"{cfg.optimizer} lr {cfg.lr} ({cfg.lr_step}), {lam}, normalisation {cfg.normalize}.\n\n"
        f"Target test accuracy **{metrics['target']['class_acc']:.4f}**, source test accuracy "
        f"**{metrics['source']['class_acc']:.4f}**; domain classifier accuracy on target test "
        f"{metrics['target']['domain_acc']:.3f} (0.5 = domains indistinguishable).\n\n"
        + _bn_note(metrics, cfg.source_only) + _selection_note(metrics)
        + f"Data: source {src.source}; target {tgt.source}. " + _label_use(tgt) + " "
        f"Speed: {t.get('ms_per_step', float('nan')):.1f} ms/step, {t.get('gflops_per_s', float('nan')):.1f} GFLOP/s.\n"))
    build_report([run.path], title=f"adapt {kind}")
