from __future__ import annotations

import numpy as np
import pytest
import torch

from dlapps import DlappsError
from dlapps.generate import GanConfig, run_gan, sample
from dlapps.generate.config import images_32
from dlapps.generate.metrics import class_coverage, frechet_distance, speck_rate
from dlapps.generate.networks import Discriminator, Generator, dcgan_init
from dlapps.runner.runs import RunOptions


@pytest.mark.parametrize("nc", [1, 3])
def test_shapes(nc):
    G, D = Generator(nz=16, ngf=8, nc=nc), Discriminator(ndf=8, nc=nc)
    x = G(torch.randn(4, 16))
    assert x.shape == (4, nc, 32, 32) and x.abs().max() <= 1
    assert D(x).shape == (4,)


def test_dcgan_init_statistics():
    G = Generator(ngf=64)
    G.apply(dcgan_init)
    w = G.net[3].weight
    bn = G.net[1].weight
    assert abs(w.mean().item()) < 0.005 and abs(w.std().item() - 0.02) < 0.002
    assert abs(bn.mean().item() - 1) < 0.01 and abs(bn.std().item() - 0.02) < 0.01


def test_conditioning_changes_output():
    G = Generator(nz=8, ngf=8, n_classes=10).eval()
    z = torch.randn(1, 8).repeat(2, 1)
    out = G(z, torch.tensor([0, 7]))
    assert not torch.allclose(out[0], out[1])


@pytest.mark.parametrize("nc", [1, 3])
def test_conditional_discriminator_equals_concatenated_label_maps(nc):
    """The per-class map shortcut is the same maths as convolving [image, one-hot maps], gradients too."""
    torch.manual_seed(0)
    D = Discriminator(ndf=8, nc=nc, n_classes=10)
    x, y = torch.randn(6, nc, 32, 32), torch.tensor([0, 3, 3, 9, 5, 1])
    maps = torch.nn.functional.one_hot(y, 10).float()[:, :, None, None].expand(-1, -1, 32, 32)
    fast = D(x, y)
    (g_fast,) = torch.autograd.grad(fast.sum(), D.net[0].weight)
    slow = D.net(torch.cat([x, maps], 1)).view(-1)
    (g_slow,) = torch.autograd.grad(slow.sum(), D.net[0].weight)
    assert torch.allclose(fast, slow, atol=1e-5) and torch.allclose(g_fast, g_slow, atol=1e-4)
    assert not torch.allclose(D(x, (y + 1) % 10), fast)


def test_projection_discriminator_starts_as_the_input_conditioned_one():
    torch.manual_seed(0)
    D = Discriminator(ndf=8, nc=1, n_classes=10, projection=True)
    plain = Discriminator(ndf=8, nc=1, n_classes=10)
    plain.load_state_dict({k: v for k, v in D.state_dict().items() if not k.startswith("embed")})
    x, y = torch.randn(4, 1, 32, 32), torch.tensor([1, 2, 3, 4])
    D.eval(), plain.eval()
    assert torch.allclose(D(x, y), plain(x, y))
    torch.nn.init.normal_(D.embed.weight)
    assert not torch.allclose(D(x, y), plain(x, y))


def test_fid_and_coverage_on_known_inputs():
    a = np.random.default_rng(0).normal(size=(2000, 8))
    assert frechet_distance(a, a) == pytest.approx(0, abs=1e-6)
    assert frechet_distance(a, a + 1) == pytest.approx(8, rel=1e-3)
    c = class_coverage(torch.zeros(100, dtype=torch.long), 10, np.ones(10))
    assert c["class_coverage"] == 1 and c["class_kl"] == pytest.approx(np.log(10))
    assert class_coverage(torch.arange(100) % 10, 10, np.ones(10))["class_kl"] == pytest.approx(0)


def test_speck_rate_counts_stray_dots_not_second_strokes():
    x = -torch.ones(5, 1, 32, 32)
    x[:, 0, 10:20, 14:17] = 1       # a stroke in every image
    x[1, 0, 2, 2] = 0.0             # a gray dot (half of white) in a corner
    x[2, 0, 28:30, 28:30] = 1       # a 4-pixel dot
    x[3, 0, 25:30, 3:8] = 1         # a 25-pixel blob: a second stroke, not a speck
    x[4, 0, 2, 2] = -0.6            # too faint to be ink (20 % of white)
    assert speck_rate(x) == pytest.approx(2 / 5)
    x[0, 0, 9, 17] = 1              # touching the stroke diagonally: part of it (8-connected)
    assert speck_rate(x) == pytest.approx(2 / 5)
    with pytest.raises(ValueError, match="single-channel"):
        speck_rate(torch.zeros(2, 3, 32, 32))


def test_one_step_changes_both_networks_sample_and_resume(tmp_path):
    cfg = GanConfig(conditional=True, data_source="embedded", limit=256, batch_size=64, ngf=8, ndf=8, nz=16,
                    epochs=1, eval_samples=500)
    torch.manual_seed(0)
    r = run_gan(cfg, RunOptions(out=str(tmp_path / "g"), quiet=True, seed=3))
    ck = torch.load(r.run_dir / "checkpoints" / "last.pt", weights_only=True)
    assert ck["epoch"] == 1 and len(ck["state"]["hist"]["loss_d"]) == 4 and ck["history"][0]["epoch"] == 1
    # both networks trained: parameters that start at exactly zero (G's batch-norm shift, D's
    # projection embedding) have moved
    assert ck["parts"]["G"]["net.1.bias"].abs().sum() > 0 and ck["parts"]["D"]["embed.weight"].abs().sum() > 0
    m = r.metrics
    assert m["class_coverage"] == sum(h >= 0.02 for h in m["class_hist"]) >= 1
    assert m["classifier_fid"] > m["classifier_fid_floor"] >= 0  # one epoch on 256 images: far from real
    assert (r.run_dir / "figures" / "samples_by_label.png").exists()
    from dlapps.generate import evaluate_run

    assert 0 <= m["speck_rate"] <= 1 and 0 <= m["speck_rate_real"] <= 1
    again = evaluate_run(r.run_dir, eval_samples=500, quiet=True)  # by default with the run's own seed (3)
    for k in ("classifier_fid", "conditional_accuracy", "speck_rate", "class_hist"):
        assert again[k] == m[k]  # the samples training measured: the same numbers, exactly
    assert again["evaluated"]["command"].endswith("--eval-samples 500 --seed 3")
    assert "replaced" not in again["evaluated"]
    other = evaluate_run(r.run_dir, eval_samples=500, seed=4, quiet=True)  # other samples: other numbers
    assert other["classifier_fid"] != m["classifier_fid"]
    assert other["evaluated"]["replaced"]["classifier_fid"] == m["classifier_fid"]  # and the old ones are kept
    png = sample(r.run_dir, n=16, seed=3, label=4)
    assert png.exists() and np.load(png.with_suffix(".npz"))["images"].shape == (16, 32, 32, 1)
    # resume a 2-epoch run from its 1-epoch checkpoint
    cfg2 = GanConfig(**{**cfg.__dict__, "epochs": 2})
    cfg_dict = r.run_dir / "config.json"
    import json

    c = json.loads(cfg_dict.read_text())
    c["options"]["epochs"] = 2
    cfg_dict.write_text(json.dumps(c))
    r2 = run_gan(cfg2, RunOptions(out=str(r.run_dir), quiet=True, resume=True, seed=3))
    assert r2.metrics["steps"] == 8


def test_gan_step_freezing_d_gives_g_the_textbook_update():
    """gan_step skips D's weight gradients in the G pass; G and D must end exactly where the
    textbook loop (which computes and discards them) puts them."""
    import copy

    import torch.nn.functional as F

    from dlapps.generate.train import gan_step

    torch.manual_seed(0)
    G, D = Generator(16, 8, 1, 10), Discriminator(8, 1, 10, projection=True)
    G.apply(dcgan_init)
    D.apply(dcgan_init)
    torch.nn.init.normal_(D.embed.weight, 0, 0.02)  # make the projection route active
    G2, D2 = copy.deepcopy(G), copy.deepcopy(D)
    opt = lambda m: torch.optim.Adam(m.parameters(), 2e-4, betas=(0.5, 0.999))
    oG, oD, oG2, oD2 = opt(G), opt(D), opt(G2), opt(D2)
    real, lab = torch.rand(6, 1, 32, 32) * 2 - 1, torch.randint(10, (6,))
    z, fl = torch.randn(6, 16), torch.randint(10, (6,))
    for _ in range(2):
        gan_step(G, D, oG, oD, real, lab, z, fl)
        # textbook
        fake = G2(z, fl)
        ld = F.binary_cross_entropy_with_logits(D2(real, lab), torch.ones(6)) + \
            F.binary_cross_entropy_with_logits(D2(fake.detach(), fl), torch.zeros(6))
        oD2.zero_grad()
        ld.backward()
        oD2.step()
        lg = F.binary_cross_entropy_with_logits(D2(fake, fl), torch.ones(6))
        oG2.zero_grad()
        lg.backward()
        oG2.step()
    for a, b in zip([*G.parameters(), *D.parameters()], [*G2.parameters(), *D2.parameters()]):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)
    assert all(p.requires_grad for p in D.parameters())
    assert G.net[1].bias.abs().max() > 0 and D.net[3].bias.abs().max() > 0  # both were initialised at 0


def test_bf16_step_keeps_float32_weights_and_follows_the_float32_step():
    from dlapps.generate.train import gan_step

    torch.manual_seed(0)
    nets = [(Generator(16, 8, 1, 10, label_bn=True), Discriminator(8, 1, 10, projection=True)) for _ in range(2)]
    nets[1][0].load_state_dict(nets[0][0].state_dict())
    nets[1][1].load_state_dict(nets[0][1].state_dict())
    real, lab = torch.rand(8, 1, 32, 32) * 2 - 1, torch.randint(10, (8,))
    z, fl = torch.randn(8, 16), torch.randint(10, (8,))
    losses = []
    for (G, D), precision in zip(nets, ("fp32", "bf16")):
        oG, oD = (torch.optim.Adam(m.parameters(), 2e-4, betas=(0.5, 0.999)) for m in (G, D))
        losses.append(gan_step(G, D, oG, oD, real, lab, z, fl, precision=precision)[:2])
        assert all(p.dtype == torch.float32 for p in [*G.parameters(), *D.parameters()])
    (d32, g32), (d16, g16) = losses
    assert torch.isfinite(d16) and torch.isfinite(g16)
    assert abs(d16 - d32) < 0.05 * abs(d32) and abs(g16 - g32) < 0.05 * abs(g32)  # bf16 keeps ~3 digits
    with pytest.raises(DlappsError, match="precision"):
        run_gan(GanConfig(precision="fp16", epochs=1), RunOptions(quiet=True))


def test_quality_judge_is_one_per_dataset_whatever_the_limit(tmp_path):
    # two runs with different --limit are judged by the same cached classifier (trained on the whole
    # training split), so their classifier-FIDs, floors and conditional accuracies are comparable
    base = dict(data_source="embedded", batch_size=64, ngf=8, ndf=8, nz=16, epochs=1, eval_samples=300)
    a = run_gan(GanConfig(limit=128, **base), RunOptions(out=str(tmp_path / "a"), quiet=True)).metrics
    b = run_gan(GanConfig(limit=256, **base), RunOptions(out=str(tmp_path / "b"), quiet=True)).metrics
    assert a["reference_classifier_test_acc"] == b["reference_classifier_test_acc"] > 0.9
    assert a["classifier_fid_floor"] == b["classifier_fid_floor"]
    assert "whole training split" in a["reference_classifier_trained_on"]
    assert "standard_fid" not in a  # never a key that is always None


def test_flop_count_feeds_its_probe_inputs_to_the_model_where_it_is():
    """The per-step FLOP count ran a CPU probe through a GPU model (every `generate --device cuda` failed);
    a model on the meta device (no GPU needed) stands in for one elsewhere."""
    from dlapps.generate.networks import conv_flops

    z, lab, img = torch.randn(2, 16), torch.zeros(2, dtype=torch.long), torch.zeros(2, 1, 32, 32)
    for net, x in ((Generator(16, 8, 1, 10), z), (Discriminator(8, 1, 10), img)):
        on_cpu = conv_flops(net, x, lab)
        assert conv_flops(net.to("meta"), x, lab) == on_cpu > 0


def test_floor_of_a_one_split_dataset_compares_two_halves_not_the_set_with_itself(monkeypatch):
    # the CIFAR-10 test subset trains and judges alike: its real-vs-real floor was 0 by construction
    from dlapps.core.data.containers import DataBundle, ImageSet
    from dlapps.generate import metrics as M
    from dlapps.generate.quality import quality

    torch.manual_seed(0)
    judge = M.RefClassifier(nc=1).eval()  # an untrained judge: its features still tell two image sets apart
    trained_on: list[tuple[torch.Tensor, torch.Tensor]] = []

    def reference(x_train, y_train, x_test, y_test, **k):
        trained_on.append((x_train, x_test))
        return M.Reference(judge, 0.5, None)

    monkeypatch.setattr(M, "reference_classifier", reference)
    imgs = (torch.rand(400, 1, 28, 28) * 255).byte()
    split = ImageSet(imgs, torch.arange(400) % 10, [str(i) for i in range(10)])
    G = Generator(16, 8, 1, 0)
    x = images_32(imgs)
    cfg = GanConfig(nz=16, eval_samples=200)
    one = quality(G.eval(), cfg, x, split.labels, 10, DataBundle("toy", split, split, "toy"), torch.device("cpu"),
                  RunOptions(quiet=True))
    assert one["classifier_fid_floor"] > 0.01 and one["classifier_fid_floor_from"].startswith("two disjoint halves")
    # one split only: the judge trains on one half and is scored on the other, never on an image it has seen
    xa, xb = trained_on[0]
    assert len(xa) == len(xb) == 200 and not (xa[:, None] == xb[None]).flatten(2).all(2).any()
    assert one["reference_classifier_trained_on"].startswith("one half of its test images")
    two = quality(G.eval(), cfg, x, split.labels, 10, DataBundle("toy", ImageSet(imgs.flip(0), split.labels.flip(0),
                  split.class_names), split, "toy"), torch.device("cpu"), RunOptions(quiet=True))
    assert len(trained_on[1][0]) == len(trained_on[1][1]) == 400  # two splits: the whole of each
    assert two["classifier_fid_floor_from"] == "real training vs real test images (200 each)"
