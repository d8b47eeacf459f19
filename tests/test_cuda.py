"""The ``--device cuda`` paths, run for real where a CUDA GPU is present (skipped elsewhere, as in CI).

dlapps promises identical numbers only on the CPU; on a GPU the same seed gives the same run up to float
rounding (cuDNN picks its own kernels). So each check compares a GPU run with the CPU run of the same seed
within a tolerance that such rounding cannot exceed but a real device bug (a tensor left on the CPU, a
mask or a normalisation not moved, a checkpoint that does not load across devices) would."""

from __future__ import annotations

import copy
import json

import pytest
import torch

from dlapps.runner.runs import RunOptions

pytestmark = [pytest.mark.cuda,
              pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA GPU here (the GPU paths are "
                                                                        "checked where one is)")]


@pytest.fixture
def full_fp32():
    """cuDNN and cuBLAS in float32 proper, not TF32 (PyTorch's default for convolutions on Ampere and later).

    With TF32 on, an H200 moved 0.8 % of these features by up to 1e-3 and Grad-CAM maps (a sum with
    cancellation) by up to 0.015: precision, not a device bug. Off, GPU and CPU differ by summation order."""
    saved = torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32
    torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = False
    yield
    torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32 = saved


def _opts(tmp_path, name: str, device: str, **kw) -> RunOptions:
    return RunOptions(out=str(tmp_path / f"{name}-{device}"), quiet=True, device=device, threads=1, **kw)


def _recorded_device(run_dir) -> str:
    return json.loads((run_dir / "config.json").read_text())["device"]


def test_features_and_saliency_on_cuda_equal_the_cpu_ones(mnist_cnn, full_fp32):
    from dlapps.core.data import load_dataset
    from dlapps.transfer import extract
    from dlapps.visualize import PixelModel
    from dlapps.visualize.saliency import compute_map, make_method

    b = load_dataset("digits", source="embedded", verbose=False)
    # copies: moving a network to the GPU moves it in place, and the session's model stays on the CPU
    cpu = extract(copy.deepcopy(mnist_cnn), b, ["relu3"], quiet=True, device=torch.device("cpu"), use_cache=False)
    gpu = extract(copy.deepcopy(mnist_cnn), b, ["relu3"], quiet=True, device=torch.device("cuda"), use_cache=False)
    # a wrong normalisation, layer or device transfer moves them by far more than this
    torch.testing.assert_close(torch.as_tensor(gpu.train["relu3"]), torch.as_tensor(cpu.train["relu3"]),
                               rtol=5e-3, atol=5e-3)
    mnist = load_dataset("mnist", source="embedded", verbose=False)
    x, y = mnist.test.images[:8].float() / 255, mnist.test.labels[:8]
    maps = {}
    for dev in ("cpu", "cuda"):
        model = PixelModel(copy.deepcopy(mnist_cnn)).to(dev).eval()
        for name in ("gradient", "gradcam"):
            maps[name, dev] = compute_map(make_method(name, model), x.to(dev), y.to(dev)).cpu()
    for name in ("gradient", "gradcam"):
        torch.testing.assert_close(maps[name, "cuda"], maps[name, "cpu"], rtol=5e-3, atol=5e-3)


def test_fooling_and_class_visualization_run_on_cuda(tmp_path, mnist_cnn):
    from dlapps.visualize import ClassVizConfig, FoolConfig, run_classviz, run_fool

    fool = FoolConfig(model="mnist_cnn", weights="dlapps", data="mnist", n=4, target="random", lr=0.1,
                      max_iters=200, data_source="embedded")
    m = {d: run_fool(fool, _opts(tmp_path, "fool", d)) for d in ("cpu", "cuda")}
    assert _recorded_device(m["cuda"].run_dir).startswith("cuda")
    assert m["cuda"].metrics["success_rate"] == m["cpu"].metrics["success_rate"] == 1.0
    viz = ClassVizConfig(model="mnist_cnn", weights="dlapps", targets=["3", "8"], iters=40, jitter=1)
    c = {d: run_classviz(viz, _opts(tmp_path, "viz", d)) for d in ("cpu", "cuda")}
    assert c["cuda"].metrics["target_prob"] == pytest.approx(c["cpu"].metrics["target_prob"], abs=0.02)


def test_dann_on_cuda_matches_cpu_and_its_checkpoint_continues_on_the_cpu(tmp_path):
    from dlapps.adapt import DannConfig, PseudoLabelConfig, run_dann, run_pseudo_label

    cfg = DannConfig(epochs=2, data_source="embedded", limit=1500, tsne_points=200, batch_size=64)
    r = {d: run_dann(cfg, _opts(tmp_path, "dann", d)) for d in ("cpu", "cuda")}
    assert _recorded_device(r["cuda"].run_dir).startswith("cuda")
    for dom in ("source", "target"):  # 2 epochs of the same seed: rounding moves a handful of test images at most
        assert r["cuda"].metrics[dom]["class_acc"] == pytest.approx(r["cpu"].metrics[dom]["class_acc"], abs=0.03)
    assert (r["cuda"].run_dir / "figures" / "tsne.png").exists()
    # a run trained on the GPU is continued on a machine without one: pseudo-labelling from its checkpoint
    p = run_pseudo_label(PseudoLabelConfig(start=str(r["cuda"].run_dir), rounds=1, threshold=0.3, batch_size=64),
                         _opts(tmp_path, "pl", "cpu"))
    assert len(p.metrics["rounds"]) == 1 and 0 < p.metrics["target"]["class_acc"] <= 1


def test_dann_killed_on_cuda_resumes_on_the_cpu_to_the_uninterrupted_numbers(tmp_path):
    from test_interrupt import checkpoint_after, start_and_kill

    from dlapps.adapt import DannConfig, run_dann

    cfg = DannConfig(epochs=2, data_source="embedded", limit=1500, tsne_points=0, batch_size=64)
    out = tmp_path / "killed"
    start_and_kill(["adapt", "dann", "--epochs", "2", "--data-source", "embedded", "--limit", "1500",
                    "--tsne-points", "0", "--batch-size", "64", "--device", "cuda", "--out", str(out)],
                   checkpoint_after(out, "epoch"))
    assert torch.load(out / "checkpoints" / "last.pt", weights_only=True)["epoch"] == 1  # stopped mid-run
    resumed = run_dann(cfg, RunOptions(out=str(out), resume=True, quiet=True, threads=1, device="cpu")).metrics
    whole = run_dann(cfg, _opts(tmp_path, "whole", "cuda")).metrics
    assert resumed["epochs_done"] == 2
    for dom in ("source", "target"):
        assert resumed[dom]["class_acc"] == pytest.approx(whole[dom]["class_acc"], abs=0.03)


def test_cgan_on_cuda_trains_and_its_checkpoint_evaluates_on_the_cpu(tmp_path):
    from dlapps.generate import GanConfig, evaluate_run, run_gan

    kw = dict(conditional=True, data_source="embedded", limit=2048, batch_size=64, ngf=16, ndf=16, nz=16, epochs=3,
              eval_samples=500)
    r = {d: run_gan(GanConfig(**kw), _opts(tmp_path, "cgan", d)) for d in ("cpu", "cuda")}
    m = r["cuda"].metrics
    assert _recorded_device(r["cuda"].run_dir).startswith("cuda") and m["steps"] == r["cpu"].metrics["steps"]
    assert all(torch.isfinite(torch.tensor(v)) for v in (m["classifier_fid"], m["conditional_accuracy"]))
    # the same 3 epochs reach a comparable generator on either device (the CPU run's spread over seeds is ~0.1)
    assert m["conditional_accuracy"] == pytest.approx(r["cpu"].metrics["conditional_accuracy"], abs=0.2)
    assert (r["cuda"].run_dir / "figures" / "samples_by_label.png").exists()
    e = evaluate_run(r["cuda"].run_dir, device=torch.device("cpu"))
    assert 0 <= e["conditional_accuracy"] <= 1
