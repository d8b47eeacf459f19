"""UDA validators on toy inputs with known answers (no target labels involved)."""

from __future__ import annotations

import math

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
    scores = {"lr=0.01": 0.2, "lr=0.03": 0.9, "lr=0.1": 0.5}
    assert select_by(scores, "im") == "lr=0.03"      # higher is better: the argmax
    assert select_by(scores, "dev") == "lr=0.01"     # a loss: the argmin


def test_dann_records_label_free_validators_every_epoch(tmp_path):
    from dlapps.adapt import DannConfig, run_dann
    from dlapps.runs import RunOptions

    r = run_dann(DannConfig(epochs=2, data_source="embedded", limit=600, tsne_points=0, batch_size=64),
                 RunOptions(out=str(tmp_path / "d"), quiet=True))
    rows = r.metrics["history"]
    assert all({"val_entropy", "val_im", "val_snd", "val_bnm"} <= set(h) for h in rows)
    v = r.metrics["validators"]
    assert v == {k[4:]: rows[-1][k] for k in rows[-1] if k.startswith("val_")}
    assert 0 <= v["entropy"] <= math.log(10) + 1e-6 and -1e-6 <= v["im"] <= math.log(10) + 1e-6 and 0 < v["bnm"] <= 1
