"""DANN training (source-only is the same loop with λ = 0), evaluation in the study's Table 5 format."""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any, Literal

import torch
import torch.nn.functional as F
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn
from tqdm.auto import tqdm

from dlapps import DlappsError
from dlapps.adapt.data import Domain, DomainSpec, load_domains, target_train_indices
from dlapps.adapt.networks import ARCHS, DANN, build_dann, flops_per_sample
from dlapps.adapt.schedules import LambdaSchedule, lambda_at, lr_at
from dlapps.adapt.vat import conditional_entropy, dirtt_loss, vat_loss
from dlapps.adapt.validators import (HIGHER_IS_BETTER, best_index, check_selection, should_stop, validator_name,
                                     validators_of)
from dlapps.core.compute import DivergenceError, check_finite
from dlapps.runner.results import RunResult
from dlapps.runner.options import check_config, opt
from dlapps.runner.fit import Loop, fit, parts_of
from dlapps.runner.runs import RunDir, RunOptions, start_run


from dlapps.adapt.evaluation import (CL, bn_eval_mode, domain_logits_frozen, domain_loss_fn, domain_outputs,
                                     evaluate_domains, with_domain_statistics)
from dlapps.adapt.report import write_outputs


@dataclass
class DannConfig(DomainSpec):
    """The settings of one adapt run: its data (inherited from DomainSpec), training, λ, network, selection."""

    # training
    epochs: int = opt(20, "Passes over the source training set.", low=1)
    batch_size: int = opt(128, "Per step; half source, half target (even).", low=2)
    order: Literal["shuffle", "notebook"] = opt(
        "shuffle", "Batch order: each domain shuffled on its own every epoch, or the lab notebook's: unshuffled and "
                   "zipped, step k = images k·B/2 … (k+1)·B/2 − 1 of both domains, the same every epoch (with "
                   "mnistm-lab each source digit meets its own blended twin).")
    stop_after: int = opt(0, "Train only the first N epochs of the --epochs schedule (0 = all): a screen reads a "
                             "schedule's early epochs at their cost; --resume with a larger N (or 0) goes on.",
                          low=0, on_resume=True)
    optimizer: Literal["sgd", "adam"] = opt("sgd", "sgd (with --momentum) or adam.")
    momentum: float = opt(0.9, "SGD momentum: a steady gradient's step grows by 1/(1 − momentum), the reversed "
                               "one's too.", low=0, high=1, high_open=True)
    lr: float = opt(0.01, "μ0 of μ0/(1+αp)^β.", low=0, low_open=True)
    lr_alpha: float = opt(10.0, "α of the learning-rate annealing.", low=0)
    lr_beta: float = opt(0.75, "β of the learning-rate annealing.", low=0)
    lr_step: Literal["per-step", "per-epoch", "none"] = opt("per-step", "When μ is updated.")
    ema: float = opt(0.0, "Evaluate, select and hand on an exponential moving average of the weights, updated every "
                          "step with this decay (0 = the weights as trained; VADA's code evaluates one at 0.998).",
                     low=0, high=1, high_open=True)
    # the adversarial part (fixed to λ = 0 by `adapt source-only`)
    lambda_schedule: LambdaSchedule = opt("exp", "λ's schedule over training progress p.")
    lambda_start: float = opt(0.0, "λ at the start (or the constant).")
    lambda_end: float = opt(1.0, "λ at the end (start > end decays).")
    lambda_gamma: float = opt(10.0, "γ of the exp schedule.", low=0, low_open=True)
    lambda_multiplier: float = opt(1.0, "Scales λ (the study's multipliers).", low=0)
    lambda_update: Literal["per-step", "per-epoch"] = opt(
        "per-step", "When λ moves: every step (p = step/total), or once per epoch (p = epoch/epochs, the epoch index "
                    "e of the study's formulas).")
    adversary: Literal["reverse", "flip"] = opt(
        "reverse", "How the features learn to fool the domain head: reverse its gradient, scaled by λ (DANN's gradient "
                   "reversal layer), or descend the domain loss with the domain labels flipped, through the head as it "
                   "is, weighted by λ (the non-saturating loss of GANs, and of VADA's code): a reversed gradient "
                   "vanishes once the head wins, the flipped loss's does not.")
    multiplier_on: Literal["lambda", "domain-loss"] = opt(
        "lambda", "What --lambda-multiplier scales: λ in the reversal layer (the features' reversed gradient only), or "
                  "the whole domain loss (the domain classifier's own gradient too); two readings of the study's "
                  "Table 10.")
    # VADA (Shu et al. 2018): DANN plus the target's conditional entropy and virtual adversarial training
    ent_target: float = opt(0.0, "Weight of the target's conditional entropy (VADA: 0.01; 0 = off).", low=0)
    vat_source: float = opt(0.0, "Weight of virtual adversarial training on source images (VADA: 1; 0 = off).",
                            low=0)
    vat_target: float = opt(0.0, "Weight of virtual adversarial training on target images (VADA: 0.01; 0 = off).",
                            low=0)
    vat_eps: float = opt(1.0, "VAT's radius ε: the L2 norm of the perturbation, in normalised input units.",
                         low=0, low_open=True)
    # DIRT-T (Shu et al. 2018): refine a trained model on the target alone (`adapt dirt-t --init RUN`)
    init: str = opt("", "DIRT-T: the adapt run whose model is refined on the target alone (its network and data "
                        "settings apply); empty = an ordinary run.", metavar="RUN_DIR", cli=False)
    dirtt_beta: float = opt(0.01, "DIRT-T: weight β of the trust region KL(teacher ‖ student); the teacher is the "
                                  "model as it was at the start of each epoch.", low=0)
    domain_loss: Literal["bce", "bce-prob", "ce"] = opt(
        "bce", "bce: one output, BCE on its logit; bce-prob: a sigmoid then BCE on the probability (PyTorch's "
               "BCELoss, its log clamped at −100: a saturated sigmoid passes no reversed gradient); ce: a 2-way "
               "softmax.")
    domain_reduction: Literal["mean", "sum"] = opt(
        "sum", "Domain loss: mean of the source and target terms (the paper's batch mean) or their sum (common PyTorch "
               "code).")
    arch: str = opt("dann-bn", "The network (registered with @register_arch in adapt/networks.py): dann: the paper's "
                               "MNIST network; dann-padded: the RDFIA lab's ('same' convs, 2,352 features); dann-bn: "
                               "the paper's with batch normalisation and 2-D dropout; shu-small: VADA's code's "
                               "9-conv network (~22x dann-bn's FLOPs).", choices=tuple(ARCHS))
    bn_eval: Literal["auto", "running", "domain"] = opt(
        "auto", "dann-bn test-time BN statistics: running averages, or each domain's own (re-estimated on its "
                "unlabelled train images); auto = domain for both commands (one protocol); the other protocol's "
                "accuracy is reported beside it.")
    source_only: bool = opt(False, "The baseline: λ = 0 throughout (set by `adapt source-only`).", cli=False)
    # model selection without target labels (the held-out splits: DomainSpec's source_val, target_val)
    stop_by: str = opt("", "Report the epoch this validator scores best: " + "|".join(HIGHER_IS_BETTER) + ".",
                       metavar="VALIDATOR")
    patience: int = opt(0, "With --stop-by: stop after N epochs without improvement (0 = train every epoch).", low=0)
    # outputs
    tsne_points: int = opt(500, "Per domain, for the t-SNE figure (0 skips t-SNE).", low=0)

    def check(self) -> None:
        """What the option ranges cannot say (``check_config`` asks it after the ranges, before a run dir exists)."""
        if self.batch_size % 2:
            raise DlappsError("--batch-size must be even (half source, half target)")
        if self.stop_after > self.epochs:
            raise DlappsError(f"--stop-after {self.stop_after} is past the schedule's --epochs {self.epochs}")
        check_selection(self.stop_by, self.patience, self.source_val, self.target_val)


def lambda_scale(cfg: DannConfig) -> float:
    """The factor on λ in the reversal layer (the multiplier, unless it scales the domain loss instead)."""
    return cfg.lambda_multiplier if cfg.multiplier_on == "lambda" else 1.0


def domain_loss_scale(cfg: DannConfig) -> float:
    """The factor on the domain loss (1, unless the multiplier scales it)."""
    return cfg.lambda_multiplier if cfg.multiplier_on == "domain-loss" and not cfg.source_only else 1.0


def dann_step(model: DANN, optim: torch.optim.Optimizer, xs: torch.Tensor, y: torch.Tensor, xt: torch.Tensor,
              lam: float, cfg: DannConfig, teacher: DANN | None = None) -> tuple[torch.Tensor, ...]:
    """One update on a source batch (xs, y) and an unlabelled target batch xt of the same size; with a
    ``teacher``, DIRT-T's refinement step on the target batch alone.

    Returns (loss, class loss, domain loss, class logits, number of correct domain predictions).
    """
    if teacher is not None:
        return dirtt_step(model, teacher, optim, xs, xt, cfg)
    if cfg.adversary == "flip" and not cfg.source_only:
        return flip_step(model, optim, xs, y, xt, lam, cfg)
    half = len(xs)
    ct = None
    if model.batchnorm and cfg.source_only:
        # the baseline must not adapt: target images neither update the batch-norm statistics
        # nor reach the features; the domain head alone learns on frozen target features
        cls, ds = model(xs, lam)
        dt = domain_logits_frozen(model, xt)
    elif model.batchnorm:  # one pass per domain: batch norm then normalises each domain with its own statistics
        (cls, ds), (ct, dt) = model(xs, lam), model(xt, lam)
    else:          # one joint pass: the same maths, faster
        cls, d = model(torch.cat([xs, xt]), lam)
        cls, ct, ds, dt = cls[:half], cls[half:], d[:half], d[half:]
    closs = F.cross_entropy(cls, y)
    # 'mean': the mean over the whole (source + target) batch, as in the DANN paper; 'sum': the sum
    # of the two domain means, as fungtion/DANN and its descendants do (twice the adversarial push)
    dl_s, dc_s, _ = domain_loss_fn(ds, torch.zeros(half, dtype=torch.long, device=ds.device), cfg.domain_loss)
    dl_t, dc_t, _ = domain_loss_fn(dt, torch.ones(len(xt), dtype=torch.long, device=dt.device), cfg.domain_loss)
    dloss, dcorrect = dl_s + dl_t, dc_s + dc_t
    if cfg.domain_reduction == "mean":
        dloss = dloss / 2
    loss = closs + dloss * domain_loss_scale(cfg)
    if not cfg.source_only and ct is not None:
        loss = loss + vada_terms(model, xs, xt, cls, ct, cfg)
    optim.zero_grad(set_to_none=True)
    loss.backward()
    optim.step()
    return loss, closs, dloss, cls, dcorrect


# DIRT-T's defaults where they differ from DANN's (`adapt dirt-t` starts from them): the authors' code's Adam at
# 1e-3, constant, target weight 1e-2, VAT ball 3.5, trust-region weight 1e-2 (RuiShu/dirt-t run_dirtt.py)
DIRTT_DEFAULTS = {"optimizer": "adam", "lr": 0.001, "lr_alpha": 0.0, "vat_target": 0.01, "vat_eps": 3.5,
                  "dirtt_beta": 0.01, "epochs": 10}


def vada_terms(model: DANN, xs: torch.Tensor, xt: torch.Tensor, cls: torch.Tensor, ct: torch.Tensor,
               cfg: DannConfig) -> torch.Tensor | float:
    """VADA's terms (each 0 unless asked for): the target's conditional entropy, VAT on each domain."""
    classify = lambda x: model.classifier(model.features(x))
    out: torch.Tensor | float = 0.0
    if cfg.ent_target:
        out = out + cfg.ent_target * conditional_entropy(ct)
    if cfg.vat_source:
        out = out + cfg.vat_source * vat_loss(classify, xs, cls, cfg.vat_eps)
    if cfg.vat_target:
        out = out + cfg.vat_target * vat_loss(classify, xt, ct, cfg.vat_eps)
    return out


def flip_step(model: DANN, optim: torch.optim.Optimizer, xs: torch.Tensor, y: torch.Tensor, xt: torch.Tensor,
              lam: float, cfg: DannConfig) -> tuple[torch.Tensor, ...]:
    """``--adversary flip``: the domain head learns its loss on the features held fixed; the features descend
    λ times the same loss with the domain labels flipped, through the head held fixed (one pass per domain, so
    batch norm sees each domain alone). VADA's terms as in :func:`dann_step`."""
    fs, ft = model.features(xs), model.features(xt)                     # (B/2, n_feat) each
    cls, ct = model.classifier(fs), model.classifier(ft)
    held = {k: v.detach() for k, v in model.domain.named_parameters()}
    held |= {k: v.clone() for k, v in model.domain.named_buffers()}   # its running statistics move once a step
    zeros = torch.zeros(len(xs), dtype=torch.long, device=xs.device)
    ones = torch.ones(len(xt), dtype=torch.long, device=xt.device)
    dl_s, dc_s, _ = domain_loss_fn(model.domain(fs.detach()), zeros, cfg.domain_loss)   # the head's own loss
    dl_t, dc_t, _ = domain_loss_fn(model.domain(ft.detach()), ones, cfg.domain_loss)
    fool_s = domain_loss_fn(torch.func.functional_call(model.domain, held, (fs,)), ones, cfg.domain_loss)[0]
    fool_t = domain_loss_fn(torch.func.functional_call(model.domain, held, (ft,)), zeros, cfg.domain_loss)[0]
    terms = 2.0 if cfg.domain_reduction == "mean" else 1.0  # 'mean': over both domains' images, as dann_step
    dloss, fool = (dl_s + dl_t) / terms, (fool_s + fool_t) / terms
    closs = F.cross_entropy(cls, y)
    loss = closs + domain_loss_scale(cfg) * (dloss + lam * fool) + vada_terms(model, xs, xt, cls, ct, cfg)
    optim.zero_grad(set_to_none=True)
    loss.backward()
    optim.step()
    return loss, closs, dloss, cls, dc_s + dc_t


def dirtt_step(model: DANN, teacher: DANN, optim: torch.optim.Optimizer, xs: torch.Tensor, xt: torch.Tensor,
               cfg: DannConfig) -> tuple[torch.Tensor, ...]:
    """DIRT-T: the target's entropy and VAT (weight ``vat_target``) within the trust region β·KL(teacher ‖ student);
    the source batch is only scored (no gradient), so the epoch's train accuracy still reads the source."""
    classify = lambda x: model.classifier(model.features(x))
    with torch.no_grad():
        t_logits = teacher(xt)[0]
    loss = dirtt_loss(classify, t_logits, xt, cfg.dirtt_beta, cfg.vat_target, cfg.vat_eps)
    optim.zero_grad(set_to_none=True)
    loss.backward()
    optim.step()
    with torch.no_grad():
        cls = classify(xs)
    zero = torch.zeros((), device=xt.device)
    return loss, loss.detach(), zero, cls, zero


def train_dann(model: DANN, src: Domain, tgt: Domain, cfg: DannConfig, run: RunDir, opts: RunOptions,
               device: torch.device) -> list[dict[str, float]]:
    """DANN's epoch, readable top to bottom, run by the one loop (``runner.fit``: checkpoints, resume, history)."""
    steps = len(src.x_train) // (cfg.batch_size // 2)
    params = model.parameters()
    optim = (torch.optim.SGD(params, lr=cfg.lr, momentum=cfg.momentum) if cfg.optimizer == "sgd"
             else torch.optim.Adam(params, lr=cfg.lr))
    sel = validator_name(cfg.stop_by) if cfg.stop_by else ""
    # the weights evaluated, selected and handed on: an average of the trained ones (--ema), or those themselves
    ema = AveragedModel(model, multi_avg_fn=get_ema_multi_avg_fn(cfg.ema), use_buffers=True) if cfg.ema else None
    evaluated = ema.module if ema is not None else model

    def epoch(e: int, history: list[dict[str, float]]) -> dict[str, float]:
        t0 = time.perf_counter()
        # DIRT-T's teacher: the model as the epoch starts, evaluated as on the target (its own BN statistics)
        teacher = with_domain_statistics(model, tgt.x_train, device) if cfg.init else None
        sums, lam = train_epoch(model, optim, src, tgt, cfg, run, e, opts, device, teacher, ema)
        train_s = time.perf_counter() - t0
        row: dict[str, float] = {"epoch": e + 1, "lr": optim.param_groups[0]["lr"], "lambda": lam,
                                 "train_s": train_s, "ms_per_step": 1000 * train_s / steps}
        row.update({f"train.{k}": v / steps for k, v in sums.items()})
        row.update(evaluate_domains(evaluated, src, tgt, cfg, device))
        # recorded, and training goes on: whether it recovers is measured
        row["collapsed"] = float(bool(collapse([*history, row])))
        return row

    def say(history: list[dict[str, float]]) -> str:
        row, why = history[-1], collapse(history)
        return (f"epoch {row['epoch']}: source acc {row['source.class_acc']:.4f}, target acc "
                f"{row['target.class_acc']:.4f}, domain acc (target) {row['target.domain_acc']:.3f}, "
                f"{row['ms_per_step']:.1f} ms/step"
                + (f"\nepoch {row['epoch']}: the label classifier collapsed ({why}); training goes on" if why else ""))

    parts: dict[str, Any] = {"model": model, "optimizer": optim, **({"ema": ema} if ema is not None else {})}
    loop = Loop(parts, epoch, cfg.stop_after or cfg.epochs, keep=tuple(k for k in parts if k != "optimizer"),
                best=(lambda h: best_index(h, sel) == len(h) - 1) if sel else None,  # keep the best epoch's weights
                stop=(lambda h: should_stop(h, sel, cfg.patience)) if sel else None,
                progress=lambda h: _metrics(h, done=False), say=say,
                after=lambda h: check_finite(h[-1]["source.class_loss"], "source test loss"))
    history = fit(run, opts, loop)
    if ema is not None:  # what was evaluated is what the run reports and hands on
        model.load_state_dict(evaluated.state_dict())
    return history


def evaluated_weights(parts: dict[str, Any]) -> dict[str, Any]:
    """The weights a checkpoint's run evaluated: its moving average where it kept one (--ema), else the model's."""
    if "ema" not in parts:
        return parts["model"]
    return {k.removeprefix("module."): v for k, v in parts["ema"].items() if k != "n_averaged"}


# a source test accuracy below this (10 classes whose labels the network trains on) is a collapsed classifier
COLLAPSED_SOURCE_ACC = 0.2
# a mean training cross-entropy above this is an explosion, not slow learning (chance on 10 classes is 2.3)
EXPLODED_CLASS_LOSS = 1e3


def collapse(history: list[dict[str, float]]) -> str:
    """Why the run's label classifier has collapsed after its last epoch, or "" if it has not.

    Two ways, neither of them mere slow learning: it had learned (source accuracy ≥ 0.5) and lost it, or
    its training loss exploded and left it at chance (a study run with λ = 1 from its first step trained 19
    more epochs at 0.11). A run records it in the epoch's row and trains on (the study's runs did)."""
    row = history[-1]
    acc = row["source.class_acc"]
    if acc >= COLLAPSED_SOURCE_ACC:
        return ""
    if max(h["source.class_acc"] for h in history) >= 0.5:
        return f"source test accuracy {acc:.3f}, after it had learned"
    if row.get("train.class_loss", 0.0) > EXPLODED_CLASS_LOSS:
        return f"its training loss exploded (mean {row['train.class_loss']:.3g}) and left source accuracy {acc:.3f}"
    return ""


def train_epoch(model: DANN, optim: torch.optim.Optimizer, src: Domain, tgt: Domain, cfg: DannConfig, run: RunDir,
                epoch: int, opts: RunOptions, device: torch.device,
                teacher: DANN | None = None, ema: AveragedModel | None = None) -> tuple[dict[str, float], float]:
    """One pass over the source set, each step on a source and a target batch (and the moving average of the
    weights, if kept, updated after it); seeded by the epoch, so a resumed run repeats it exactly. Returns the
    summed step losses/accuracies and the last λ. A non-finite loss raises DivergenceError (``fit`` keeps the
    finished epochs)."""
    half = cfg.batch_size // 2
    steps = len(src.x_train) // half
    total = steps * cfg.epochs
    gen = torch.Generator().manual_seed(opts.seed * 1000 + epoch)  # per-epoch: identical after resume
    torch.manual_seed(opts.seed * 1000 + epoch)
    if cfg.order == "notebook":  # the lab's unshuffled, zipped loaders: step k pairs images k·half… of both
        perm_s = torch.arange(len(src.x_train))
        idx_t = torch.arange(steps * half) % len(tgt.x_train)
    else:
        perm_s = torch.randperm(len(src.x_train), generator=gen)
        idx_t = target_train_indices(len(tgt.x_train), steps, half, gen)
    model.train()
    sums = {"class_loss": 0.0, "domain_loss": 0.0, "class_acc": 0.0, "domain_acc": 0.0}
    lam = 0.0
    bar = tqdm(range(steps), desc=f"epoch {epoch + 1}/{cfg.epochs}", disable=opts.quiet or None, leave=False)
    for i in bar:
        p = (epoch * steps + i) / total
        p_lr = p if cfg.lr_step == "per-step" else (epoch / cfg.epochs if cfg.lr_step == "per-epoch" else 0.0)
        for g in optim.param_groups:
            g["lr"] = lr_at(p_lr, cfg.lr, cfg.lr_alpha, cfg.lr_beta)
        p_lam = p if cfg.lambda_update == "per-step" else epoch / cfg.epochs
        lam = 0.0 if cfg.source_only else lambda_at(p_lam, cfg.lambda_schedule, cfg.lambda_start, cfg.lambda_end,
                                                    cfg.lambda_gamma, lambda_scale(cfg))
        bs, bt = perm_s[i * half:(i + 1) * half], idx_t[i * half:(i + 1) * half]
        xs = src.x_train[bs].to(device, memory_format=CL)               # (B/2, 3, 28, 28)
        xt = tgt.x_train[bt].to(device, memory_format=CL)               # (B/2, 3, 28, 28)
        y = src.y_train[bs].to(device)                                   # (B/2,)
        loss, closs, dloss, cls, dcorrect = dann_step(model, optim, xs, y, xt, lam, cfg, teacher)
        if ema is not None:
            ema.update_parameters(model)
        sums["class_loss"] += closs.item()
        sums["domain_loss"] += dloss.item()
        sums["class_acc"] += (cls.argmax(1) == y).float().mean().item()
        sums["domain_acc"] += dcorrect.item() / (2 * half)
        if not torch.isfinite(loss):
            lr = optim.param_groups[0]["lr"]
            raise DivergenceError(f"loss became {loss.item()} at epoch {epoch + 1}, step {i + 1} (λ={lam:.3g}, "
                                  f"lr={lr:.3g}); run dir keeps epochs 1..{epoch}",
                                  at={"epoch": epoch + 1, "step": i + 1, "lambda": lam, "lr": lr})
        if i % 50 == 0:
            bar.set_postfix(cls=f"{closs.item():.3f}", dom=f"{dloss.item():.3f}", lam=f"{lam:.2f}")
        run.tb.scalars("step", {"loss": loss.item(), "class_loss": closs.item(), "domain_loss": dloss.item(),
                                "lambda": lam, "lr": optim.param_groups[0]["lr"]}, epoch * steps + i)
    return sums, lam


def collapse_events(history: list[dict[str, float]]) -> list[dict[str, Any]]:
    """Each collapse (the first collapsed epoch of a spell) and each recovery (the first epoch back at source
    accuracy ≥ 0.5), with the step size the reversed gradient had then: λ, μ and λ·μ at the epoch's last step."""
    events: list[dict[str, Any]] = []
    down = False
    for r in history:
        now = bool(r.get("collapsed"))
        if now != down and (now or r["source.class_acc"] >= 0.5):
            events.append({"event": "collapsed" if now else "recovered", "epoch": int(r["epoch"]),
                           "lambda": r["lambda"], "lr": r["lr"], "lambda_lr": r["lambda"] * r["lr"],
                           "source.class_acc": r["source.class_acc"]})
            down = now
    return events


def _metrics(history: list[dict[str, float]], done: bool = True, stop_by: str = "") -> dict[str, Any]:
    """metrics.json: the reported epoch's numbers (the last, or the one ``stop_by`` selects) and the history."""
    chosen = (best_index(history, stop_by) if stop_by else len(history) - 1) if history else -1
    row = history[chosen] if history else {}
    keys = ("class_acc", "class_loss", "domain_acc", "domain_acc_logit05", "domain_loss", "class_acc_running",
            "class_acc_domain")
    m: dict[str, Any] = {
        "source": {k: row[f"source.{k}"] for k in keys if f"source.{k}" in row},
        "target": {k: row[f"target.{k}"] for k in keys if f"target.{k}" in row},
        # label-free unless target_val is among them (a run with --target-val)
        "validators": validators_of(row),
        "epochs_done": len(history),
        "complete": done,
        "history": history,
    }
    if any(r.get("collapsed") for r in history):
        m["collapses"] = collapse_events(history)
    if stop_by and history:
        # the oracle reads the target test labels: reported beside the label-free choice, never used to choose
        oracle = max(range(len(history)), key=lambda k: history[k]["target.class_acc"])
        m["selected"] = {"by": stop_by, "epoch": chosen + 1, "last_epoch_target_acc": history[-1]["target.class_acc"],
                         "oracle_epoch": oracle + 1, "oracle_target_acc": history[oracle]["target.class_acc"],
                         "gap_to_oracle": history[oracle]["target.class_acc"] - row["target.class_acc"]}
    return m


def run_dann(cfg: DannConfig, opts: RunOptions | None = None) -> RunResult:
    """Train DANN (or the source-only baseline) and write the run dir with tables, figures and report."""
    opts = opts or RunOptions()
    check_config(cfg)  # before a DIRT-T start run is read (start_run checks the same Config again, at no cost)
    start = None
    if cfg.init:  # DIRT-T: the start run's network and data settings, recorded in this run's config
        start, start_cfg, _ = load_dann_checkpoint(Path(cfg.init))
        so = start_cfg["options"]
        cfg = replace(cfg, **asdict(DomainSpec.of(so)), **{k: so[k] for k in ("arch", "domain_loss", "bn_eval") if k in so})
    command = "source-only" if cfg.source_only else "dirt-t" if cfg.init else "dann"
    run, device = start_run("adapt", command, cfg, opts)
    src, tgt, stats = load_domains(DomainSpec.of(cfg), opts.seed)
    run.update_config(data_sources={"source": src.source, "target": tgt.source}, normalization=stats,
                      splits={"source_train": len(src.x_train), "source_val": len(src.x_val),
                              "target_train_unlabelled": len(tgt.x_train), "target_val_labelled": len(tgt.x_val)})
    model = build_dann(cfg.arch, n_classes=int(src.y_train.max()) + 1,
                       domain_outputs=domain_outputs(cfg.domain_loss)).to(device, memory_format=CL)
    if start is not None:
        model.load_state_dict(start.state_dict())
        run.update_config(start_run=str(cfg.init))
    t0 = time.perf_counter()
    try:
        history = train_dann(model, src, tgt, cfg, run, opts, device)
    except DivergenceError as e:
        hist = (run.load_checkpoint() or {}).get("history", [])
        # the epochs before the divergence, and the fact itself: a sweep counts such a run as a result
        run.write_metrics({**_metrics(hist, done=False), "diverged": True, **({"diverged_at": e.at} if e.at else {})})
        raise
    sel = validator_name(cfg.stop_by) if cfg.stop_by else ""
    metrics = _metrics(history, stop_by=sel)
    if sel:  # report (and hand on to pseudo-labelling) the selected epoch's model
        model.load_state_dict(evaluated_weights(parts_of(run.load_checkpoint("selected.pt"))))
    metrics["bn_eval"] = bn_eval_mode(cfg)
    steps = len(src.x_train) // (cfg.batch_size // 2)
    ms = [h["ms_per_step"] for h in history]
    flops_step = 3 * flops_per_sample(model) * cfg.batch_size  # forward + backward ≈ 3x forward
    val_s = sum(h.get("val_s", 0.0) for h in history)
    metrics["timing"] = {"total_s": time.perf_counter() - t0, "steps_per_epoch": steps, "validators_s": val_s,
                         "validators_share": val_s / max(1e-9, sum(h["train_s"] + h.get("val_s", 0.0) for h in history)),
                         "ms_per_step": sum(ms) / len(ms), "gflops_per_s": flops_step / (sum(ms) / len(ms)) / 1e6}
    run.write_metrics(metrics)
    write_outputs(run, model, src, tgt, cfg, metrics, device, seed=opts.seed)
    return RunResult(run.path, metrics)


def load_dann_checkpoint(run_dir: Path) -> tuple[DANN, dict[str, Any], dict[str, Any]]:
    """The trained model of an adapt run dir, with its stored config (for pseudo-labelling)."""
    run, cfg, ckpt = RunDir.open_finished(run_dir, "adapt")
    opts = cfg["options"]
    ckpt = run.load_checkpoint("selected.pt") or ckpt  # a --stop-by run hands on the epoch it selected
    model = build_dann(opts.get("arch", "dann"), domain_outputs=domain_outputs(opts.get("domain_loss", "bce")))
    model.load_state_dict(evaluated_weights(parts_of(ckpt)))
    return model, cfg, ckpt

