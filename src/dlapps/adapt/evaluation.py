"""Evaluating a DANN (or source-only) network: Table-5 numbers per domain, batch-norm statistics per
domain (AdaBN), the domain loss. Used by training, the report and pseudo-labelling alike."""

from __future__ import annotations

import time
from typing import Any

import torch
import torch.nn.functional as F

from dlapps.adapt.data import Domain
from dlapps.adapt.networks import DANN
from dlapps.adapt.validators import (batch_nuclear_norm, deep_embedded_validation, entropy, information_maximization,
                                     soft_neighborhood_density, source_val_accuracy)

# channels-last (NHWC) activations: oneDNN's convolutions run ~1.4x faster on this network on CPU
# than with NCHW (benchmarks/bench_adapt.py); the maths is the same
CL = torch.channels_last


def domain_outputs(kind: str) -> int:
    """The domain head's width for a --domain-loss: one logit for the BCE readings, two for ce."""
    return 2 if kind == "ce" else 1


def domain_loss_fn(logits: torch.Tensor, domain: torch.Tensor,
                   kind: str) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Domain loss, the number of correct domain predictions (0 = source, 1 = target) and the number correct
    when a single raw logit is thresholded at 0.5 instead of 0 (the course notebook's evaluation; ce: the same)."""
    if kind == "ce":
        right = (logits.argmax(1) == domain).sum()
        return F.cross_entropy(logits, domain), right, right
    z = logits[:, 0]
    loss = (F.binary_cross_entropy(torch.sigmoid(z), domain.float()) if kind == "bce-prob"
            else F.binary_cross_entropy_with_logits(z, domain.float()))
    return loss, ((z > 0).long() == domain).sum(), ((z > 0.5).long() == domain).sum()


@torch.no_grad()
def evaluate(model: DANN, x: torch.Tensor, y: torch.Tensor, domain: int, kind: str, device: torch.device,
             batch: int = 1000) -> dict[str, float]:
    """Class loss/accuracy and domain loss/accuracy of one domain's test set."""
    model.eval()
    tot = {"class_loss": 0.0, "class_acc": 0.0, "domain_loss": 0.0, "domain_acc": 0.0, "domain_acc_logit05": 0.0}
    for i in range(0, len(x), batch):
        xb, yb = x[i:i + batch].to(device, memory_format=CL), y[i:i + batch].to(device)
        c, d = model(xb)
        db = torch.full((len(xb),), domain, dtype=torch.long, device=device)
        dl, dc, dc05 = domain_loss_fn(d, db, kind)
        tot["class_loss"] += F.cross_entropy(c, yb, reduction="sum").item()
        tot["class_acc"] += (c.argmax(1) == yb).sum().item()
        tot["domain_loss"] += dl.item() * len(xb)
        tot["domain_acc"] += dc.item()
        tot["domain_acc_logit05"] += dc05.item()
    return {k: v / len(x) for k, v in tot.items()}


def domain_logits_frozen(model: DANN, x: torch.Tensor) -> torch.Tensor:
    """Domain-head logits on features computed in eval mode without gradient (running BN statistics)."""
    model.features.eval()
    with torch.no_grad():
        f = model.features(x)
    model.features.train()
    return model.domain(f)


@torch.no_grad()
def with_domain_statistics(model: DANN, x_train: torch.Tensor, device: torch.device, n: int = 10000,
                           batch: int = 500) -> DANN:
    """A copy whose batch-norm statistics are re-estimated on one domain's (unlabelled) training
    images (AdaBN, Li et al. 2016). dann-bn is trained with one pass per domain, so each domain is
    normalised with its own batch statistics during training; evaluating it with these per-domain
    statistics matches training, whereas the running averages mix both domains."""
    import copy

    m = copy.deepcopy(model).eval()
    for b in m.modules():
        if isinstance(b, torch.nn.modules.batchnorm._BatchNorm):
            b.reset_running_stats()
            b.momentum = None  # cumulative average over all batches
            b.train()          # only the BN layers: dropout stays off
    for i in range(0, min(n, len(x_train)), batch):
        m(x_train[i:i + batch].to(device, memory_format=CL))
    return m.eval()


def bn_eval_mode(cfg: Any) -> str:
    """running | domain: which batch-norm statistics evaluation uses (see DannConfig.bn_eval)."""
    if cfg.arch != "dann-bn":
        return "running"
    return "domain" if cfg.bn_eval == "auto" else cfg.bn_eval


@torch.no_grad()
def validators(on_source: DANN, on_target: DANN, src: Domain, tgt: Domain, kind: str, device: torch.device,
               n: int = 1000) -> dict[str, float]:
    """The validators of one evaluation (history keys ``validators.<name>``, as in metrics.json), each from data the method may see.

    ``on_source`` / ``on_target`` are the model as it is evaluated on each domain (per-domain batch-norm
    statistics for dann-bn). On the held-out labelled source validation split: ``source_acc`` and ``dev``
    (its per-image losses weighted by the run's own domain classifier's density ratio). On the first ``n``
    unlabelled target training images: ``entropy`` (lower is better), ``im``, ``snd``, ``bnm``. With a
    ``--target-val`` split, ``target_val``: accuracy on those labelled target images (not label-free).
    No target *test* image or label is read."""
    on_source.eval()
    on_target.eval()
    row: dict[str, float] = {}
    if src.has_val:
        logits, dom = on_source(src.x_val[:n].to(device, memory_format=CL))
        y = src.y_val[:n].to(device)
        d_target = torch.sigmoid(dom[:, 0]) if domain_outputs(kind) == 1 else torch.softmax(dom, 1)[:, 1]
        row["validators.source_acc"] = source_val_accuracy(logits, y)
        row["validators.dev"] = deep_embedded_validation(F.cross_entropy(logits, y, reduction="none").cpu(), d_target.cpu(),
                                                  len(src.x_train), len(tgt.x_train))
    p = torch.softmax(on_target(tgt.x_train[:n].to(device, memory_format=CL))[0].float(), 1).cpu()  # (n, K)
    row.update({"validators.entropy": entropy(p), "validators.im": information_maximization(p),
                "validators.snd": soft_neighborhood_density(p), "validators.bnm": batch_nuclear_norm(p)})
    if tgt.has_val:
        row["validators.target_val"] = float((on_target(tgt.x_val.to(device, memory_format=CL))[0].argmax(1).cpu()
                                       == tgt.y_val).float().mean())
    return row


def evaluate_domains(model: DANN, src: Domain, tgt: Domain, cfg: Any, device: torch.device) -> dict[str, float]:
    """Table-5 numbers for both test sets under the configured BN protocol; for batch-norm networks
    the class accuracy under the other protocol too (``*.class_acc_running`` / ``*.class_acc_domain``);
    then the validators (``validators.*``) and the seconds they took (``val_s``)."""
    mode = bn_eval_mode(cfg)
    row: dict[str, float] = {}
    evaluated = {}
    for tag, dm, dlabel in (("source", src, 0), ("target", tgt, 1)):
        per_domain = with_domain_statistics(model, dm.x_train, device) if model.batchnorm else None
        main, other = (per_domain, model) if mode == "domain" else (model, per_domain)
        evaluated[tag] = main
        row.update({f"{tag}.{k}": v for k, v in evaluate(main, dm.x_test, dm.y_test, dlabel, cfg.domain_loss,
                                                          device).items()})
        if other is not None:
            other_mode = "running" if mode == "domain" else "domain"
            row[f"{tag}.class_acc_{other_mode}"] = evaluate(other, dm.x_test, dm.y_test, dlabel, cfg.domain_loss,
                                                            device)["class_acc"]
    t0 = time.perf_counter()
    row.update(validators(evaluated["source"], evaluated["target"], src, tgt, cfg.domain_loss, device))
    row["val_s"] = time.perf_counter() - t0
    return row
