from __future__ import annotations

import io

import numpy as np
import pytest
import torchvision
from PIL import Image

from dlapps import DlappsError
from dlapps.core.data import load_dataset
from dlapps.core.images import open_image
from dlapps.core.models import build_model
from dlapps.runner.runs import RunOptions
from dlapps.transfer import ProbeConfig, inspect_model, run_probe
from dlapps.transfer.features import extract, layer_output_shapes, resolve_layers


@pytest.mark.parametrize("name,total", [("alexnet", 61_100_840), ("resnet50", 25_557_032)])
def test_parameter_counts(name, total):
    rows, n = inspect_model(torchvision.models.get_model(name))
    assert n == total and rows[-1].cumulative == total
    assert rows[0].output_shape[0] == 64


def test_vgg16_aliases_resolve_to_exact_nodes_and_shapes():
    lm = build_model("vgg16", "random", verbose=False)
    nodes = resolve_layers(lm, ["relu7", "relu6", "relu4", "relu1"])
    assert nodes == {"relu7": "classifier.4", "relu6": "classifier.1", "relu4": "features.22", "relu1": "features.3"}
    shapes = layer_output_shapes(lm, ["relu7", "relu4", "relu1"])
    assert shapes == {"relu7": (4096,), "relu4": (512, 28, 28), "relu1": (64, 224, 224)}
    assert sum(p.numel() for p in lm.model.parameters()) == 138_357_544


def test_unknown_layer_lists_valid_names(mnist_cnn):
    with pytest.raises(DlappsError, match=r"unknown layer 'relu9'.*relu1"):
        resolve_layers(mnist_cnn, ["relu9"])


@pytest.mark.parametrize("mode", ["L", "RGBA", "P", "I;16", "CMYK", "1", "LA", "F"])
def test_odd_image_modes_become_rgb(mode):
    a = (np.arange(30 * 20) % 256).reshape(20, 30).astype(np.uint8)
    img = Image.fromarray(a).convert(mode) if mode != "I;16" else Image.fromarray(a.astype(np.uint16) * 200)
    buf = io.BytesIO()
    img.save(buf, format="TIFF" if mode in ("I;16", "F", "CMYK") else "PNG")
    out = open_image(buf.getvalue())
    assert out.mode == "RGB" and out.size == (30, 20)
    x = np.asarray(out)
    assert x.max() > 0  # 16-bit and float rescaled, not clipped to black


def test_gray_colormap_differs_from_replicate():
    img = Image.fromarray((np.arange(64 * 64) % 256).reshape(64, 64).astype(np.uint8))
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    rep, cm = np.asarray(open_image(buf.getvalue())), np.asarray(open_image(buf.getvalue(), gray="colormap"))
    assert (rep[..., 0] == rep[..., 2]).all() and not (cm[..., 0] == cm[..., 2]).all()


def test_unreadable_image_is_a_clear_error(tmp_path):
    (tmp_path / "x.png").write_bytes(b"\x89PNG garbage")
    with pytest.raises(DlappsError, match="cannot read image"):
        open_image(tmp_path / "x.png")


def test_feature_cache_hit_miss_and_invalidation(mnist_cnn):
    b = load_dataset("digits", verbose=False)
    from dlapps.transfer.probe import limit_per_class

    b = limit_per_class(b, 5, 0)
    f1 = extract(mnist_cnn, b, ["relu3"], quiet=True)
    f2 = extract(mnist_cnn, b, ["relu3"], quiet=True)
    assert not f1.cached and f2.cached and f1.key == f2.key
    assert np.array_equal(f1.train["relu3"], f2.train["relu3"])
    assert extract(mnist_cnn, b, ["relu3"], pool="max", quiet=True).key != f1.key          # pooling
    assert extract(mnist_cnn, b, ["relu2"], quiet=True).key != f1.key                      # layer
    other = limit_per_class(load_dataset("digits", verbose=False), 4, 0)
    assert extract(mnist_cnn, other, ["relu3"], quiet=True).key != f1.key                   # data
    rnd = build_model("mnist_cnn", "random", verbose=False)
    assert extract(rnd, b, ["relu3"], quiet=True).key != f1.key                             # weights
    # one file per layer: a new layer set extracts only what is missing and reuses the rest
    f3 = extract(mnist_cnn, b, ["relu1", "relu3"], quiet=True)
    assert f3.extracted == ["relu1"] and not f3.cached and list(f3.train) == ["relu1", "relu3"]
    assert np.array_equal(f3.test["relu3"], f1.test["relu3"])
    assert extract(mnist_cnn, b, ["relu3", "relu1"], quiet=True).cached


def test_svm_probe_on_embedded_digits(tmp_path, mnist_cnn):
    cfg = ProbeConfig(models=["mnist_cnn:dlapps"], layers=["relu3"], data="digits", c_grid=[0.01, 0.1, 1.0],
                      folds=3, per_class=30)
    r = run_probe(cfg, RunOptions(out=str(tmp_path / "p"), quiet=True))
    m = r.metrics
    assert m["test_acc"] > 0.8
    # C is the cross-validation argmax (first of ties, as GridSearchCV picks), never chosen on the test split
    cv = m["results"][0]["cv_by_C"]
    assert m["best_C"] == [0.01, 0.1, 1.0][int(np.argmax(cv))] and m["results"][0]["cv_acc"] == max(cv)
    assert len(m["per_class_acc"]) == 10 and set(m["timings"]) == {"extract_s", "fit_s", "predict_one_s"}
    assert (r.run_dir / "figures" / "confusion.png").exists() and (r.run_dir / "tables" / "comparison.md").exists()


@pytest.mark.shared
def test_shared_scene15_decodes(shared_env):
    b = load_dataset("scene15", verbose=False)
    img = open_image(b.train.images[0])
    assert img.mode == "RGB" and min(img.size) >= 200
