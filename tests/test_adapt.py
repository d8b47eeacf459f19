from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch

from dlapps import DlappsError
from dlapps.adapt import DannConfig, PseudoLabelConfig, run_dann, run_pseudo_label
from dlapps.adapt.data import target_train_indices
from dlapps.adapt.networks import DANN, grad_reverse
from dlapps.adapt.pseudo_label import random_affine, round_threshold, select_pseudo_labels, strong_augment
from dlapps.adapt.schedules import lambda_at, lr_at
from dlapps.core.compute import DivergenceError
from dlapps.runner.runs import RunOptions

QUICK = dict(data_source="embedded", limit=1000, tsne_points=0, batch_size=64)  # behaviour checks


def test_grl_reverses_and_scales_gradients_exactly():
    x = torch.randn(5, 3, requires_grad=True)
    grad_reverse(x, 0.37).mul(torch.arange(3.0)).sum().backward()
    assert torch.allclose(x.grad, -0.37 * torch.arange(3.0).expand(5, 3))
    y = torch.randn(4, requires_grad=True)
    out = grad_reverse(y, 2.0)
    assert torch.equal(out, y)


@pytest.mark.parametrize("schedule,expected", [
    ("exp", (0.0, 2 / (1 + math.exp(-5)) - 1, 2 / (1 + math.exp(-10)) - 1)),
    ("linear", (0.0, 0.5, 1.0)),
    ("cosine", (0.0, 0.5, 1.0)),
    ("constant", (0.0, 0.0, 0.0)),
])
def test_lambda_schedules(schedule, expected):
    got = [lambda_at(p, schedule) for p in (0, 0.5, 1)]
    assert got == pytest.approx(expected)


def test_decaying_schedules_and_multiplier():
    assert [lambda_at(p, "linear", 1, 0) for p in (0, 0.5, 1)] == pytest.approx([1, 0.5, 0])
    assert lambda_at(0.25, "cosine", 1, 0) == pytest.approx((1 + math.cos(math.pi * 0.25)) / 2)
    assert lambda_at(1, "constant", 0.3, 9, multiplier=10) == pytest.approx(3)
    assert lr_at(0, 0.01) == 0.01 and lr_at(1, 0.01) == pytest.approx(0.01 / 11 ** 0.75)


def test_target_batches_cover_target_before_repeating():
    idx = target_train_indices(10, steps=3, half=8, gen=torch.Generator().manual_seed(0))
    assert len(idx) == 24 and sorted(idx[:10].tolist()) == list(range(10))


def test_domain_head_outputs_and_batch_composition():
    m = DANN()
    c, d = m(torch.randn(6, 3, 28, 28), 1.0)
    assert c.shape == (6, 10) and d.shape == (6, 1)
    assert DANN(domain_outputs=2)(torch.randn(2, 3, 28, 28))[1].shape == (2, 2)


@pytest.mark.parametrize("batchnorm", [True, False])
def test_features_match_the_textbook_layer_order_exactly(batchnorm):
    # dlapps pools before ReLU/dropout (faster); the textbook order conv -> BN -> dropout -> ReLU -> pool
    # must give bit-identical features and gradients, dropout masks included
    m = DANN(batchnorm=batchnorm).train()
    f = m.features
    textbook = torch.nn.Sequential(f[0], f[1], f[3], f[2], f[4], f[5], f[7], f[8], f[6], f[9])
    assert [type(x).__name__ for x in textbook][:4] == ["Conv2d", type(f[1]).__name__, "ReLU", "MaxPool2d"]
    x = torch.randn(16, 3, 28, 28)
    outs, grads = [], []
    for net in (f, textbook):
        torch.manual_seed(3)
        out = net(x)
        out.square().sum().backward()
        outs.append(out)
        grads.append([p.grad.clone() for p in m.features.parameters()])
        m.zero_grad()
    assert torch.equal(*outs) and all(torch.equal(a, b) for a, b in zip(*grads))


def test_source_only_keeps_target_out_of_batch_norm_and_adabn_leaves_model_alone():
    from dlapps.adapt.evaluation import domain_logits_frozen, evaluate, with_domain_statistics

    torch.manual_seed(0)
    m = DANN(batchnorm=True).train()
    bn = m.features[1]
    before = bn.running_mean.clone()
    d = domain_logits_frozen(m, torch.randn(8, 3, 28, 28) + 3)
    assert torch.equal(bn.running_mean, before) and m.features.training  # no target statistics absorbed
    d.sum().backward()
    assert m.features[0].weight.grad is None and m.domain[0].weight.grad is not None
    m.eval()
    state = {k: v.clone() for k, v in m.state_dict().items()}
    x, y = torch.randn(64, 3, 28, 28) + 2, torch.randint(10, (64,))
    adapted = with_domain_statistics(m, x, torch.device("cpu"))
    got = evaluate(adapted, x[:32], y[:32], 1, "bce", torch.device("cpu"))["class_acc"]
    with torch.no_grad():  # the adapted copy's own prediction, counted by hand
        adapted.eval()
        want = (adapted(x[:32])[0].argmax(1) == y[:32]).float().mean().item()
    assert got == pytest.approx(want)
    # the adapted copy took new batch-norm statistics; the model itself is left exactly as it was
    assert not torch.equal(adapted.features[1].running_mean, m.features[1].running_mean)
    assert all(torch.equal(v, m.state_dict()[k]) for k, v in state.items())


def test_pseudo_label_selection_threshold_and_balance():
    probs = torch.tensor([[0.95, 0.05], [0.6, 0.4], [0.1, 0.9], [0.02, 0.98], [0.97, 0.03], [0.99, 0.01]])
    idx, lab = select_pseudo_labels(probs, 0.9, False)
    assert idx.tolist() == [0, 2, 3, 4, 5] and lab.tolist() == [0, 1, 1, 0, 0]
    idx, lab = select_pseudo_labels(probs, 0.9, True)
    assert sorted(lab.tolist()) == [0, 0, 1, 1] and 0 not in idx.tolist()  # the least confident class-0 dropped
    # one rare class does not shrink the others to its size: at least half the mean count per class is kept
    probs = torch.tensor([[0.99, 0.01]] * 100 + [[0.02, 0.98]] * 2)
    idx, lab = select_pseudo_labels(probs, 0.9, True)
    assert (lab == 0).sum() == 102 // 4 and (lab == 1).sum() == 2
    cur = PseudoLabelConfig(rounds=5, threshold=0.9, threshold_end=0.5)
    assert [round(round_threshold(cur, r), 6) for r in range(5)] == [0.9, 0.8, 0.7, 0.6, 0.5]
    assert round_threshold(PseudoLabelConfig(rounds=5, threshold=0.9, threshold_end=None), 4) == 0.9


def test_random_affine_jitter_is_small_per_image_and_identity_at_zero():
    g = torch.Generator().manual_seed(0)
    x = torch.zeros(64, 3, 28, 28)
    x[:, :, 12:16, 12:16] = 1.0                                  # a 4x4 blob at the centre (13.5, 13.5)
    torch.testing.assert_close(random_affine(x, g, shift=0, degrees=0, scale=0), x, atol=1e-5, rtol=0)
    y = random_affine(x, g, shift=2, degrees=0, scale=0)
    assert y.shape == x.shape
    coords = torch.arange(28.0)
    mass = y[:, 0].sum((1, 2))
    cy = (y[:, 0].sum(2) * coords).sum(1) / mass
    cx = (y[:, 0].sum(1) * coords).sum(1) / mass
    assert (cx - 13.5).abs().max() <= 2.01 and (cy - 13.5).abs().max() <= 2.01
    assert (cx - 13.5).abs().max() > 1.0 and len(torch.unique(cx.round(decimals=2))) > 32  # each image its own shift
    torch.testing.assert_close(mass, torch.full_like(mass, 16.0), atol=1e-3, rtol=0)


def test_strong_augment_shuffles_channels_and_cuts_one_square_per_image():
    g = torch.Generator().manual_seed(0)
    x = torch.ones(256, 3, 28, 28) * torch.tensor([1.0, 2.0, 3.0])[:, None, None]   # channel c holds c + 1
    y = strong_augment(x, g)
    assert y.shape == x.shape
    holes = (y == 0).all(1)                                                          # (B, H, W)
    assert holes.any((1, 2)).all() and holes.sum((1, 2)).max() <= 49                # one cut of at most 7x7
    kept = y.permute(0, 2, 3, 1)[~holes]                                             # (pixels, C)
    torch.testing.assert_close(kept.sort(1).values, torch.tensor([1.0, 2.0, 3.0]).expand_as(kept))  # permuted
    assert len({tuple(v.tolist()) for v in y[:, :, 0, 0].round()}) > 1               # each image its own order


def test_one_epoch_beats_chance_writes_table_and_is_reproducible(tmp_path):
    cfg = DannConfig(epochs=1, data_source="embedded", tsne_points=0, batch_size=64, limit=1500)
    r = run_dann(cfg, RunOptions(out=str(tmp_path / "a"), quiet=True, seed=1))
    m = r.metrics
    assert m["target"]["class_acc"] > 0.2 and m["source"]["class_acc"] > 0.5  # chance is 0.1
    # dann-bn is evaluated with each domain's own BN statistics; the running-average number comes beside it
    assert set(m["source"]) == {"class_acc", "class_loss", "domain_acc", "domain_acc_logit05", "domain_loss",
                                "class_acc_running"}
    assert m["bn_eval"] == "domain" and 0 <= m["target"]["class_acc_running"] <= 1
    table = (r.run_dir / "tables" / "evaluation.md").read_text().splitlines()
    assert len([l for l in table if l.startswith("| source test") or l.startswith("| target test")]) == 2
    r2 = run_dann(cfg, RunOptions(out=str(tmp_path / "b"), quiet=True, seed=1))
    assert r2.metrics["target"] == m["target"]  # same seed, same numbers on CPU


def test_divergence_stops_with_message_and_keeps_results(tmp_path):
    cfg = DannConfig(epochs=2, lr=1e6, **QUICK)
    with pytest.raises(DivergenceError, match="diverged|became|collapsed"):
        run_dann(cfg, RunOptions(out=str(tmp_path / "d"), quiet=True))
    # the result is kept: metrics.json says the run stopped itself, with every finished epoch's row
    m = json.loads((tmp_path / "d" / "metrics.json").read_text())
    assert m["diverged"] is True and m["complete"] is False and m["epochs_done"] == len(m["history"])
    assert json.loads((tmp_path / "d" / "config.json").read_text())["options"]["lr"] == 1e6


def test_pseudo_label_rounds(tmp_path):
    cfg = DannConfig(epochs=1, source_only=True, data_source="embedded", tsne_points=0, batch_size=64, limit=1500)
    base = run_dann(cfg, RunOptions(out=str(tmp_path / "b"), quiet=True))
    r = run_pseudo_label(PseudoLabelConfig(start=str(base.run_dir), rounds=2, threshold=0.4, threshold_end=0.3),
                         RunOptions(out=str(tmp_path / "p"), quiet=True))
    first, row = r.metrics["rounds"]
    assert (first["threshold"], row["threshold"]) == (0.4, 0.3)
    # the round trains on the images it selected: their count and label accuracy are recorded, and the model after
    # it scores differently from the start model on the target test set
    assert row["n_labels"] > 0 and row["label_acc"] > 0.1 and row["target.class_acc"] > 0.1  # chance is 0.1
    assert json.loads((r.run_dir / "metrics.json").read_text())["complete"] is True
    # resuming a finished run rebuilds its outputs with the same numbers, the start model's score included
    again = run_pseudo_label(PseudoLabelConfig(start=str(base.run_dir), rounds=2, threshold=0.4, threshold_end=0.3),
                             RunOptions(out=str(tmp_path / "p"), quiet=True, resume=True))
    assert again.metrics["initial_target_acc"] == r.metrics["initial_target_acc"] != row["target.class_acc"]
    assert again.metrics["target"] == r.metrics["target"] and again.metrics["rounds"] == r.metrics["rounds"]
    # the learning rate anneals over all rounds, DANN's schedule: the last step ran at lr_at(p ~ 1)
    ck = torch.load(r.run_dir / "checkpoints" / "last.pt", weights_only=True)
    steps = 2 * (1350 // 64)  # 1,500 source training images less the 150 (10 %) held out for validation
    assert ck["parts"]["optimizer"]["param_groups"][0]["lr"] == pytest.approx(lr_at((steps - 1) / steps, 0.01))
    orc = run_pseudo_label(PseudoLabelConfig(start=str(base.run_dir), rounds=1, oracle_labels=True),
                           RunOptions(out=str(tmp_path / "o"), quiet=True))
    assert orc.metrics["rounds"][0]["label_acc"] == 1.0 and orc.metrics["oracle_labels"] is True
    assert "Oracle run" in (orc.run_dir / "summary.md").read_text()


@pytest.mark.parametrize("kw", [{"augment": "heavy"}, {"lr_schedule": "cosine"}])
def test_pseudo_label_rejects_unknown_augmentation_and_lr_schedule(tmp_path, kw):
    with pytest.raises(DlappsError, match="must be one of"):
        run_pseudo_label(PseudoLabelConfig(start=str(tmp_path), **kw), RunOptions(out=str(tmp_path / "p"), quiet=True))
    assert not (tmp_path / "p").exists()  # refused before a run dir is made


@pytest.mark.parametrize("arch", ["dann", "dann-bn"])
def test_the_two_readings_of_the_multiplier_scale_different_gradients(arch):
    """Table 10's readings: × on λ reverses a larger gradient into the features only; × on the domain loss
    scales the domain head's own gradient as well."""
    from dlapps.adapt.dann import dann_step, lambda_scale
    from dlapps.adapt.networks import build_dann

    torch.manual_seed(0)
    xs, xt, y = torch.randn(8, 3, 28, 28), torch.randn(8, 3, 28, 28), torch.randint(0, 10, (8,))

    def grads(**kw):
        model = build_dann(arch)
        model.load_state_dict(state)
        model.eval()  # no dropout: the same function each call
        cfg = DannConfig(arch=arch, domain_reduction="mean", **kw)
        optim = torch.optim.SGD(model.parameters(), lr=0.0)  # grads are kept, weights unchanged
        dann_step(model, optim, xs, y, xt, 0.5 * lambda_scale(cfg), cfg)  # as train_epoch passes λ
        return {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}

    state = build_dann(arch).state_dict()
    base, on_lam = grads(), grads(lambda_multiplier=2.0, multiplier_on="lambda")
    on_loss = grads(lambda_multiplier=2.0, multiplier_on="domain-loss")
    head = [n for n in base if n.startswith("domain")]
    assert head
    for n in head:  # the domain head: unchanged by × λ, doubled by × domain loss
        torch.testing.assert_close(on_lam[n], base[n])
        torch.testing.assert_close(on_loss[n], 2 * base[n])
    feat = [n for n in base if n.startswith("features")]
    # the features: both readings reverse 2 × 0.5 = 1.0 × the domain gradient, so they agree with each other
    for n in feat:
        torch.testing.assert_close(on_lam[n], on_loss[n], rtol=1e-4, atol=1e-6)
    assert any(not torch.allclose(on_lam[n], base[n]) for n in feat)


def test_lambda_per_epoch_holds_one_value_through_an_epoch(tmp_path):
    cfg = DannConfig(epochs=2, lambda_gamma=2.0, lambda_update="per-epoch", **QUICK)
    h = run_dann(cfg, RunOptions(out=str(tmp_path / "e"), quiet=True)).metrics["history"]
    # the λ of an epoch's last step: per epoch, epoch e (0-based) uses p = e / epochs throughout
    assert [r["lambda"] for r in h] == pytest.approx([0.0, lambda_at(0.5, gamma=2.0)])
    cfg_step = DannConfig(epochs=2, lambda_gamma=2.0, **QUICK)
    h2 = run_dann(cfg_step, RunOptions(out=str(tmp_path / "s"), quiet=True)).metrics["history"]
    assert 0 < h2[0]["lambda"] < lambda_at(0.5, gamma=2.0) < h2[1]["lambda"]


def test_published_per_epoch_lambda_is_the_study_formula_times_the_multiplier():
    """The study writes λ = -1 + 2 / (1 + exp(-2e / epochs)) with the epoch index e; the published per-epoch × 2
    run's λ, epoch by epoch, is that formula (typed here from the text, not lambda_at) times 2."""
    published = Path(__file__).resolve().parents[1] / "study-results" / "readings" / "ganin_shuffled" / "2c_dann"
    h = json.loads((published / "lambda-update=per-epoch,lambda-multiplier=2.0-s0" / "metrics.json").read_text())
    study = [2 * (-1 + 2 / (1 + math.exp(-2 * e / 20))) for e in range(20)]
    assert [r["lambda"] for r in h["history"]] == pytest.approx(study[:len(h["history"])], abs=1e-12)
    assert h["history"][11]["lambda"] == pytest.approx(1.0010, abs=1e-4)  # epoch 12 reads 1.00: p = 11/20


def test_collapse_is_caught_in_the_epoch_it_happens_on_published_histories():
    """A published study run (cosine λ: 1 from the first step) exploded in epoch 1 and trained 19 more epochs at
    chance under the code of its day; the rule now stops it after epoch 1. The base run never trips it."""
    from dlapps.adapt.dann import collapse
    from dlapps.adapt.history import rows_of

    published = Path(__file__).resolve().parents[1] / "study-results" / "readings" / "ganin_shuffled" / "2c_dann"
    cosine = rows_of(json.loads((published / "lambda-schedule=cosine,lambda-start=1.0,lambda-end=0.0-s0" /
                                 "metrics.json").read_text()))  # written with the old names: read in today's
    assert cosine[0]["train.class_loss"] > 1e6 and "exploded" in collapse(cosine[:1])
    base = rows_of(json.loads((published / "base-s0" / "metrics.json").read_text()))
    assert not any(collapse(base[:e]) for e in range(1, 21))
    # slow learning is not collapse; learning and losing it is
    assert collapse([{"source.class_acc": 0.15, "train.class_loss": 2.2}]) == ""
    assert "had learned" in collapse([{"source.class_acc": 0.9, "train.class_loss": 0.3},
                                      {"source.class_acc": 0.1, "train.class_loss": 2.3}])


def test_a_pseudo_label_round_chosen_by_a_validator_is_reported_beside_the_oracles():
    from dlapps.adapt.pseudo_label import _selected

    rounds = [{"round": 1, "target.class_acc": 0.80}, {"round": 2, "target.class_acc": 0.90},
              {"round": 3, "target.class_acc": 0.85}]
    s = _selected(rounds, rounds[0], "im")
    assert (s["round"], s["oracle_round"], s["last_round_target_acc"]) == (1, 2, 0.85)
    assert s["gap_to_oracle"] == pytest.approx(0.10) and s["by"] == "im"
