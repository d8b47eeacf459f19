"""VADA's losses (conditional entropy, virtual adversarial training) and label-free selection that never reads the
target's test labels."""

from __future__ import annotations

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from dlapps.adapt import DannConfig, run_dann
from dlapps.adapt.vat import conditional_entropy, vat_loss, vat_perturbation
from dlapps.runner.runs import RunOptions


def _toy(seed: int = 0) -> tuple[nn.Module, torch.Tensor]:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Flatten(), nn.Linear(12, 16), nn.Tanh(), nn.Linear(16, 4)), torch.randn(8, 3, 2, 2)


def test_vat_perturbation_has_the_requested_norm_and_raises_the_kl():
    model, x = _toy()
    logits = model(x)
    r = vat_perturbation(model, x, logits, eps=0.5, generator=torch.Generator().manual_seed(1))
    assert torch.allclose(r.flatten(1).norm(dim=1), torch.full((8,), 0.5), atol=1e-5)
    p = F.softmax(logits.detach(), 1)
    kl = lambda d: F.kl_div(F.log_softmax(model(x + d), 1), p, reduction="none").sum(1)
    rand = torch.randn(x.shape, generator=torch.Generator().manual_seed(2))
    rand = 0.5 * rand / rand.flatten(1).norm(dim=1).view(-1, 1, 1, 1)
    # the adversarial direction changes the prediction more than a random one of the same norm, image by image
    assert (kl(r) > kl(rand)).float().mean() >= 0.75 and kl(r).mean() > 0
    loss = vat_loss(model, x, logits, eps=0.5, generator=torch.Generator().manual_seed(1))
    assert loss.item() == pytest.approx(kl(r).mean().item(), rel=1e-4)


def test_conditional_entropy_gradient_lowers_the_entropy():
    model, x = _toy(3)
    opt = torch.optim.SGD(model.parameters(), lr=0.5)
    before = conditional_entropy(model(x)).item()
    for _ in range(20):
        opt.zero_grad()
        conditional_entropy(model(x)).backward()
        opt.step()
    assert conditional_entropy(model(x)).item() < before * 0.8
    assert conditional_entropy(torch.zeros(2, 4)).item() == pytest.approx(torch.log(torch.tensor(4.0)).item())


def test_vada_terms_change_the_step_and_train(tmp_path):
    quick = dict(data_source="embedded", limit=640, tsne_points=0, batch_size=64, epochs=1)
    plain = run_dann(DannConfig(**quick), RunOptions(out=str(tmp_path / "d"), quiet=True)).metrics
    vada = run_dann(DannConfig(**quick, ent_target=0.01, vat_source=1.0, vat_target=0.01, vat_eps=3.5),
                    RunOptions(out=str(tmp_path / "v"), quiet=True)).metrics
    assert vada["source"]["class_acc"] > 0.3 and vada["history"][0]["train.class_loss"] != \
        plain["history"][0]["train.class_loss"]


def test_selection_never_reads_the_target_test_labels(tmp_path, monkeypatch):
    """A validator picks an epoch from unlabelled target images: poisoning the target's test labels changes the
    reported accuracy, never the choice."""
    from dlapps.adapt import dann as dann_mod

    cfg = DannConfig(data_source="embedded", limit=640, tsne_points=0, batch_size=64, epochs=3, stop_by="im")
    clean = run_dann(cfg, RunOptions(out=str(tmp_path / "clean"), quiet=True)).metrics
    real = dann_mod.load_domains

    def poisoned(spec, seed=0):
        src, tgt, stats = real(spec, seed)
        tgt.y_test = (tgt.y_test + 1) % 10  # every target test label wrong
        return src, tgt, stats

    monkeypatch.setattr(dann_mod, "load_domains", poisoned)
    bad = run_dann(cfg, RunOptions(out=str(tmp_path / "bad"), quiet=True)).metrics
    assert bad["selected"]["epoch"] == clean["selected"]["epoch"] and bad["selected"]["by"] == "im"
    assert bad["target"]["class_acc"] != clean["target"]["class_acc"]  # the labels were read, to report only


def test_dirtt_refinement_with_an_infinite_trust_region_leaves_the_model_unchanged():
    import copy

    from dlapps.adapt.vat import dirtt_loss

    model, x = _toy(5)
    teacher = copy.deepcopy(model)
    before = [p.detach().clone() for p in model.parameters()]
    opt = torch.optim.SGD(model.parameters(), lr=0.1)  # (Adam would blow a rounding-size gradient up to lr)
    for _ in range(5):
        opt.zero_grad()
        loss = dirtt_loss(model, teacher(x), x, beta=float("inf"), target_weight=0.01, eps=0.5)
        loss.backward()
        opt.step()
    assert loss.item() == pytest.approx(0.0, abs=1e-6)
    assert all(torch.allclose(a, b, atol=1e-7) for a, b in zip(before, model.parameters()))
    # a finite trust region lets the entropy and VAT terms move the student away from its teacher
    for _ in range(5):
        opt.zero_grad()
        dirtt_loss(model, teacher(x), x, beta=0.01, target_weight=1.0, eps=0.5).backward()
        opt.step()
    assert not all(torch.allclose(a, b) for a, b in zip(before, model.parameters()))


def test_dirt_t_refines_a_run_on_the_target_and_an_infinite_trust_region_keeps_it(tmp_path):
    import json

    quick = dict(data_source="embedded", limit=640, tsne_points=0, batch_size=64, epochs=1)
    start = run_dann(DannConfig(**quick, ent_target=0.01, vat_target=0.01), RunOptions(out=str(tmp_path / "v"),
                                                                                        quiet=True))
    # the start run's network and data settings apply, whatever this config says
    kept = run_dann(DannConfig(init=str(start.run_dir), epochs=1, arch="dann", limit=0, optimizer="sgd", momentum=0.0,
                               lr=0.1, dirtt_beta=float("inf"), vat_target=1.0, tsne_points=0),
                    RunOptions(out=str(tmp_path / "k"), quiet=True))
    cfg = json.loads((kept.run_dir / "config.json").read_text())
    assert cfg["command"] == "dirt-t" and cfg["options"]["arch"] == "dann-bn" and cfg["options"]["limit"] == 640
    # an infinite trust region only pulls the student (in training mode: batch statistics, dropout) towards the
    # teacher as evaluated on the target: the model stays where it was, up to that difference
    assert kept.metrics["target"]["class_acc"] == pytest.approx(start.metrics["target"]["class_acc"], abs=0.02)
    moved = run_dann(DannConfig(init=str(start.run_dir), epochs=1, optimizer="adam", lr=1e-3, dirtt_beta=0.01,
                                vat_target=1.0, tsne_points=0), RunOptions(out=str(tmp_path / "m"), quiet=True))
    assert moved.metrics["target"]["class_acc"] != start.metrics["target"]["class_acc"]


def test_instance_normalised_inputs_have_each_images_statistics_and_ignore_a_colour_change():
    from dlapps.adapt.data import DomainSpec, instance_normalize, load_domains

    torch.manual_seed(0)
    x = torch.rand(4, 3, 28, 28)
    z = instance_normalize(x)
    assert torch.allclose(z.mean((2, 3)), torch.zeros(4, 3), atol=1e-5)
    assert torch.allclose(z.std((2, 3), unbiased=False), torch.ones(4, 3), atol=1e-3)
    # a per-channel affine change of colour and contrast (MNIST-M's kind of shift) leaves the input unchanged
    a, b = torch.tensor([0.3, 2.0, 0.7]).view(1, 3, 1, 1), torch.tensor([0.1, -0.4, 0.5]).view(1, 3, 1, 1)
    assert torch.allclose(instance_normalize(a * x + b), z, atol=1e-3)  # up to eps in the denominator
    assert torch.isfinite(instance_normalize(torch.zeros(1, 3, 8, 8))).all()  # a blank channel stays finite
    src, tgt, stats = load_domains(DomainSpec(data_source="embedded", limit=200, normalize="instance", source_val=0))
    assert torch.allclose(tgt.x_test.mean((2, 3)), torch.zeros(len(tgt.x_test), 3), atol=1e-4)
    assert stats["target_mean"] == "each image's own, per channel"


def _grads(model: nn.Module) -> dict[str, torch.Tensor]:
    return {k: p.grad.clone() for k, p in model.named_parameters() if p.grad is not None}


def test_the_flipped_adversary_trains_the_head_on_held_features_and_the_features_through_the_held_head():
    """--adversary flip: the domain head's gradient is that of its own loss with the features held; the features'
    is the class loss plus λ times the flipped-label loss through the head as it is; once the head wins (saturated
    logits) the reversed gradient vanishes and the flipped one does not."""
    from dlapps.adapt.dann import dann_step
    from dlapps.adapt.networks import build_dann

    torch.manual_seed(0)
    model = build_dann("dann")
    xs, xt, y = torch.randn(16, 3, 28, 28), torch.randn(16, 3, 28, 28) + 1, torch.randint(0, 10, (16,))
    cfg = DannConfig(arch="dann", adversary="flip", domain_reduction="mean")
    dann_step(model, torch.optim.SGD(model.parameters(), lr=0.0), xs, y, xt, 0.3, cfg)
    got = _grads(model)
    # by hand: the head on detached features, the features through a frozen copy of the head with flipped labels
    ref = build_dann("dann")
    ref.load_state_dict(model.state_dict())
    bce = F.binary_cross_entropy_with_logits
    fs, ft = ref.features(xs), ref.features(xt)
    head = bce(ref.domain(fs.detach())[:, 0], torch.zeros(16)) / 2 + bce(ref.domain(ft.detach())[:, 0], torch.ones(16)) / 2
    for p in ref.domain.parameters():
        p.requires_grad_(False)
    fool = bce(ref.domain(fs)[:, 0], torch.ones(16)) / 2 + bce(ref.domain(ft)[:, 0], torch.zeros(16)) / 2
    for p in ref.domain.parameters():
        p.requires_grad_(True)
    (F.cross_entropy(ref.classifier(fs), y) + head + 0.3 * fool).backward()
    want = _grads(ref)
    assert got.keys() == want.keys()
    for k in want:
        assert torch.allclose(got[k], want[k], atol=1e-6), k

    # the head wins: trained alone on the features held fixed until its logits are confident and right
    opt = torch.optim.Adam(model.domain.parameters(), lr=0.01)
    with torch.no_grad():
        fs, ft = model.features(xs), model.features(xt)
    for _ in range(300):
        opt.zero_grad()
        (bce(model.domain(fs)[:, 0], torch.zeros(16)) + bce(model.domain(ft)[:, 0], torch.ones(16))).backward()
        opt.step()
    assert (model.domain(fs)[:, 0] < -5).all() and (model.domain(ft)[:, 0] > 5).all()

    def feature_push(adversary: str) -> float:
        """The norm of the features' gradient that comes from the domain loss (the class loss's taken out)."""
        m = build_dann("dann")
        m.load_state_dict(model.state_dict())
        dann_step(m, torch.optim.SGD(m.parameters(), lr=0.0), xs, y, xt, 1.0, DannConfig(arch="dann", adversary=adversary))
        c = build_dann("dann")
        c.load_state_dict(model.state_dict())
        F.cross_entropy(c.classifier(c.features(xs)), y).backward()
        return float(sum((p.grad - q.grad).norm() for p, q in zip(m.features.parameters(), c.features.parameters())))

    assert feature_push("flip") > 100 * feature_push("reverse")


def test_the_authors_small_network_has_their_layers_and_trains_a_vada_step(tmp_path):
    """shu-small: 9 convs of 64 channels (3 per block, the last block in the label head), the domain head on the
    second block's 64x7x7 output; its noise and dropout act only while training; --preset vada runs on it."""
    from dlapps.adapt.networks import GaussianNoise, build_dann, flops_per_sample

    model = build_dann("shu-small")
    convs = [m for m in model.modules() if isinstance(m, nn.Conv2d)]
    assert len(convs) == 9 and {c.out_channels for c in convs} == {64}
    assert sum(isinstance(m, nn.Conv2d) for m in model.classifier) == 3
    x = torch.randn(4, 3, 28, 28)
    assert model.embed(x).shape == (4, 64 * 7 * 7) and model.domain[0].in_features == 64 * 7 * 7
    model.eval()
    assert torch.equal(model(x)[0], model(x)[0])  # no noise at test time
    model.train()
    noise = next(m for m in model.features if isinstance(m, GaussianNoise))
    assert not torch.equal(noise(torch.zeros(2, 3)), torch.zeros(2, 3))
    assert 15 < flops_per_sample(model) / flops_per_sample(build_dann("dann-bn")) < 30
    quick = dict(data_source="embedded", limit=256, tsne_points=0, batch_size=64, epochs=1, arch="shu-small",
                 ent_target=0.01, vat_source=1.0, vat_target=0.01, adversary="flip", optimizer="adam", lr=1e-3)
    m = run_dann(DannConfig(**quick), RunOptions(out=str(tmp_path / "s"), quiet=True)).metrics
    assert m["complete"] and 0.0 <= m["target"]["class_acc"] <= 1.0 and m["history"][0]["train.class_loss"] > 0


def test_a_moving_average_of_the_weights_is_what_a_run_evaluates_resumes_and_hands_on(tmp_path):
    """--ema: each epoch evaluates the average (so the history differs from the trained weights'), a run stopped
    after its first epoch and resumed repeats the straight run's numbers (the average is checkpointed), and the
    model handed on (DIRT-T, pseudo-labels) is the average."""
    from dlapps.adapt.dann import evaluated_weights, load_dann_checkpoint
    from dlapps.runner.fit import parts_of
    from dlapps.runner.runs import RunDir

    quick = dict(data_source="embedded", limit=640, tsne_points=0, batch_size=64, epochs=2)
    plain = run_dann(DannConfig(**quick), RunOptions(out=str(tmp_path / "p"), quiet=True)).metrics
    straight = run_dann(DannConfig(**quick, ema=0.9), RunOptions(out=str(tmp_path / "e"), quiet=True)).metrics
    assert straight["history"][0]["target.class_acc"] != plain["history"][0]["target.class_acc"]
    assert straight["history"][0]["train.class_loss"] == plain["history"][0]["train.class_loss"]  # same training
    run_dann(DannConfig(**quick, ema=0.9, stop_after=1), RunOptions(out=str(tmp_path / "r"), quiet=True))
    resumed = run_dann(DannConfig(**quick, ema=0.9), RunOptions(out=str(tmp_path / "r"), quiet=True,
                                                                  resume=True)).metrics
    drop = lambda h: [{k: v for k, v in r.items() if not k.endswith("_s") and k != "ms_per_step"} for r in h]
    assert drop(resumed["history"]) == drop(straight["history"])
    model, _, ckpt = load_dann_checkpoint(tmp_path / "e")
    parts = parts_of(ckpt)
    average = evaluated_weights(parts)
    assert set(average) == set(model.state_dict())
    assert all(torch.equal(model.state_dict()[k], average[k]) for k in average)
    assert any(not torch.equal(parts["model"][k], average[k]) for k in average if average[k].is_floating_point())
    assert RunDir(tmp_path / "e").read_json("config.json")["options"]["ema"] == 0.9


def test_a_sweeps_settings_choice_reads_no_target_test_label(tmp_path):
    """The selection sweep's pick (select-by im) comes from the validators alone: swapping the points' target test
    accuracies (what poisoned test labels would do) moves the oracle's pick and the gap, never the chosen point."""
    from dlapps.adapt.selection import sweep_selection
    from dlapps.runner.runs import RunDir

    def run(acc: float, im: float) -> dict:
        return {"target": {"class_acc": acc}, "validators": {"im": im, "entropy": 0.3}}

    honest = {"a": [run(0.92, 2.1)], "b": [run(0.89, 2.0)]}
    poisoned = {"a": [run(0.89, 2.1)], "b": [run(0.92, 2.0)]}
    _, m1, err1 = sweep_selection(RunDir(tmp_path / "h"), honest, "im")
    _, m2, err2 = sweep_selection(RunDir(tmp_path / "p"), poisoned, "im")
    assert err1 is None and err2 is None
    assert m1["selected_point"] == m2["selected_point"] == "a"
    oracle = lambda m: next(p for p in m["selection"] if p["validator"] == "oracle")["point"]
    assert (oracle(m1), oracle(m2)) == ("a", "b")
