"""Validators for unsupervised domain adaptation: scores computed without target labels that should rank
runs the way target accuracy would (Musgrave et al. 2022). Each is a small pure function of what a run
may use — labelled source validation data and unlabelled target data — with "higher is better" noted.

* ``source_val_accuracy``: accuracy on held-out labelled source images (higher is better).
* ``entropy``: mean prediction entropy on the target; a score is its negative (confident is better).
* ``information_maximization``: H(mean p) - mean H(p) (Shi & Sha 2012; Liang et al. 2020): confident and
  class-balanced target predictions (higher is better).
* ``soft_neighborhood_density``: SND (Saito et al. 2021), the entropy of each target sample's softmax
  over its similarities to the others; dense, well-clustered neighbourhoods score higher.
* ``batch_nuclear_norm``: BNM (Cui et al. 2020), the nuclear norm of the target prediction matrix over
  its size: discriminable and diverse predictions (higher is better).
* ``deep_embedded_validation``: DEV (You et al. 2019), the source validation loss weighted by the density
  ratio p_target/p_source from a domain classifier, with the control variate; lower is better.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np
import torch
import torch.nn.functional as F

from dlapps import DlappsError

# every validator a run records (``validators.<name>`` in its history and its metrics), and its direction;
# ``target_val`` is not label-free: it needs ``--target-val N`` labelled target images (a separate protocol)
HIGHER_IS_BETTER = {"source_acc": True, "entropy": False, "im": True, "snd": True, "bnm": True, "dev": False,
                    "target_val": True}
LABEL_FREE = ("source_acc", "entropy", "im", "snd", "bnm", "dev")


def validator_name(name: str) -> str:
    """The canonical name of a validator as a user may write it (``target-val``, ``SND``)."""
    key = name.strip().lower().replace("-", "_")
    if key not in HIGHER_IS_BETTER:
        raise DlappsError(f"unknown validator {name!r}; use one of {', '.join(HIGHER_IS_BETTER)}")
    return key


def source_val_accuracy(logits: torch.Tensor, labels: torch.Tensor) -> float:
    """Accuracy (N, K) logits against (N,) labels of held-out labelled source images."""
    return float((logits.argmax(1) == labels).float().mean())


def entropy(probs: torch.Tensor) -> float:
    """Mean entropy (nats) of the (N, K) target predictions."""
    return float(-(probs * probs.clamp_min(1e-12).log()).sum(1).mean())


def information_maximization(probs: torch.Tensor) -> float:
    """Entropy of the mean prediction minus the mean entropy: maximal (log K) for confident predictions
    spread evenly over the K classes, 0 for uniform or for all-one-class predictions."""
    mean = probs.mean(0)
    marginal = float(-(mean * mean.clamp_min(1e-12).log()).sum())
    return marginal - entropy(probs)


def soft_neighborhood_density(probs: torch.Tensor, temperature: float = 0.05) -> float:
    """SND: L2-normalise the (N, K) target softmax outputs, take each sample's softmax over its cosine
    similarities to the other samples (divided by ``temperature``), and average the entropies."""
    f = F.normalize(probs.float(), dim=1)
    sim = f @ f.T / temperature                                    # (N, N)
    sim.fill_diagonal_(float("-inf"))                              # not its own neighbour
    p = torch.softmax(sim, 1)
    return float(-(p * p.clamp_min(1e-12).log()).sum(1).mean())


def batch_nuclear_norm(probs: torch.Tensor) -> float:
    """BNM: ||P||_* / N for the (N, K) target prediction matrix P (NaN for a diverged model's NaN output)."""
    if not torch.isfinite(probs).all():
        return float("nan")
    return float(torch.linalg.matrix_norm(probs.float(), ord="nuc") / len(probs))


def deep_embedded_validation(losses: torch.Tensor, domain_prob_target: torch.Tensor,
                             n_source: int | None = None, n_target: int | None = None) -> float:
    """DEV: the held-out source validation ``losses`` (N,) weighted by the density ratio
    w = (n_s / n_t) * d / (1 - d), d the domain classifier's probability that an image is from the target;
    with the control variate eta = -Cov(w l, w) / Var(w), which removes the weights' variance. Equal to
    the plain mean loss when every w is 1."""
    d = domain_prob_target.double().clamp(1e-6, 1 - 1e-6)
    ratio = (n_source / n_target) if n_source and n_target else 1.0
    w = ratio * d / (1 - d)
    w = w / w.mean()                                               # normalised weights, mean 1
    wl = w * losses.double()
    var = float(w.var(unbiased=False))
    eta = -float(((wl - wl.mean()) * (w - w.mean())).mean()) / var if var > 1e-12 else 0.0
    return float(wl.mean() + eta * w.mean() - eta)


def spearman(a: Sequence[float], b: Sequence[float]) -> float:
    """Rank correlation of a validator's scores with target accuracy over a sweep's points: the Pearson
    correlation of average ranks (ties share their mean rank), as ``scipy.stats.spearmanr`` computes it
    (a test checks the two agree); numpy alone, because importing scipy.stats costs 2 s per run."""
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if len(a) < 2 or np.std(a) == 0 or np.std(b) == 0:
        return float("nan")
    ra, rb = average_ranks(a), average_ranks(b)
    return float(np.corrcoef(ra, rb)[0, 1])


def average_ranks(x: np.ndarray) -> np.ndarray:
    """Ranks 1..n of ``x``; tied values get the mean of the ranks they span."""
    order = np.argsort(x, kind="stable")
    ranks = np.empty(len(x))
    ranks[order] = np.arange(1, len(x) + 1)
    values, inverse = np.unique(x, return_inverse=True)
    sums = np.bincount(inverse, weights=ranks, minlength=len(values))
    return (sums / np.bincount(inverse, minlength=len(values)))[inverse]


def select_by(scores: dict[str, float], validator: str) -> str:
    """The point a validator picks: the argmax of its score (argmin where lower is better)."""
    if not scores:
        raise ValueError("no points to select from")
    best = max if HIGHER_IS_BETTER.get(validator, True) else min
    return best(scores, key=lambda k: scores[k])


def validators_of(row: dict[str, Any]) -> dict[str, float]:
    """The validator scores of one history row (its ``validators.<name>`` entries), by name."""
    return {k[len("validators."):]: v for k, v in row.items() if k.startswith("validators.")}


def check_selection(stop_by: str, patience: int, source_val: int, target_val: int) -> None:
    """--stop-by names a validator the run records (source_acc and dev need --source-val, target_val needs
    --target-val); --patience only means something with it."""
    if patience < 0:
        raise DlappsError("--patience must be >= 0")
    if not stop_by:
        if patience:
            raise DlappsError("--patience needs --stop-by VALIDATOR")
        return
    name = validator_name(stop_by)
    if name in ("source_acc", "dev") and not source_val:
        raise DlappsError(f"--stop-by {stop_by} needs a source validation split (--source-val > 0)")
    if name == "target_val" and not target_val:
        raise DlappsError("--stop-by target-val needs labelled target images: --target-val N")


def best_index(history: list[dict[str, Any]], validator: str) -> int:
    """The entry (epoch or round) a validator scores best; the earliest on ties."""
    key, sign = f"validators.{validator}", (1 if HIGHER_IS_BETTER[validator] else -1)
    scores = [sign * h[key] for h in history]
    return scores.index(max(scores))


def should_stop(history: list[dict[str, Any]], validator: str, patience: int) -> bool:
    """Early stopping: ``patience`` entries in a row without a better validator score."""
    return bool(validator and patience and history and len(history) - 1 - best_index(history, validator) >= patience)
