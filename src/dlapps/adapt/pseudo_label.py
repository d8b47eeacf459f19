"""Self-training on the target domain with confident pseudo-labels, from a DANN or source-only run."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from dlapps import DlappsError
from dlapps.adapt.data import Domain, DomainSpec, load_domains
from dlapps.adapt.dann import load_dann_checkpoint
from dlapps.adapt.evaluation import CL, evaluate, validators, with_domain_statistics
from dlapps.adapt.validators import best_index, check_selection, should_stop, validator_name, validators_of
from dlapps.adapt.networks import DANN
from dlapps.adapt.report import validators_table_and_figure
from dlapps.adapt.schedules import lr_at
from dlapps.runner.options import check_config, opt
from dlapps.core.compute import DivergenceError
from dlapps.runner.figures import curves
from dlapps.runner.report import build_report
from dlapps.runner.results import RunResult
from dlapps.runner.fit import Loop, fit, parts_of
from dlapps.runner.runs import RunDir, RunOptions, start_run


@dataclass
class PseudoLabelConfig:
    start: str = opt("", "Run dir of an adapt dann or source-only run (its checkpoint is the start).", cli="--from",
                     metavar="RUN_DIR")
    rounds: int = opt(10, "Select -> train rounds.", low=1)
    threshold: float = opt(0.95, "Keep target images whose max softmax probability is at least this (first round).",
                           low=0, high=1, low_open=True, high_open=True)
    threshold_end: float | None = opt(None, "Last round's threshold, linear in between (default: none, the threshold "
                                            "stays constant); e.g. 0.5 lets harder target images in as the model "
                                            "improves.", low=0, high=1,
                                        low_open=True, high_open=True)
    epochs_per_round: int = opt(1, "Passes over the source set per round.", low=1)
    class_balance: bool = opt(True, "Keep at most as many per class as the rarest selected class has.")
    batch_size: int = opt(128, "Per step; half source, half pseudo-labelled target (even).", low=2)
    lr: float = opt(0.01, "SGD (momentum 0.9) learning rate (the start, with --lr-schedule anneal).", low=0,
                    low_open=True)
    lr_schedule: Literal["anneal", "constant"] = opt(
        "anneal", "anneal: lr/(1+10p)^0.75 over all rounds, DANN's schedule (fast first, slow last); constant: lr "
                  "throughout.")
    # augment and threshold_end are the configuration the pre-registered validator (im) picked without target
    # labels (experiments/select_pseudo_label_defaults.toml; README "Choosing settings without target labels")
    augment: Literal["none", "jitter", "strong"] = opt(
        "jitter", "Of the pseudo-labelled target images: jitter = random ±2 px / ±10° / ±10 % affine; strong = jitter + "
                  "colour-channel shuffle + a cut-out square; or none.")
    stop_by: str = opt("", "Report the round this validator scores best (see adapt dann --stop-by).",
                       metavar="VALIDATOR")
    patience: int = opt(0, "With --stop-by: stop after N rounds without improvement (0 = every round).", low=0)
    oracle_labels: bool = opt(False, "Diagnostic: train on the TRUE target labels instead, to measure the loop's "
                                     "ceiling (the DANN paper's 'train on target' row).")

    def check(self) -> None:
        """What the option ranges cannot say (``check_config`` asks it, before a run dir exists)."""
        if not self.start:
            raise DlappsError("pseudo-label needs --from RUN_DIR (an adapt dann or source-only run)")


@torch.no_grad()
def predict(model: DANN, x: torch.Tensor, device: torch.device, batch: int = 2000) -> torch.Tensor:
    """Softmax probabilities (N, K)."""
    model.eval()
    return torch.cat([F.softmax(model(x[i:i + batch].to(device, memory_format=CL))[0], 1).cpu()
                      for i in range(0, len(x), batch)])


def select_pseudo_labels(probs: torch.Tensor, threshold: float, class_balance: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """Indices and labels of confident predictions; with ``class_balance`` at most k per class, the most
    confident first, so no class dominates the self-training. k = the smallest selected class count, but at
    least half the mean count: one rare class must not shrink every other class to its size (a weak start
    model, or a lower threshold that admits a few images of a hard class, would starve the round)."""
    conf, lab = probs.max(1)
    idx = torch.nonzero(conf >= threshold).flatten()
    if class_balance and len(idx):
        counts = torch.bincount(lab[idx], minlength=probs.shape[1])
        k = max(int(counts[counts > 0].min()), len(idx) // (2 * probs.shape[1]))
        keep = []
        for c in range(probs.shape[1]):
            ic = idx[lab[idx] == c]
            keep.append(ic[conf[ic].argsort(descending=True)[:k]])
        idx = torch.cat(keep).sort().values
    return idx, lab[idx]


def round_threshold(cfg: PseudoLabelConfig, r: int) -> float:
    """Confidence threshold of round r (0-based): threshold, moving linearly to threshold_end by the last round."""
    if cfg.threshold_end is None or cfg.rounds < 2:
        return cfg.threshold
    return cfg.threshold + (cfg.threshold_end - cfg.threshold) * r / (cfg.rounds - 1)


def random_affine(x: torch.Tensor, gen: torch.Generator, shift: float = 2.0, degrees: float = 10.0,
                  scale: float = 0.1) -> torch.Tensor:
    """Each image of a batch (B, C, H, W) moved by its own small random affine map.

    Why: self-training on its own confident predictions teaches a network little it does not know; the
    same image slightly moved, turned or scaled must keep its pseudo-label, which pushes the decision
    boundary away from the target data. Per-image parameters (torchvision's RandomAffine draws one set
    per call), one vectorised grid_sample; border padding keeps MNIST-M's background texture.
    """
    b, _, h, w = x.shape
    u = torch.rand(b, 4, generator=gen) * 2 - 1                                  # (B, 4) in [-1, 1)
    angle = u[:, 0] * degrees * torch.pi / 180
    s = 1 + u[:, 1] * scale
    cos, sin = torch.cos(angle) / s, torch.sin(angle) / s
    theta = torch.stack([torch.stack([cos, -sin, u[:, 2] * 2 * shift / w], 1),
                         torch.stack([sin, cos, u[:, 3] * 2 * shift / h], 1)], 1)  # (B, 2, 3)
    grid = F.affine_grid(theta.to(x.dtype), list(x.shape), align_corners=False)
    return F.grid_sample(x, grid.to(x.device), mode="bilinear", padding_mode="border", align_corners=False)


def strong_augment(x: torch.Tensor, gen: torch.Generator, cut: int = 7) -> torch.Tensor:
    """random_affine, then per image a random order of the colour channels and one cut-out square.

    Why: an MNIST-M digit keeps its class whatever its colours and with a piece hidden, while the network's
    own labelling mistakes do not survive such changes as easily as a small jitter (FixMatch's "strong"
    view). The cut-out is filled with 0 (grey under the default (x-0.5)/0.5 normalisation, the mean under
    the mean-subtracting ones), as FixMatch's Cutout fills with grey.
    """
    x = random_affine(x, gen)
    b, c, h, w = x.shape
    order = torch.argsort(torch.rand(b, c, generator=gen), 1).to(x.device)    # (B, C) a permutation per image
    x = torch.gather(x, 1, order[:, :, None, None].expand_as(x))
    cy, cx = (torch.randint(n, (b, 1, 1), generator=gen).to(x.device) for n in (h, w))
    ys, xs = torch.arange(h, device=x.device)[:, None], torch.arange(w, device=x.device)[None, :]
    hole = ((ys - cy).abs() <= cut // 2) & ((xs - cx).abs() <= cut // 2)    # (B, H, W)
    return x.masked_fill(hole[:, None], 0.0)


AUGMENTATIONS = {"none": lambda x, gen: x, "jitter": random_affine, "strong": strong_augment}  # PseudoLabelConfig.augment


@dataclass
class _Scorer:
    """The model as it is evaluated on each domain (batch-norm networks: that domain's own statistics, as
    dann-bn's DANN runs are evaluated), and its test-set numbers."""

    model: DANN
    src: Domain
    tgt: Domain
    kind: str            # the start run's domain loss (bce | ce)
    device: torch.device

    def on(self, dom: Domain) -> DANN:
        return with_domain_statistics(self.model, dom.x_train, self.device) if self.model.batchnorm else self.model

    def test(self, m: DANN, dom: Domain) -> dict[str, float]:
        return evaluate(m, dom.x_test, dom.y_test, int(dom is self.tgt), self.kind, self.device)


def run_pseudo_label(cfg: PseudoLabelConfig, opts: RunOptions | None = None) -> RunResult:
    """Self-training rounds from a DANN or source-only run: select confident target pseudo-labels, train on
    source + them, repeat; each round checkpointed, so an interrupted run resumes at its next round."""
    opts = opts or RunOptions()
    check_config(cfg)  # before the start run is read (start_run checks the same Config again, at no cost)
    model, start_cfg, _ = load_dann_checkpoint(Path(cfg.start))
    run, device = start_run("adapt", "pseudo-label", cfg, opts)
    so = start_cfg["options"]
    # the start run's data and splits: its held-out source images and target labels stay out of training here too
    check_selection(cfg.stop_by, cfg.patience, so.get("source_val", 0), so.get("target_val", 0))
    sel = validator_name(cfg.stop_by) if cfg.stop_by else ""
    src, tgt, _ = load_domains(DomainSpec.of(so), start_cfg.get("seed", 0))
    run.update_config(data_sources={"source": src.source, "target": tgt.source}, start_run=str(cfg.start))
    sc = _Scorer(model.to(device, memory_format=CL), src, tgt, so.get("domain_loss", "bce"), device)
    optim = torch.optim.SGD(model.parameters(), lr=cfg.lr, momentum=0.9)
    # the model as evaluated on the target: it scores the target and (same weights) picks the next labels
    on_target = sc.on(tgt)
    initial = sc.test(on_target, tgt)["class_acc"]  # the start run's model: scored before a resumed state loads
    initial_validators = validators(sc.on(src), on_target, src, tgt, sc.kind, device)
    # carried from round to round in this process: the on-target model and the last round's test numbers
    cur: dict[str, Any] = {"on_target": on_target, "after": 0, "ev_t": None, "ev_s": None}

    def one_round(r: int, rounds: list[dict[str, Any]]) -> dict[str, Any]:
        if cur["after"] != r:  # resumed: the loaded weights, as evaluated on the target
            cur["on_target"] = sc.on(tgt)
        row, cur["on_target"], cur["ev_t"], cur["ev_s"] = _round(sc, optim, cur["on_target"], r, cfg, opts)
        cur["after"] = r + 1
        return row

    loop = Loop({"model": model, "optimizer": optim}, one_round, cfg.rounds, unit="round",
                best=(lambda h: best_index(h, sel) == len(h) - 1) if sel else None,  # keep the best round's weights
                stop=(lambda h: should_stop(h, sel, cfg.patience)) if sel else None,
                progress=lambda h: {"rounds": h, "initial_target_acc": initial, "complete": False})
    rounds = fit(run, opts, loop)
    on_target, ev_t, ev_s = cur["on_target"], cur["ev_t"], cur["ev_s"]
    if cur["after"] != len(rounds):  # resumed with no round left to train: the loaded weights
        on_target = sc.on(tgt)
    if sel:  # report the round the validator selected, not the last one
        model.load_state_dict(parts_of(run.load_checkpoint("selected.pt"))["model"])
        on_target, ev_t = sc.on(tgt), None
    if ev_t is None:  # resumed after the last round, or a selected round: evaluate the model reported
        ev_t, ev_s = sc.test(on_target, tgt), sc.test(sc.on(src), src)
    chosen = rounds[best_index(rounds, sel) if sel else -1]
    metrics = {"source": ev_s, "target": ev_t, "initial_target_acc": initial, "rounds": rounds, "complete": True,
               "oracle_labels": cfg.oracle_labels, "initial_validators": _strip(initial_validators),
               "validators": _strip(chosen)}
    if sel:
        metrics["selected"] = _selected(rounds, chosen, sel)
    val_s = sum(x["val_s"] for x in rounds)
    metrics["timing"] = {"validators_s": val_s, "validators_share": val_s / max(1e-9, sum(x["seconds"] for x in rounds))}
    metrics["bn_eval"] = "domain" if model.batchnorm else "running"
    if model.batchnorm:
        metrics["target"]["class_acc_running"] = sc.test(model, tgt)["class_acc"]
    run.write_metrics(metrics)
    _write_outputs(run, cfg, rounds, initial, metrics)
    build_report([run.path], title="adapt pseudo-label")
    return RunResult(run.path, metrics)


def _selected(rounds: list[dict[str, Any]], chosen: dict[str, Any], by: str) -> dict[str, Any]:
    """The round a validator chose, the last round's accuracy, and the oracle's round with the gap: the oracle
    reads the target test labels, reported beside the label-free choice and never used to choose."""
    oracle = max(rounds, key=lambda x: x["target.class_acc"])
    return {"by": by, "round": chosen["round"], "last_round_target_acc": rounds[-1]["target.class_acc"],
            "oracle_round": oracle["round"], "oracle_target_acc": oracle["target.class_acc"],
            "gap_to_oracle": oracle["target.class_acc"] - chosen["target.class_acc"]}


def _round(sc: _Scorer, optim: torch.optim.Optimizer, on_target: DANN, r: int, cfg: PseudoLabelConfig,
           opts: RunOptions) -> tuple[dict[str, Any], DANN, dict[str, float], dict[str, float]]:
    """Round r (0-based): pseudo-labels from the model as evaluated on the target, one round of training,
    then the test numbers and validators. Returns (the round's row, the new on-target model, target and
    source test numbers)."""
    src, tgt, device = sc.src, sc.tgt, sc.device
    t0 = time.perf_counter()
    half = cfg.batch_size // 2
    probs = predict(on_target, tgt.x_train, device)
    tau = round_threshold(cfg, r)
    idx, lab = select_pseudo_labels(probs, tau, cfg.class_balance)
    if cfg.oracle_labels:
        idx, lab = torch.arange(len(tgt.y_train)), tgt.y_train.clone()
    if len(idx) < half:
        confident = int((probs.max(1).values >= tau).sum())
        raise DlappsError(
            f"round {r + 1}: only {len(idx)} target images are usable ({confident} of {len(probs)} reach "
            f"confidence {tau:.3f}; one batch needs {half}): the start model is not confident on the target. "
            "Train it longer (more --epochs in the DANN run), or pass --threshold lower")
    label_acc = (lab == tgt.y_train[idx]).float().mean().item()  # hidden labels: measurement only
    steps = len(src.x_train) // half * cfg.epochs_per_round
    _train_round(sc.model, optim, src, tgt, idx, lab, r, steps, cfg, AUGMENTATIONS[cfg.augment], opts.seed,
                 opts.quiet, device)
    on_target, on_source = sc.on(tgt), sc.on(src)
    ev_t, ev_s = sc.test(on_target, tgt), sc.test(on_source, src)
    t_val = time.perf_counter()
    # DEV here weighs by the start run's domain classifier: pseudo-labelling does not train the domain head
    vals = validators(on_source, on_target, src, tgt, sc.kind, device)
    row = {"round": r + 1, "threshold": tau, "n_labels": int(len(idx)), "label_acc": label_acc,
           "target.class_acc": ev_t["class_acc"], "source.class_acc": ev_s["class_acc"], **vals,
           "val_s": time.perf_counter() - t_val, "seconds": time.perf_counter() - t0}
    if not opts.quiet:
        print(f"round {r + 1}: {len(idx)} pseudo-labels ({label_acc:.4f} correct), target acc "
              f"{ev_t['class_acc']:.4f}", flush=True)
    return row, on_target, ev_t, ev_s


def _strip(row: dict[str, Any]) -> dict[str, float]:
    """The validator scores of a round (``validators.<name>`` -> ``<name>``)."""
    return validators_of(row)


def _train_round(model: DANN, optim: torch.optim.Optimizer, src: Any, tgt: Any, idx: torch.Tensor, lab: torch.Tensor,
                 r: int, steps: int, cfg: PseudoLabelConfig, augment: Any, seed: int, quiet: bool,
                 device: torch.device) -> None:
    """One round: ``steps`` SGD steps on half source batches and half pseudo-labelled target batches
    (images ``idx`` of the target train set, labels ``lab``), seeded by the round for identical resumes."""
    half = cfg.batch_size // 2
    gen = torch.Generator().manual_seed(seed * 1000 + r)
    torch.manual_seed(seed * 1000 + r)  # dropout's masks too: a resumed round repeats the same numbers
    model.train()
    for i in tqdm(range(steps), desc=f"round {r + 1}/{cfg.rounds}", disable=quiet or None, leave=False):
        if cfg.lr_schedule == "anneal":
            for g in optim.param_groups:
                g["lr"] = lr_at((r * steps + i) / (cfg.rounds * steps), cfg.lr)
        bs = torch.randint(len(src.x_train), (half,), generator=gen)
        bt = torch.randint(len(idx), (half,), generator=gen)
        xs = src.x_train[bs].to(device, memory_format=CL)                 # (B/2, 3, 28, 28)
        xt = tgt.x_train[idx[bt]]                                          # (B/2, 3, 28, 28)
        xt = augment(xt, gen).to(device, memory_format=CL)
        ys, yt = src.y_train[bs].to(device), lab[bt].to(device)
        if model.batchnorm:  # one pass per domain, as in DANN training: each domain keeps its own BN statistics
            loss = (F.cross_entropy(model(xs)[0], ys) + F.cross_entropy(model(xt)[0], yt)) / 2
        else:
            loss = F.cross_entropy(model(torch.cat([xs, xt]))[0], torch.cat([ys, yt]))
        optim.zero_grad(set_to_none=True)
        loss.backward()
        optim.step()
        if not torch.isfinite(loss):
            raise DivergenceError(f"pseudo-label round {r + 1}: loss became {loss.item()}")


def _write_outputs(run: RunDir, cfg: PseudoLabelConfig, rounds: list[dict[str, Any]], initial: float,
                   metrics: dict[str, Any]) -> None:
    """The rounds table, the accuracy-per-round and validator figures and the summary."""
    last = rounds[-1]
    validators_table_and_figure(run, rounds, "round", "target.class_acc")
    sel = metrics.get("selected")
    selection = (f" Reported: round {sel['round']}, the one validator **{sel['by']}** scores best (target test "
                 f"accuracy {metrics['target']['class_acc']:.4f}; the last round's was {sel['last_round_target_acc']:.4f})."
                 if sel else "")
    cols = ["round", "threshold", "n_labels", "label_acc", "target.class_acc", "source.class_acc"]
    run.write_table("rounds", cols, [[x[c] for c in cols] for x in rounds], caption="Pseudo-labelling rounds")
    run.save_figure(curves({"target test acc": [initial] + [x["target.class_acc"] for x in rounds],
                            "pseudo-label acc": [float("nan")] + [x["label_acc"] for x in rounds]},
                           "round", "accuracy", "Self-training on the target", x=list(range(len(rounds) + 1))),
                    "rounds")
    run.write_text("summary.md", (
        ("**Oracle run (true target labels, a ceiling, not an adaptation result)**. " if cfg.oracle_labels else "")
        + f"**Pseudo-labelling** from `{cfg.start}`: {cfg.rounds} rounds, threshold {cfg.threshold}"
        + (f" → {cfg.threshold_end}" if cfg.threshold_end is not None else "") + ", "
        f"class balance {'on' if cfg.class_balance else 'off'}, augmentation {cfg.augment}. "
        f"Target test accuracy {initial:.4f} → "
        f"**{last['target.class_acc']:.4f}**; last round used {last['n_labels']:,} pseudo-labels, "
        f"{last['label_acc']:.4f} of them correct (measured with the hidden target labels).{selection}\n"))
