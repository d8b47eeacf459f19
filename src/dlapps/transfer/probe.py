"""Linear probes: features at named layers -> linear SVM with C chosen by cross-validated grid search."""

from __future__ import annotations

import time
from typing import Any, get_args

import numpy as np
import torch

from dlapps import DlappsError
from dlapps.core.data import DataBundle, load_dataset
from dlapps.core.models import build_model
from dlapps.runner.results import RunResult
from dlapps.runner.runs import RunOptions, start_run
from dlapps.core.inference import Inference
from dlapps.transfer.config import Classifier, ProbeConfig
from dlapps.transfer.features import extract, layer_output_shapes, prepare_image
from dlapps.transfer.report import write_probe_outputs


CLASSIFIERS: tuple[str, ...] = get_args(Classifier)


def make_classifier(kind: str, seed: int, standardize: bool):
    """A scikit-learn pipeline (optional StandardScaler -> classifier); its C is the step ``clf__C``.

    ``svm`` is libsvm's linear SVM (hinge loss, one-vs-one) on a Gram matrix computed with BLAS: on
    15-Scene's 1,500 training images a fit takes well under 0.1 s even at 1,280 dimensions, whereas
    liblinear's ``linearsvc`` (squared hinge, one-vs-rest) needed 8-200 s per fit there at C >= 0.01.
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics.pairwise import linear_kernel
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.svm import SVC, LinearSVC

    if kind == "svm":
        clf = SVC(kernel=linear_kernel)  # exact linear kernel; the callable makes libsvm use a precomputed Gram
    elif kind == "linearsvc":
        clf = LinearSVC(dual="auto", max_iter=1000, random_state=seed)  # sklearn default; high C may stop early
    elif kind == "logreg":
        clf = LogisticRegression(max_iter=2000, tol=1e-3)  # 1e-4 doubles the fit time for < 0.001 accuracy here
    else:
        raise DlappsError(f"unknown --classifier {kind!r}; use one of {', '.join(CLASSIFIERS)}")
    return Pipeline(([("scale", StandardScaler())] if standardize else []) + [("clf", clf)])


def fit_probe(xtr: np.ndarray, ytr: np.ndarray, xte: np.ndarray, yte: np.ndarray, cfg: ProbeConfig,
              seed: int, n_classes: int) -> dict[str, Any]:
    """Grid-search C by stratified k-fold CV, refit on all training data, evaluate on test."""
    import warnings

    from sklearn.exceptions import ConvergenceWarning
    from sklearn.metrics import confusion_matrix
    from sklearn.model_selection import GridSearchCV, StratifiedKFold

    folds = min(cfg.folds, int(np.bincount(ytr).min()))
    if folds < 2:
        raise DlappsError("too few training images per class for cross-validation (need >= 2)")
    # refit=False: every C is fitted on the whole training set below anyway (for the C-vs-accuracy
    # figure), and the best one is taken from those fits instead of being fitted a second time
    grid = GridSearchCV(make_classifier(cfg.classifier, seed, cfg.standardize), {"clf__C": cfg.c_grid},
                        cv=StratifiedKFold(folds, shuffle=True, random_state=seed), n_jobs=cfg.svm_jobs,
                        refit=False, return_train_score=False)
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        grid.fit(xtr, ytr)
        fitted = [make_classifier(cfg.classifier, seed, cfg.standardize).set_params(clf__C=c).fit(xtr, ytr)
                  for c in cfg.c_grid]
    fit_s = time.perf_counter() - t0
    test_by_c = [float((m.predict(xte) == yte).mean()) for m in fitted]
    best = fitted[int(grid.best_index_)]
    pred = best.predict(xte)
    cm = confusion_matrix(yte, pred, labels=list(range(n_classes)))
    per_class = (np.diag(cm) / np.maximum(cm.sum(1), 1)).tolist()
    t1 = time.perf_counter()
    best.predict(xte[:1])
    return {
        "train_acc": float((best.predict(xtr) == ytr).mean()),
        "test_acc": float((pred == yte).mean()),
        "best_C": float(grid.best_params_["clf__C"]),
        "cv_acc": float(grid.best_score_),
        "cv_by_C": [float(v) for v in grid.cv_results_["mean_test_score"]],
        "cv_std_by_C": [float(v) for v in grid.cv_results_["std_test_score"]],
        "test_by_C": test_by_c,
        "per_class_acc": per_class,
        "confusion": cm.tolist(),
        "fit_s": fit_s,
        "svm_predict_one_s": time.perf_counter() - t1,
        "dim": int(xtr.shape[1]),
    }


def limit_per_class(bundle: DataBundle, n: int, seed: int, train_n: int = 0) -> DataBundle:
    """At most ``n`` images per class in each split (quick runs), and/or at most ``train_n`` labelled
    training images per class with the whole test split (the few-label regime, where what a pretrained
    network learned matters most); a seeded choice."""
    if not n and not train_n:
        return bundle
    rng = np.random.default_rng(seed)

    def pick(s, k):
        if not k:
            return s
        y = s.labels.numpy()
        idx = np.concatenate([rng.permutation(np.flatnonzero(y == c))[:k] for c in np.unique(y)])
        return s.subset(np.sort(idx))

    k_train = min(v for v in (n, train_n) if v)
    note = (f" (at most {n} per class per split)" if n else "") + (
        f" ({train_n} labelled training images per class)" if train_n else "")
    return DataBundle(bundle.name, pick(bundle.train, k_train), pick(bundle.test, n), bundle.source + note, bundle.note)


def run_probe(cfg: ProbeConfig, opts: RunOptions | None = None) -> RunResult:
    """Extract features for every (model, layer), fit the SVMs, write tables, figures and report."""
    opts = opts or RunOptions()
    if not cfg.c_grid or any(c <= 0 for c in cfg.c_grid):
        raise DlappsError("--c-grid needs positive values, e.g. 0.01,0.1,1,10")
    run, device = start_run("transfer", "probe", cfg, opts)
    inference = Inference(device=device, precision=cfg.precision, engine=cfg.engine)
    run.update_config(inference=inference.describe())
    bundle = limit_per_class(load_dataset(cfg.data, source=cfg.data_source), cfg.per_class, opts.seed, cfg.train_per_class)
    run.update_config(data_source=bundle.source)
    ytr, yte = bundle.train.labels.numpy(), bundle.test.labels.numpy()
    n_classes = len(bundle.class_names)
    results: list[dict[str, Any]] = []
    models_used = {}
    for spec in cfg.models:
        name, _, w = spec.partition(":")
        lm = build_model(name, w or cfg.weights)
        models_used[spec] = lm.weights
        shapes = layer_output_shapes(lm, cfg.layers)
        feats = extract(lm, bundle, cfg.layers, cfg.pool, cfg.gray, cfg.batch_size, device, opts.quiet, cfg.cache,
                        inference)
        state = "cache hit" if feats.cached else ("extracted " + ",".join(feats.extracted))
        print(f"features {spec}: {state} in {feats.extract_s:.1f} s "
              f"({feats.images_per_s:.1f} images/s when extracted)", flush=True)
        one = _time_one_image(lm, bundle, device)
        for layer in cfg.layers:
            r = fit_probe(feats.train[layer], ytr, feats.test[layer], yte, cfg, opts.seed, n_classes)
            r.update(model=spec, weights=lm.weights, layer=layer, layer_shape=list(shapes[layer]),
                     timings={"extract_s": feats.extract_s, "fit_s": r.pop("fit_s"),
                              "predict_one_s": one + r.pop("svm_predict_one_s")},
                     features_cached=layer not in feats.extracted, images_per_s=feats.images_per_s)
            results.append(r)
            print(f"{spec} {layer}: test accuracy {r['test_acc']:.4f} (C={r['best_C']:g}, cv {r['cv_acc']:.4f})",
                  flush=True)
    best = max(results, key=lambda r: r["cv_acc"])
    metrics = {k: best[k] for k in ("train_acc", "test_acc", "best_C", "timings", "per_class_acc", "model", "layer")}
    metrics["results"] = results
    run.update_config(model=models_used)
    run.write_metrics(metrics)
    write_probe_outputs(run, cfg, bundle, results, best)
    return RunResult(run.path, metrics)


@torch.no_grad()
def _time_one_image(lm, bundle: DataBundle, device: torch.device) -> float:
    """Seconds to preprocess and run one image through the whole network (the single-image latency),
    after one warm-up call so that one-off kernel set-up is not counted."""
    model = lm.model.to(device)
    model(prepare_image(bundle.test, 0, lm, "replicate")[None].to(device))
    t0 = time.perf_counter()
    x = prepare_image(bundle.test, 0, lm, "replicate")[None].to(device)
    model(x)
    return time.perf_counter() - t0
