"""Samples from a trained generator and their measured quality: class coverage, class KL, classifier-FID
beside its floor, conditional accuracy, and (single-channel data) the speck rate beside the real images'."""

from __future__ import annotations

from typing import Any
import numpy as np
import torch
from dlapps.generate import metrics as M
from dlapps.generate.networks import Generator
from dlapps.runner.runs import RunOptions
from dlapps.generate.config import GanConfig, images_32


@torch.no_grad()
def generate(G: Generator, n: int, nz: int, n_classes: int, device: torch.device, seed: int,
             labels: torch.Tensor | None = None, batch: int = 1000) -> tuple[torch.Tensor, torch.Tensor]:
    """n samples in [-1, 1] (CPU) and the labels they were asked for (uniform when conditional)."""
    g = torch.Generator().manual_seed(seed)
    if labels is None:
        labels = torch.arange(n) % max(n_classes, 1)
    out = []
    for i in range(0, n, batch):
        z = torch.randn(min(batch, n - i), nz, generator=g).to(device)
        out.append(G(z, labels[i:i + batch].to(device) if G.n_classes else None).cpu())
    return torch.cat(out), labels


def coverage_failure(coverage: int, n_classes: int) -> str | None:
    """The failure a run records when its samples cover too few classes (training and re-measuring alike)."""
    if coverage < max(2, int(0.8 * n_classes)):
        return (f"class coverage collapse: only {coverage} of {n_classes} classes have >= 2 % of the samples "
                "(mode collapse)")
    return None


def quality(G: Generator, cfg: GanConfig, x_test: torch.Tensor, y_test: torch.Tensor, n_classes: int, bundle: Any,
            device: torch.device, opts: RunOptions) -> dict:
    """Coverage, KL, classifier-FID (+ floor), conditional accuracy, speck rate (+ the real test images').

    The judge is one cached classifier per dataset and source, trained on the dataset's whole training
    split whatever this run's --limit, so numbers of runs with different options stay comparable."""
    x_full, y_full = images_32(bundle.train.images), bundle.train.labels
    single = bundle.train is bundle.test
    if single:
        # one split only (the CIFAR-10 test subset): the judge trains on one half and every score is taken on the
        # other, so it is never scored on images it has seen
        perm = torch.randperm(len(x_test), generator=torch.Generator().manual_seed(2))
        h = len(x_test) // 2
        x_full, y_full = x_test[perm[:h]], y_test[perm[:h]]
        x_test, y_test = x_test[perm[h:]], y_test[perm[h:]]
    ref = M.reference_classifier(x_full, y_full, x_test, y_test,
                                 key=f"{cfg.data}|{bundle.source}" + ("|judge-half" if single else ""), seed=0,
                                 quiet=opts.quiet)
    ref_split = (f"one half of its test images ({len(x_full):,}; no training split is available here), scored on "
                 f"the other half ({len(x_test):,})" if single else "its whole training split")
    n = cfg.eval_samples
    fake, asked = generate(G, n, cfg.nz, n_classes, device, seed=opts.seed + 7)
    pred = M.predict(ref.model, fake).argmax(1)
    real_dist = np.bincount(bundle.train.labels.numpy(), minlength=n_classes).astype(float)
    out: dict[str, Any] = M.class_coverage(pred, n_classes, real_dist)
    m = min(n, len(x_test), len(x_full))  # the floor (real train vs real test) ignores --limit too
    g = torch.Generator().manual_seed(1)
    f_test = M.features(ref.model, x_test[torch.randperm(len(x_test), generator=g)[:m]])
    out["classifier_fid"] = M.frechet_distance(M.features(ref.model, fake[:m]), f_test)
    if single:
        # the scoring half against itself would be 0 by construction, so the floor is two disjoint halves of it
        # (fewer images each, so a little higher than a full-size floor)
        h = len(x_test) // 2
        half = torch.randperm(len(x_test), generator=g)
        out["classifier_fid_floor"] = M.frechet_distance(M.features(ref.model, x_test[half[:h]]),
                                                         M.features(ref.model, x_test[half[h:2 * h]]))
        out["classifier_fid_floor_from"] = f"two disjoint halves of the scoring images ({h:,} each)"
    else:
        f_train = M.features(ref.model, x_full[torch.randperm(len(x_full), generator=g)[:m]])
        out["classifier_fid_floor"] = M.frechet_distance(f_train, f_test)
        out["classifier_fid_floor_from"] = f"real training vs real test images ({m:,} each)"
    out["reference_classifier_test_acc"] = ref.test_acc
    out["eval_samples"] = n
    if cfg.conditional:
        out["conditional_accuracy"] = (pred == asked).float().mean().item()
    if fake.shape[1] == 1:  # stray dots are a question about drawings on a blank ground, not about photos
        out["speck_rate"] = M.speck_rate(fake)
        out["speck_rate_real"] = M.speck_rate(x_test)
    out["reference_classifier_trained_on"] = ref_split
    out["standard_fid_note"] = ("not computed: the Inception weights that FID/IS need cannot be downloaded offline; "
                                "classifier-FID uses a classifier trained on the dataset instead")
    return out
