"""UDA validators on toy inputs with known answers (no target labels involved)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from dlapps.adapt.validators import (batch_nuclear_norm, deep_embedded_validation, entropy,
                                     information_maximization, select_by, soft_neighborhood_density,
                                     source_val_accuracy, spearman)


def test_entropy_and_information_maximization_have_their_known_extremes():
    k = 4
    uniform = torch.full((8, k), 1 / k)
    confident_balanced = torch.eye(k).repeat(2, 1)               # each class twice, probability 1
    confident_one_class = torch.eye(k)[[0] * 8]
    assert entropy(uniform) == pytest.approx(math.log(k)) and entropy(confident_balanced) == pytest.approx(0)
    assert information_maximization(confident_balanced) == pytest.approx(math.log(k))  # the maximum
    assert information_maximization(uniform) == pytest.approx(0, abs=1e-6)
    assert information_maximization(confident_one_class) == pytest.approx(0, abs=1e-6)


def test_snd_is_higher_for_well_clustered_target_predictions():
    g = torch.Generator().manual_seed(0)
    centres = torch.eye(5)
    clustered = torch.softmax(8 * centres[torch.arange(100) % 5] + 0.1 * torch.randn(100, 5, generator=g), 1)
    scattered = torch.softmax(torch.randn(100, 5, generator=g), 1)
    assert soft_neighborhood_density(clustered) > soft_neighborhood_density(scattered)


def test_bnm_rewards_confident_and_diverse_predictions():
    k = 4
    diverse = torch.eye(k).repeat(3, 1)
    collapsed = torch.eye(k)[[1] * 12]
    uniform = torch.full((12, k), 1 / k)
    assert batch_nuclear_norm(diverse) > batch_nuclear_norm(collapsed) > batch_nuclear_norm(uniform) - 1e-9
    assert batch_nuclear_norm(diverse) == pytest.approx(math.sqrt(3) * k / 12)  # k singular values sqrt(3)


def test_dev_equals_the_plain_source_loss_when_the_density_ratio_is_one():
    losses = torch.tensor([0.1, 0.5, 2.0, 0.3])
    assert deep_embedded_validation(losses, torch.full((4,), 0.5)) == pytest.approx(float(losses.mean()))
    # images the domain classifier finds target-like weigh more: their loss dominates
    d = torch.tensor([0.1, 0.1, 0.9, 0.1])
    assert deep_embedded_validation(losses, d) != pytest.approx(float(losses.mean()))


def test_source_accuracy_rank_correlation_and_selection():
    assert source_val_accuracy(torch.tensor([[2.0, 0], [0, 1], [1, 0]]), torch.tensor([0, 1, 1])) == pytest.approx(2 / 3)
    assert spearman([1, 2, 3, 4], [10, 20, 30, 40]) == pytest.approx(1.0)
    assert spearman([1, 2, 3, 4], [4, 3, 2, 1]) == pytest.approx(-1.0)
    from scipy.stats import spearmanr  # the reference: numpy ranks must agree with it, ties included

    rng = np.random.default_rng(0)
    for _ in range(20):
        a, b = rng.integers(0, 4, 9).astype(float), rng.normal(size=9)  # many ties in a
        if np.std(a) > 0:
            assert spearman(a, b) == pytest.approx(spearmanr(a, b).statistic, abs=1e-12)
    scores = {"lr=0.01": 0.2, "lr=0.03": 0.9, "lr=0.1": 0.5}
    assert select_by(scores, "im") == "lr=0.03"      # higher is better: the argmax
    assert select_by(scores, "dev") == "lr=0.01"     # a loss: the argmin


def test_dann_records_validators_every_epoch_and_stop_by_reports_the_epoch_it_picks(tmp_path):
    """Every epoch records all validators (source_acc/dev on the held-out source split, target_val on the
    --target-val split); --stop-by reports the epoch the validator scores best, with that epoch's weights."""
    from dlapps.adapt import DannConfig, run_dann
    from dlapps.adapt.dann import load_dann_checkpoint
    from dlapps.runner.runs import RunOptions

    r = run_dann(DannConfig(epochs=3, data_source="embedded", limit=600, tsne_points=0, batch_size=64,
                            target_val=100, stop_by="entropy"),
                 RunOptions(out=str(tmp_path / "d"), quiet=True))
    rows = r.metrics["history"]
    names = {"validators.source_acc", "validators.dev", "validators.entropy", "validators.im", "validators.snd",
             "validators.bnm", "validators.target_val"}
    assert all(names <= set(h) for h in rows)
    best = min(range(3), key=lambda i: rows[i]["validators.entropy"])          # entropy: lower is better
    assert r.metrics["selected"]["epoch"] == best + 1
    assert r.metrics["target"]["class_acc"] == rows[best]["target.class_acc"]
    # the oracle's epoch (target test labels: reported, never chosen by) and the gap, beside the choice
    oracle = max(range(3), key=lambda i: rows[i]["target.class_acc"])
    sel = r.metrics["selected"]
    assert sel["oracle_epoch"] == oracle + 1 and sel["gap_to_oracle"] == rows[oracle]["target.class_acc"] - \
        rows[best]["target.class_acc"] >= 0
    assert f"would pick epoch {oracle + 1}" in (r.run_dir / "summary.md").read_text()
    v = r.metrics["validators"]
    assert v == {k[len("validators."):]: rows[best][k] for k in rows[best] if k.startswith("validators.")}
    assert 0 <= v["entropy"] <= math.log(10) + 1e-6 and -1e-6 <= v["im"] <= math.log(10) + 1e-6 and 0 < v["bnm"] <= 1
    # pseudo-labelling starts from the selected epoch's weights, not the last epoch's
    model, _, _ = load_dann_checkpoint(r.run_dir)
    sel = torch.load(r.run_dir / "checkpoints" / "selected.pt", weights_only=True)
    assert sel["epoch"] == best + 1
    assert all(torch.equal(model.state_dict()[k], t) for k, t in sel["parts"]["model"].items())
    assert (r.run_dir / "figures" / "validators.png").exists() and (r.run_dir / "tables" / "validators.md").exists()
    assert r.metrics["timing"]["validators_share"] < 0.5


def test_target_val_split_is_carved_from_train_never_overlaps_test_and_never_enters_training(tmp_path, monkeypatch):
    from dlapps.adapt import DannConfig, dann, run_dann
    from dlapps.adapt.data import DomainSpec, load_domains
    from dlapps.runner.runs import RunOptions

    full_s, full_t, _ = load_domains(DomainSpec(data_source="embedded", limit=800, source_val=0))
    src, tgt, _ = load_domains(DomainSpec(data_source="embedded", limit=800, source_val=1000, target_val=150))
    assert len(tgt.x_val) == 150 and len(tgt.x_train) + 150 == len(full_t.x_train)
    assert len(src.x_val) == 80 and len(src.x_train) + 80 == len(full_s.x_train)   # capped at 10 %
    rows = lambda x: {tuple(v) for v in x.flatten(1)[:, ::7].tolist()}
    assert not rows(tgt.x_val) & rows(tgt.x_train) and not rows(tgt.x_val) & rows(tgt.x_test)
    assert torch.equal(tgt.x_test, full_t.x_test)                                   # the test set is untouched
    assert rows(tgt.x_val) | rows(tgt.x_train) == rows(full_t.x_train)

    # poison the carved images: if any reached a training step the loss would be NaN and the run would stop
    def poisoned(*a, **k):
        s, t, st = load_domains(*a, **k)
        t.x_val = torch.full_like(t.x_val, float("nan"))
        s.x_val = torch.full_like(s.x_val, float("nan"))
        return s, t, st

    monkeypatch.setattr(dann, "load_domains", poisoned)
    r = run_dann(DannConfig(epochs=1, data_source="embedded", limit=400, tsne_points=0, batch_size=64, target_val=100),
                 RunOptions(out=str(tmp_path / "d"), quiet=True))
    assert r.metrics["complete"] and math.isfinite(r.metrics["history"][0]["train.class_loss"])
    assert math.isnan(r.metrics["validators"]["dev"])  # the poison was real: the validators (only) read it


def test_select_by_picks_the_validators_argmax_on_a_synthetic_sweep(tmp_path):
    """Three points x two seeds with known validator scores: each validator picks its best point, the
    oracle is the best target accuracy, gaps and rank correlations follow."""
    import json

    from dlapps.sweep import Point, SweepSpec, aggregate

    acc = {"a": 0.70, "b": 0.90, "c": 0.80}
    im = {"a": 1.0, "b": 2.0, "c": 1.5}          # ranks like accuracy
    dev = {"a": 0.1, "b": 0.3, "c": 0.2}         # lower is better: picks a (a gap of 0.2)
    points = [Point(f"lr={n}", {}, s) for n in acc for s in (0, 1)]
    for p in points:
        n = p.name[-1]
        d = tmp_path / p.dirname
        d.mkdir()
        jitter = 0.01 * p.seed
        (d / "metrics.json").write_text(json.dumps({"target": {"class_acc": acc[n] + jitter}, "complete": True,
                                                    "validators": {"im": im[n] + jitter, "dev": dev[n]}}))
        (d / "report.md").write_text("done")
    (tmp_path / "config.json").write_text(json.dumps({"app": "sweep", "command": "synthetic.toml", "options": {}}))
    aggregate(SweepSpec(command=["adapt", "dann"], seeds=[0, 1], metrics=["target.class_acc"]), points, tmp_path,
              select_by="dev")
    m = json.loads((tmp_path / "metrics.json").read_text())
    picks = {x["validator"]: x for x in m["selection"]}
    assert picks["oracle"]["point"] == "lr=b" and picks["im"]["point"] == "lr=b" and picks["im"]["gap"] == 0
    assert picks["im"]["rho"] == pytest.approx(1.0) and picks["dev"]["rho"] == pytest.approx(-1.0)
    assert picks["dev"]["point"] == "lr=a" and picks["dev"]["gap"] == pytest.approx(0.2)
    assert m["selected_by"] == "dev" and m["selected_point"] == "lr=a"
    table = (tmp_path / "tables" / "selection.md").read_text()
    assert "**dev** ← --select-by" in table and (tmp_path / "figures" / "selection.png").exists()
    from dlapps import DlappsError

    with pytest.raises(DlappsError, match="snd"):
        aggregate(SweepSpec(command=["adapt", "dann"], seeds=[0, 1]), points, tmp_path, select_by="snd")


def test_early_stopping_waits_patience_entries_after_the_best():
    from dlapps.adapt.dann import best_index, should_stop

    hist = [{"validators.im": v} for v in (1.0, 1.4, 1.3, 1.2)]       # best at epoch 2, then two worse epochs
    assert best_index(hist, "im") == 1
    assert not should_stop(hist[:3], "im", 2) and should_stop(hist, "im", 2)
    assert not should_stop(hist, "im", 0) and not should_stop(hist, "", 2)   # patience 0: train every epoch
    assert best_index([{"validators.dev": v} for v in (0.3, 0.1, 0.1)], "dev") == 1  # lower is better; earliest on ties


def test_selection_options_fail_in_one_line_before_any_run(tmp_path):
    from test_cli import assert_one_line_error, dlapps

    common = ("--data-source", "embedded", "--epochs", "1", "--out")
    assert_one_line_error(dlapps("adapt", "dann", *common, str(tmp_path / "a"), "--stop-by", "accuracy"),
                          "unknown validator 'accuracy'")
    assert_one_line_error(dlapps("adapt", "dann", *common, str(tmp_path / "b"), "--stop-by", "target-val"),
                          "--target-val N")
    assert_one_line_error(dlapps("adapt", "dann", *common, str(tmp_path / "c"), "--patience", "3"),
                          "--patience needs --stop-by")
    assert_one_line_error(dlapps("adapt", "dann", *common, str(tmp_path / "d"), "--target-val", "4000"),
                          "more than half")
    assert not any((tmp_path / n).exists() for n in "abc")


def test_a_sweep_file_declares_its_selector_and_the_command_line_overrides_it(tmp_path):
    """`select-by` in the sweep file is the pre-registered selector: the finished sweep reports its pick without a
    flag; --select-by still overrides it, and a misspelt one fails in one line."""
    import json

    from dlapps import DlappsError
    from dlapps.runner.runs import RunOptions
    from dlapps.sweep import run_sweep
    from dlapps.sweep.spec import load_spec
    from dlapps.sweep_config import SweepConfig

    f = tmp_path / "s.toml"
    f.write_text('command = "adapt dann"\nselect-by = "im"\nseeds = [0]\nmetrics = ["target.class_acc"]\n'
                 '[base]\nepochs = 1\n[grid]\nlr = [0.1, 0.2]\n')
    assert load_spec(f).select_by == "im"
    out = tmp_path / "out"
    for lr, acc, im in (("0.1", 0.9, 1.0), ("0.2", 0.8, 2.0)):  # IM prefers the worse point: the pick shows whose
        d = out / f"lr={lr}-s0"
        d.mkdir(parents=True)
        (d / "config.json").write_text(json.dumps({"app": "adapt", "command": "dann", "options": {}}))
        (d / "metrics.json").write_text(json.dumps({"target": {"class_acc": acc}, "complete": True,
                                                    "validators": {"im": im, "entropy": 1 / im}}))
        (d / "report.md").write_text("done")
    run_sweep(SweepConfig(file=str(f)), RunOptions(out=str(out), quiet=True))
    m = json.loads((out / "metrics.json").read_text())
    assert (m["selected_by"], m["selected_point"]) == ("im", "lr=0.2")
    run_sweep(SweepConfig(file=str(f), select_by="entropy"), RunOptions(out=str(out), quiet=True))
    m = json.loads((out / "metrics.json").read_text())
    assert (m["selected_by"], m["selected_point"]) == ("entropy", "lr=0.2")
    f.write_text(f.read_text().replace('"im"', '"imm"'))
    with pytest.raises(DlappsError, match="imm"):
        run_sweep(SweepConfig(file=str(f)), RunOptions(out=str(out), quiet=True))
