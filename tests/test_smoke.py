"""Every command of the README runs on embedded data and writes what it promises (run dir, metrics with
the stable keys, figures, report): the commands no other test runs end to end."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from test_cli import dlapps


def _run_dir_complete(d, figures=()):
    assert (d / "config.json").exists() and (d / "metrics.json").exists() and (d / "report.html").exists()
    for f in figures:
        assert (d / "figures" / f"{f}.png").exists(), f
    return json.loads((d / "metrics.json").read_text())


def test_saliency_command(tmp_path, mnist_cnn):
    p = dlapps("visualize", "saliency", "mnist_cnn", "--weights", "dlapps", "--data", "mnist", "--data-source",
               "embedded", "--n", "3", "--method", "gradient", "--method", "gradcam", "--out", str(tmp_path / "s"),
               "--quiet")
    assert p.returncode == 0, p.stderr
    m = _run_dir_complete(tmp_path / "s", ["saliency"])
    assert len(m["targets"]) == 3 and set(m["map_stats"]) == {"gradient", "gradcam"}
    assert all(v["max"] > v["min"] >= 0 for v in m["map_stats"].values())


def test_saliency_eval_command(tmp_path, mnist_cnn):
    p = dlapps("visualize", "saliency-eval", "mnist_cnn", "--weights", "dlapps", "--data", "mnist", "--data-source",
               "embedded", "--n", "4", "--method", "gradient", "--steps", "8", "--randomize", "1,2",
               "--out", str(tmp_path / "e"), "--quiet")
    assert p.returncode == 0, p.stderr
    m = _run_dir_complete(tmp_path / "e", ["deletion_auc"])
    assert set(m["methods"]) == {"gradient", "random"} and m["n_images"] == 4
    # the trained network's gradient map removes the evidence faster than a random map
    assert m["methods"]["gradient"]["deletion_auc"] < m["methods"]["random"]["deletion_auc"]
    assert set(m["sanity_rank_correlation"]["gradient"]) == {"1", "2"}


def test_classviz_command(tmp_path, mnist_cnn):
    p = dlapps("visualize", "classviz", "mnist_cnn", "--weights", "dlapps", "--target", "3", "--target", "8",
               "--iters", "30", "--jitter", "1", "--out", str(tmp_path / "c"), "--quiet")
    assert p.returncode == 0, p.stderr
    m = _run_dir_complete(tmp_path / "c", ["classviz", "progress_00", "progress_01"])
    assert [r["target"] for r in m["per_class"]] == ["3", "8"] and m["target_prob"] > 0.5


def test_predict_and_activations_commands(tmp_path, mnist_cnn):
    from dlapps.core.data import load_dataset

    b = load_dataset("mnist", source="embedded", verbose=False)
    files = []
    for i in range(3):  # real MNIST test digits as PNG files
        f = tmp_path / f"digit{i}_{int(b.test.labels[i])}.png"
        Image.fromarray(b.test.images[i, 0].numpy()).save(f)
        files.append(f)
    p = dlapps("transfer", "predict", "mnist_cnn", *map(str, files), "--weights", "dlapps", "--top", "2",
               "--out", str(tmp_path / "p"), "--quiet")
    assert p.returncode == 0, p.stderr
    m = _run_dir_complete(tmp_path / "p", ["predictions"])
    top1 = [int(r["top"][0]["name"]) for r in m["predictions"]]
    assert top1 == [int(b.test.labels[i]) for i in range(3)]  # the trained CNN reads real digits
    p = dlapps("transfer", "activations", "mnist_cnn", str(files[0]), "--weights", "dlapps", "--layer", "relu1",
               "--layer", "relu2", "--channels", "4", "--out", str(tmp_path / "a"), "--quiet")
    assert p.returncode == 0, p.stderr
    m = _run_dir_complete(tmp_path / "a", ["activations"])
    assert set(m["layers"]) == {"relu1", "relu2"} and m["layers"]["relu1"]["shape"][0] == 4


def test_unconditional_dcgan_command(tmp_path):
    p = dlapps("generate", "dcgan", "--data-source", "embedded", "--limit", "256", "--batch-size", "64", "--ngf", "8",
               "--ndf", "8", "--nz", "16", "--epochs", "1", "--eval-samples", "200", "--out", str(tmp_path / "g"),
               "--quiet")
    assert p.returncode == 0, p.stderr
    m = _run_dir_complete(tmp_path / "g", ["samples", "losses"])
    assert "conditional_accuracy" not in m and m["steps"] == 4
    # coverage is, by definition, the classes holding at least 2 % of the samples' predicted labels
    assert m["class_coverage"] == sum(h >= 0.02 for h in m["class_hist"]) and sum(m["class_hist"]) == pytest.approx(1)
    assert np.isfinite(m["classifier_fid"]) and m["classifier_fid_floor"] >= 0


def test_demo_only_one_part(tmp_path, mnist_cnn):
    p = dlapps("demo", "--only", "transfer", "--out", str(tmp_path / "d"), "--quiet")
    assert p.returncode == 0, p.stderr
    parts = sorted(d.name for d in (tmp_path / "d").iterdir() if d.is_dir())
    assert parts == ["transfer-probe"]
    html = (tmp_path / "d" / "report.html").read_text()
    assert 'class="glance"' in html and "transfer: pretrained features" in html
    # alone, the part still runs on one thread, as beside another part: the same numbers either way
    cfg = json.loads((tmp_path / "d" / "transfer-probe" / "config.json").read_text())
    assert cfg["threads"] == 1 and cfg["environment"]["threads"] == 1
    # rerunning the finished demo skips the finished part
    p = dlapps("demo", "--only", "transfer", "--out", str(tmp_path / "d"), "--resume")
    assert p.returncode == 0 and "already complete, skipped" in p.stdout
