from __future__ import annotations

import numpy as np
import pytest
import torch

from dlapps import DlappsError
from dlapps.core.models import resolve_class
from dlapps.runner.runs import RunOptions
from dlapps.visualize.attacks import fool_gradient_ascent, pgd_linf
from dlapps.visualize.classviz import class_visualization
from dlapps.visualize.common import PixelModel, load_pixels
from dlapps.visualize.evaluate import deletion_insertion, randomize_top, rank_correlation
from dlapps.visualize.run import FoolConfig, run_fool
from dlapps.visualize.saliency import METHODS, compute_map, make_method


@pytest.fixture(scope="module")
def digits(mnist_cnn):
    x, names, y = load_pixels(mnist_cnn, data="mnist", n=4, data_source="embedded")
    return PixelModel(mnist_cnn), x, y


@pytest.mark.parametrize("method", list(METHODS))
def test_saliency_shape_and_non_negative(digits, method):
    model, x, y = digits
    m = compute_map(make_method(method, model), x, y)
    assert m.shape == (4, 28, 28) and (m >= 0).all() and m.sum() > 0


def test_gradient_attack_stops_at_success_and_stays_valid(digits):
    model, x, y = digits
    target = (int(y[0]) + 1) % 10
    r = fool_gradient_ascent(model, x[0], target, lr=0.1, max_iters=200)
    assert r.success and int(model(r.x_adv[None]).argmax()) == target
    assert 0 <= r.x_adv.min() and r.x_adv.max() <= 1
    # one step fewer must not yet fool it (it stopped at the first success)
    if r.iterations > 0:
        r2 = fool_gradient_ascent(model, x[0], target, lr=0.1, max_iters=r.iterations - 1)
        assert not r2.success


def test_pgd_respects_eps(digits):
    model, x, y = digits
    eps = 8 / 255
    r = pgd_linf(model, x[1], (int(y[1]) + 3) % 10, eps=eps, steps=20)
    assert (r.x_adv - x[1]).abs().max() <= eps + 1e-6
    assert 0 <= r.x_adv.min() and r.x_adv.max() <= 1


def test_classviz_raises_target_probability_in_range(digits):
    model = digits[0]
    init = torch.full((1, 28, 28), 0.5)
    r = class_visualization(model, 3, init, iters=30, lr=0.01, jitter=1, frame_every=10)
    p0 = float(torch.softmax(model(init[None]), 1)[0, 3])
    assert r.target_prob > p0 and 0 <= r.image.min() and r.image.max() <= 1 and len(r.frames) >= 3


def test_class_names_resolve_and_suggest():
    from dlapps.core.models import imagenet_classes

    assert resolve_class("tarantula", imagenet_classes()) == 76
    with pytest.raises(DlappsError, match="did you mean"):
        resolve_class("tarantulla", imagenet_classes())


def test_deletion_insertion_on_a_toy_model():
    class Bright(torch.nn.Module):  # class 1 score = brightness of the top-left quadrant
        def forward(self, x):
            s = x[:, :, :4, :4].mean((1, 2, 3)) * 4
            return torch.stack([torch.zeros_like(s), s], 1)

    x = torch.zeros(1, 8, 8)
    x[:, :4, :4] = 1
    good = torch.zeros(8, 8)
    good[:4, :4] = 1
    bad = 1 - good
    d_good, i_good, curve, _ = deletion_insertion(Bright(), x, 1, good, steps=16)
    d_bad, i_bad, _, _ = deletion_insertion(Bright(), x, 1, bad, steps=16)
    assert d_good < d_bad and i_good > i_bad and curve[0] > curve[-1]


def test_sanity_check_helpers(digits):
    model, x, y = digits
    r = randomize_top(model, 2)
    assert not torch.equal(r.net.classifier[3].weight, model.net.classifier[3].weight)
    assert torch.equal(r.net.features[0].weight, model.net.features[0].weight)
    a = torch.rand(10, 10)
    assert rank_correlation(a, a) == pytest.approx(1.0)


def test_fool_run_writes_lossless_png(tmp_path, mnist_cnn):
    r = run_fool(FoolConfig(model="mnist_cnn", weights="dlapps", data="mnist", n=2, target="random", lr=0.1,
                            max_iters=200, data_source="embedded"), RunOptions(out=str(tmp_path / "f"), quiet=True))
    assert r.metrics["success_rate"] == 1.0
    assert (tmp_path / "f" / "adversarial" / "adversarial_00.png").exists()
    # the recorded flag is what reloading the 8-bit PNG actually gives
    from PIL import Image

    model = PixelModel(mnist_cnn)
    for row in r.metrics["per_image"]:
        a = np.asarray(Image.open(tmp_path / "f" / row["png"]), dtype=np.float32) / 255
        pred = mnist_cnn.class_names[int(model(torch.from_numpy(a)[None, None]).argmax())]
        assert (pred == row["target"]) == row["png_still_fools"]


def test_classviz_measures_probability_every_iteration_until_p90_then_at_frames(digits):
    """The probability forward pass is skipped once p >= 0.9 has been seen, except at saved frames and at
    the end; the values kept are exactly the model's probability of the image at that iteration."""
    model = digits[0]
    r = class_visualization(model, 3, torch.full((1, 28, 28), 0.5), iters=40, lr=0.01, jitter=1, frame_every=10)
    its = [i for i, _ in r.prob_curve]
    assert r.first_p90 is not None and 1 < r.first_p90 < 40
    assert its[:r.first_p90] == list(range(1, r.first_p90 + 1))                    # dense until p >= 0.9
    assert its[r.first_p90:] == [i for i in (10, 20, 30, 40) if i > r.first_p90]  # then frames and the end
    assert all(p < 0.9 for _, p in r.prob_curve[:r.first_p90 - 1]) and r.prob_curve[r.first_p90 - 1][1] >= 0.9
    frames = dict(r.frames)
    with torch.no_grad():
        for i, p in r.prob_curve:
            if i in frames:
                assert abs(p - float(torch.softmax(model(frames[i][None]), 1)[0, 3])) < 1e-5
    assert r.target_prob == r.prob_curve[-1][1]


def test_pick_names_images_of_a_dataset_by_label_or_position(mnist_cnn):
    x, names, y = load_pixels(mnist_cnn, data="mnist", data_source="embedded", pick=["7", "3"])
    assert y.tolist() == [7, 3] and len(x) == 2  # a digit's label name is its digit: the first image of each
    with pytest.raises(DlappsError, match="unknown class 'zebra'"):
        load_pixels(mnist_cnn, data="digits", pick=["zebra"])  # not a class of that dataset at all
    assert load_pixels(mnist_cnn, data="photos", pick=["2"])[1] == ["chelsea"]  # no label named 2: a position


def test_fool_measures_where_its_change_lies(tmp_path, mnist_cnn):
    r = run_fool(FoolConfig(model="mnist_cnn", weights="dlapps", data="mnist", pick=["4"], target="9", lr=0.1,
                            max_iters=200, data_source="embedded"), RunOptions(out=str(tmp_path / "f"), quiet=True))
    share = r.metrics["change_in_salient"]
    # the share of the change's energy inside the top-20 % salient pixels: a fraction, and a gradient attack puts
    # more than an even share of its change where the gradient is large
    assert 0.2 < share <= 1.0 and r.metrics["per_image"][0]["image"].endswith("(4)")


def test_classviz_starts_from_an_image_of_a_dataset(tmp_path, mnist_cnn):
    from dlapps.visualize.run import ClassVizConfig, run_classviz

    cfg = ClassVizConfig(model="mnist_cnn", weights="dlapps", targets=["8"], init="mnist:3", iters=3, jitter=1)
    r = run_classviz(cfg, RunOptions(out=str(tmp_path / "c"), quiet=True))
    assert r.metrics["per_class"][0]["iterations"] == 3
    with pytest.raises(DlappsError, match="DATASET:IMAGE"):
        run_classviz(ClassVizConfig(model="mnist_cnn", weights="dlapps", targets=["8"], init="nofile.png"),
                     RunOptions(out=str(tmp_path / "d"), quiet=True))


@pytest.mark.shared
def test_the_labs_25_images_load_by_name_with_their_digest(shared_env):
    from dlapps.core.data import load_dataset

    b = load_dataset("imagenet-val-25", verbose=False)
    assert len(b.test) == 25 and b.test.names[:3] == ["hay", "quail", "Tibetan mastiff"]
    assert "sha256 35141609" in b.source and "$DLAPPS_DATA/imagenet_val_25.npz" in b.source
