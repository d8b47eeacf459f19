"""The study's DANN as the lab ran it: its own MNIST-M, its notebook batch order, its domain loss on
probabilities, runs trained to their end with collapses recorded, and a schedule's prefix (--stop-after)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from dlapps import DlappsError
from dlapps.adapt import DannConfig, run_dann
from dlapps.adapt import dann as dann_mod
from dlapps.adapt.dann import collapse_events
from dlapps.adapt.evaluation import domain_loss_fn
from dlapps.core.data import load_dataset
from dlapps.core.data.synthesis import LAB_MNISTM_SEED, blend_lab_mnistm
from dlapps.runner.runs import RunOptions

QUICK = dict(data_source="embedded", limit=640, tsne_points=0, batch_size=64, source_val=0)


def test_lab_recipe_binarises_blends_and_keeps_the_pairing():
    rng = np.random.default_rng(0)
    photos = [rng.integers(0, 256, (40, 60, 3), dtype=np.uint8), rng.integers(0, 256, (60, 40, 3), dtype=np.uint8)]
    digits = rng.integers(0, 256, (6, 28, 28), dtype=np.uint8) * (rng.random((6, 28, 28)) < 0.3)
    out = blend_lab_mnistm(digits.astype(np.uint8), photos, np.random.RandomState(LAB_MNISTM_SEED),
                           np.random.RandomState(5))
    # the same draws the lab's script makes: photo by RandomState(42), then the corner, image by image
    pr, cr = np.random.RandomState(LAB_MNISTM_SEED), np.random.RandomState(5)
    which = [pr.randint(0, 2) for _ in range(6)]
    for i, k in enumerate(which):
        h, w = photos[k].shape[:2]
        y, x = cr.randint(0, h - 28), cr.randint(0, w - 28)
        patch = photos[k][y:y + 28, x:x + 28].astype(np.float32)
        digit = (digits[i] > 0).astype(np.float32)[..., None] * 255  # binarised, white RGB
        assert np.array_equal(out[i], np.abs(patch - digit).astype(np.uint8))  # image i is digit i's blend


@pytest.mark.shared
@pytest.mark.slow
def test_lab_mnistm_is_full_mnist_order_at_28px(shared_env):
    b, m = load_dataset("mnistm-lab", verbose=False), load_dataset("mnist", verbose=False)
    assert (len(b.train), len(b.test)) == (60000, 10000)
    assert tuple(b.train.images.shape[1:]) == (3, 28, 28)
    assert torch.equal(b.train.labels, m.train.labels) and torch.equal(b.test.labels, m.test.labels)
    on = m.train.images[:50, 0] > 0  # where the digit is, the blend inverts the photo: its twin shows the digit
    img = b.train.images[:50].float()
    assert (img.std(1)[on].mean() < 60) and "$DLAPPS_DATA/bsds500_train.npz" in b.source


def test_lab_mnistm_without_the_photos_says_where_they_come_from(tmp_path, monkeypatch):
    monkeypatch.setenv("DLAPPS_DATA", str(tmp_path))
    with pytest.raises(DlappsError, match="BSR_bsds500.tgz.*berkeley"):
        load_dataset("mnistm-lab", source="local", verbose=False)
    with pytest.raises(DlappsError, match="no embedded copy"):
        load_dataset("mnistm-lab", source="embedded", verbose=False)


def test_notebook_order_pairs_step_k_with_images_k_of_both_domains_every_epoch(tmp_path, monkeypatch):
    seen: list[tuple[torch.Tensor, torch.Tensor]] = []
    real = dann_mod.dann_step

    def spy(model, optim, xs, y, xt, *rest):
        seen.append((xs.clone(), xt.clone()))
        return real(model, optim, xs, y, xt, *rest)

    monkeypatch.setattr(dann_mod, "dann_step", spy)
    cfg = DannConfig(epochs=2, order="notebook", **QUICK)
    run_dann(cfg, RunOptions(out=str(tmp_path / "r"), quiet=True))
    from dlapps.adapt.data import DomainSpec, load_domains
    src, tgt, _ = load_domains(DomainSpec.of(cfg))
    steps = len(src.x_train) // 32
    assert len(seen) == 2 * steps
    for k, (xs, xt) in enumerate(seen):
        j = k % steps
        assert torch.equal(xs, src.x_train[j * 32:(j + 1) * 32]) and torch.equal(xt, tgt.x_train[j * 32:(j + 1) * 32])


def test_bce_prob_matches_bce_until_the_sigmoid_saturates():
    d = torch.tensor([0, 1, 1, 0])
    z = torch.tensor([[-1.0], [2.0], [0.3], [0.7]], requires_grad=True)
    a, right, right05 = domain_loss_fn(z, d, "bce-prob")
    b, _, _ = domain_loss_fn(z, d, "bce")
    assert a.item() == pytest.approx(b.item(), rel=1e-5)
    assert (right.item(), right05.item()) == (3, 2)  # logit 0.3 is 'target' at 0 and 'source' at 0.5
    # a saturated, wrong sigmoid: the probability loss is clamped (log >= -100) and passes no gradient back
    zs = torch.tensor([[40.0]], requires_grad=True)
    domain_loss_fn(zs, torch.tensor([0]), "bce-prob")[0].backward()
    zl = torch.tensor([[40.0]], requires_grad=True)
    domain_loss_fn(zl, torch.tensor([0]), "bce")[0].backward()
    assert zs.grad.item() == 0.0 and zl.grad.item() == pytest.approx(1.0)


def test_a_collapse_is_recorded_and_training_goes_on(tmp_path, monkeypatch):
    monkeypatch.setattr(dann_mod, "collapse", lambda h: "forced" if len(h) == 1 else "")
    r = run_dann(DannConfig(epochs=2, **QUICK), RunOptions(out=str(tmp_path / "c"), quiet=True))
    m = r.metrics
    assert m["complete"] is True and m["epochs_done"] == 2 and not m.get("diverged")
    assert [h["collapsed"] for h in m["history"]] == [1.0, 0.0]
    ev = m["collapses"][0]
    assert ev["event"] == "collapsed" and ev["epoch"] == 1 and ev["lambda_lr"] == pytest.approx(ev["lambda"] * ev["lr"])


def test_collapse_events_mark_each_spell_and_recovery():
    row = lambda e, acc, c: {"epoch": e, "source.class_acc": acc, "collapsed": c, "lambda": 0.5, "lr": 0.002}
    h = [row(1, 0.9, 0), row(2, 0.1, 1), row(3, 0.3, 0), row(4, 0.8, 0), row(5, 0.1, 1)]
    assert [(e["event"], e["epoch"]) for e in collapse_events(h)] == [("collapsed", 2), ("recovered", 4),
                                                                     ("collapsed", 5)]


def test_stop_after_trains_the_schedules_first_epochs(tmp_path):
    cfg = DannConfig(epochs=4, stop_after=1, **QUICK)
    m = run_dann(cfg, RunOptions(out=str(tmp_path / "s"), quiet=True)).metrics
    assert m["epochs_done"] == 1 and m["complete"] is True
    full = DannConfig(epochs=1, **QUICK)
    one = run_dann(full, RunOptions(out=str(tmp_path / "f"), quiet=True)).metrics
    assert m["history"][0]["lambda"] < one["history"][0]["lambda"]  # p runs over 4 epochs, not 1
    with pytest.raises(DlappsError, match="--stop-after 5 is past"):
        run_dann(DannConfig(epochs=4, stop_after=5, **QUICK), RunOptions(out=str(tmp_path / "x"), quiet=True))


def test_diagnose_says_what_a_run_did_from_its_own_files():
    from dlapps.adapt.diagnose import diagnose

    row = lambda e, s, t, lam=0.5, lr=0.002, **k: {"epoch": e, "source_class_acc": s, "target_class_acc": t,
                                                    "lambda": lam, "lr": lr, **k}
    fine = diagnose({"history": [row(1, 0.9, 0.6), row(2, 0.95, 0.7), row(3, 0.97, 0.65)]})
    assert fine.state == "finished" and fine.best == (2, 0.7)
    assert fine.text() == "trained all 3 epochs; best target 0.700 (epoch 2), last 0.650"
    # a NaN that older code recorded only in the log; λ·μ is the reversed gradient's step then
    log = "error: loss became nan at epoch 4, step 709 (λ=0.557, lr=0.00503); run dir keeps epochs 1..3"
    nan = diagnose({"history": [row(1, 0.9, 0.6)], "diverged": True}, log)
    assert nan.state == "nan" and nan.nan == {"epoch": 4, "step": 709, "lambda": 0.557, "lr": 0.00503}
    assert "loss NaN in epoch 4, step 709 (λ 0.56, μ 0.005, λ·μ 0.0028)" in nan.text()
    # metrics.json's own record wins, and a multiplier on the domain loss scales the step
    nan2 = diagnose({"history": [], "diverged": True, "diverged_at": {"epoch": 1, "step": 3, "lambda": 0.1,
                                                                      "lr": 0.01}},
                    options={"multiplier_on": "domain-loss", "lambda_multiplier": 3.0})
    assert "3·λ·μ 0.003" in nan2.text()
    # older code stopped a run after a collapsed epoch; newer code trains on and the run may recover
    stopped = diagnose({"history": [row(1, 0.9, 0.6), row(2, 0.1, 0.1)], "diverged": True})
    assert stopped.state == "stopped" and stopped.text().startswith("collapsed in epoch 2 (λ 0.50, μ 0.002, "
                                                                    "λ·μ 0.001; source 0.10); stopped there")
    back = diagnose({"history": [row(1, 0.9, 0.6, collapsed=0.0), row(2, 0.1, 0.1, collapsed=1.0),
                                 row(3, 0.9, 0.5, collapsed=0.0)]})
    assert [e["event"] for e in back.events] == ["collapsed", "recovered"] and "recovered in epoch 3" in back.text()
    assert diagnose(None).text() == "not run yet"


def test_a_screened_prefix_resumes_into_the_whole_run_with_the_same_numbers(tmp_path):
    cfg = dict(data_source="embedded", limit=640, tsne_points=0, batch_size=64, epochs=3)
    run_dann(DannConfig(**cfg, stop_after=1), RunOptions(out=str(tmp_path / "p"), quiet=True))
    whole = run_dann(DannConfig(**cfg), RunOptions(out=str(tmp_path / "p"), quiet=True, resume=True)).metrics
    straight = run_dann(DannConfig(**cfg), RunOptions(out=str(tmp_path / "s"), quiet=True)).metrics
    assert whole["epochs_done"] == 3 and whole["history"] == [
        {**h, "train_s": whole["history"][i]["train_s"], "ms_per_step": whole["history"][i]["ms_per_step"],
         "val_s": whole["history"][i]["val_s"]} for i, h in enumerate(straight["history"])]
    import json
    assert json.loads((tmp_path / "p" / "config.json").read_text())["options"]["stop_after"] == 0
    with pytest.raises(DlappsError, match="options differ.*epochs"):  # what is trained may not change
        run_dann(DannConfig(**{**cfg, "epochs": 4}), RunOptions(out=str(tmp_path / "p"), quiet=True, resume=True))


def test_history_rows_name_each_number_as_metrics_json_does_and_old_runs_read_alike(tmp_path):
    from dlapps.adapt.history import current, rows_of
    from dlapps.runner.runs import metric

    old = {"epoch": 3, "source_class_acc": 0.98, "target_class_acc_running": 0.5, "train_class_loss": 0.1,
           "val_im": 1.2, "val_s": 0.4, "train_s": 60.0, "lambda": 0.5, "target_acc": 0.7}
    assert current(old) == {"epoch": 3, "source.class_acc": 0.98, "target.class_acc_running": 0.5,
                            "train.class_loss": 0.1, "validators.im": 1.2, "val_s": 0.4, "train_s": 60.0,
                            "lambda": 0.5, "target.class_acc": 0.7}
    assert current(current(old)) == current(old) and rows_of({"history": [old]}) == [current(old)]
    r = run_dann(DannConfig(epochs=1, **QUICK), RunOptions(out=str(tmp_path / "r"), quiet=True))
    row = r.metrics["history"][-1]
    for key in ("source.class_acc", "target.class_acc", "target.domain_acc"):  # one name for one number
        assert row[key] == metric(r.metrics, key)
    assert {k[len("validators."):]: v for k, v in row.items() if k.startswith("validators.")} == r.metrics["validators"]
