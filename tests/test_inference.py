"""The inference path: BN folding, decode pipeline, JPEG draft decoding, batched attacks and class
visualization (same result per image as one at a time), and device plumbing."""

from __future__ import annotations

import io
import json

import numpy as np
import pytest
import torch
import torchvision
from PIL import Image

from dlapps import DlappsError
from dlapps.core.images import decode_side, open_image
from dlapps.core.inference import Inference, decoded_batches, fuse_for_inference
from dlapps.runner.runs import RunOptions


def test_bn_folding_keeps_the_function_and_the_layer_names():
    torch.manual_seed(0)
    model = torchvision.models.mobilenet_v2(num_classes=10).eval()
    for m in model.modules():  # non-trivial running statistics, so a wrong fold would show
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-1, 1)
            m.running_var.uniform_(0.5, 2)
    x = torch.randn(2, 3, 64, 64)
    fused = fuse_for_inference(model)
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in fused.modules())
    assert sum(isinstance(m, torch.nn.BatchNorm2d) for m in model.modules()) == 52  # the original is untouched
    assert set(dict(model.named_modules())) == set(dict(fused.named_modules()))
    with torch.no_grad():
        assert torch.allclose(fused(x), model(x), atol=1e-4, rtol=1e-4)
        # a convolution the caller reads stays unfolded: its output is the raw convolution's
        from torchvision.models.feature_extraction import create_feature_extractor

        node = "features.1.conv.1"  # a Conv2d read by the BN after it
        keep = create_feature_extractor(fuse_for_inference(model, keep=[node]), {node: "c"})(x)["c"]
        ref = create_feature_extractor(model, {node: "c"})(x)["c"]
        assert torch.allclose(keep, ref, atol=1e-5)
        folded = create_feature_extractor(fused, {node: "c"})(x)["c"]
        assert not torch.allclose(folded, ref, atol=1e-3)


@pytest.mark.parametrize("requested,precision,expected", [(0, "fp32", [8, 2]), (3, "fp32", [3, 3, 3, 1]),
                                                            (0, "bf16", [10])])
def test_the_network_sees_the_batch_size_the_policy_chooses(tmp_path, monkeypatch, mnist_cnn, requested, precision,
                                                            expected):
    """What reaches the network: float32 CPU batches of 8 for a small CNN, the user's size when given, 16 with
    bf16 (measured: bf16 wants bigger batches)."""
    import dlapps.transfer.predict as P

    files = []
    for i in range(10):
        f = tmp_path / f"d{i}.png"
        Image.fromarray(np.full((28, 28), 25 * i, np.uint8)).save(f)
        files.append(str(f))
    seen: list[int] = []
    real = P.build_model

    def spying(*a, **k):
        lm = real(*a, **k)
        lm.model.register_forward_pre_hook(lambda m, inp: seen.append(inp[0].shape[0]))
        return lm

    monkeypatch.setattr(P, "build_model", spying)
    P.run_predict(P.PredictConfig(model="mnist_cnn", weights="dlapps", images=files, precision=precision,
                                  batch_size=requested), RunOptions(out=str(tmp_path / "r"), quiet=True))
    assert seen == expected


@pytest.mark.parametrize("mode", ["RGB", "L"])
def test_split_preprocess_gives_the_torchvision_pipelines_numbers_in_channels_last(mode):
    """uint8 pixels from the decode threads, normalised per batch in one multiply-add: the numbers of
    Resize + CenterCrop + ToTensor + Normalize (a grey image broadcast to three channels), NHWC memory."""
    import torchvision.transforms as T

    from dlapps.core.inference import split_preprocess

    tf = T.Compose([T.Resize(40), T.CenterCrop(32), T.ToTensor(), T.Normalize([0.485, 0.456, 0.406], [0.229, 0.224, 0.225])])
    rng = np.random.default_rng(0)
    imgs = [Image.fromarray(rng.integers(0, 256, (50, 60, 3) if mode == "RGB" else (50, 60), dtype=np.uint8), mode)
            for _ in range(3)]
    split = split_preprocess(tf)
    assert split is not None
    x = split.normalize(torch.stack([split.to_uint8(im) for im in imgs]))
    ref = torch.stack([tf(im.convert("RGB")) for im in imgs])                 # (3, 3, 32, 32)
    assert x.shape == ref.shape and x.is_contiguous(memory_format=torch.channels_last)
    assert torch.allclose(x, ref, atol=1e-5)
    assert split_preprocess(T.Compose([T.RandomCrop(8), T.ToTensor()])) is None  # not a split-able pipeline


@pytest.mark.parametrize("workers", [0, 1, 3])
def test_decoded_batches_keep_order_and_sizes(workers):
    seen = []

    def load(i: int) -> torch.Tensor:
        seen.append(i)
        return torch.full((1, 2, 2), float(i))

    batches = list(decoded_batches(10, load, 4, workers))
    assert [len(b) for b in batches] == [4, 4, 2]
    assert torch.cat(batches)[:, 0, 0, 0].tolist() == list(range(10)) and sorted(seen) == list(range(10))


def test_large_jpeg_is_decoded_at_the_size_the_resize_needs():
    yy, xx = np.mgrid[0:1536, 0:2048]
    a = np.stack([(xx / 8) % 256, (yy / 6) % 256, (xx + yy) / 14 % 256], -1).astype(np.uint8)
    buf = io.BytesIO()
    Image.fromarray(a).save(buf, "JPEG", quality=92)
    full, small = open_image(buf.getvalue()), open_image(buf.getvalue(), min_side=256)
    assert full.size == (2048, 1536) and small.size == (512, 384)  # 1/4 scale keeps the short side >= 256
    tf = torchvision.transforms.Compose([torchvision.transforms.Resize(256), torchvision.transforms.CenterCrop(224),
                                         torchvision.transforms.ToTensor()])
    assert decode_side(tf) == 256
    assert (tf(full) - tf(small)).abs().mean() < 0.02  # the same picture after the resize
    assert open_image(buf.getvalue(), min_side=1000).size == (2048, 1536)  # not 2x larger than needed: full


def test_inference_settings_refuse_what_they_cannot_do():
    with pytest.raises(DlappsError, match="precision"):
        Inference(precision="fp8")
    with pytest.raises(DlappsError, match="onnxruntime runs float32"):
        Inference(engine="onnxruntime", precision="bf16")


def test_extraction_default_equals_the_plain_path_and_bf16_is_another_cache_key():
    from dlapps.core.data import load_dataset
    from dlapps.core.models import build_model
    from dlapps.transfer.features import cache_key, extract

    torch.manual_seed(0)
    lm = build_model("resnet18", "random", verbose=False)
    b = load_dataset("digits", source="embedded", verbose=False)
    from dlapps.transfer.probe import limit_per_class

    b = limit_per_class(b, 2, 0)
    fast = extract(lm, b, ["penultimate"], quiet=True, use_cache=False)
    plain = extract(lm, b, ["penultimate"], quiet=True, use_cache=False, batch_size=7,
                    inference=Inference(channels_last=False, workers=0))
    assert np.allclose(fast.train["penultimate"], plain.train["penultimate"], atol=1e-4, rtol=1e-3)
    assert cache_key(lm, "flatten", "avg", b, "replicate") != cache_key(lm, "flatten", "avg", b, "replicate", "bf16")


class _Tiny(torch.nn.Module):
    """A small CNN with batch norm in eval mode (per-image outputs independent of the batch)."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(3)
        self.net = torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3, padding=1), torch.nn.BatchNorm2d(8), torch.nn.ReLU(),
                                       torch.nn.AdaptiveAvgPool2d(4), torch.nn.Flatten(), torch.nn.Linear(128, 10))
        self.eval()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


@pytest.mark.parametrize("batch_size", [0, 4])  # 0: all six at once; 4: waiting images refill freed places
@pytest.mark.parametrize("method", ["gradient", "pgd"])
def test_batched_attack_equals_one_image_at_a_time(method, batch_size):
    from dlapps.visualize.attacks import (fool_gradient_ascent, fool_gradient_ascent_batch, pgd_linf,
                                          pgd_linf_batch)

    model = _Tiny()
    g = torch.Generator().manual_seed(0)
    x = torch.rand(6, 3, 16, 16, generator=g)
    targets = torch.tensor([0, 3, 5, 7, 9, 2])
    if method == "gradient":
        batch = fool_gradient_ascent_batch(model, x, targets, lr=0.5, max_iters=40, batch_size=batch_size)
        single = [fool_gradient_ascent(model, x[i], int(targets[i]), lr=0.5, max_iters=40) for i in range(6)]
    else:
        batch = pgd_linf_batch(model, x, targets, eps=16 / 255, steps=40, batch_size=batch_size)
        single = [pgd_linf(model, x[i], int(targets[i]), eps=16 / 255, steps=40) for i in range(6)]
    assert [r.iterations for r in batch] == [r.iterations for r in single]
    assert [r.success for r in batch] == [r.success for r in single]
    assert len({r.iterations for r in batch}) > 1  # images really stopped at different iterations
    for b, s in zip(batch, single):
        assert torch.allclose(b.x_adv, s.x_adv, atol=1e-5) and abs(b.target_prob - s.target_prob) < 1e-5


def test_batched_class_visualization_equals_one_class_at_a_time():
    from dlapps.visualize.classviz import class_visualization, class_visualization_batch

    model = _Tiny()
    inits = torch.rand(3, 3, 16, 16, generator=torch.Generator().manual_seed(1))
    kw = dict(iters=12, lr=0.05, jitter=2, blur_every=5, frame_every=4)
    batch = class_visualization_batch(model, [1, 4, 8], inits, [10, 11, 12], stop_at=0.5, **kw)
    for i, (t, s) in enumerate(zip([1, 4, 8], [10, 11, 12])):
        one = class_visualization(model, t, inits[i], seed=s, stop_at=0.5, **kw)
        assert one.iterations == batch[i].iterations
        assert torch.allclose(one.image, batch[i].image, atol=1e-5)
        assert np.allclose(one.prob_curve, batch[i].prob_curve, atol=1e-5)
        assert one.first_p90 == batch[i].first_p90
        assert [f[0] for f in one.frames] == [f[0] for f in batch[i].frames]


def test_visualize_runs_put_model_and_images_on_the_runs_device(tmp_path, monkeypatch, mnist_cnn):
    """Device plumbing, checked on the CPU: whatever device start_run picks is where the model and the
    images go (a spy on PixelModel.to and Tensor.to), and config.json records it."""
    import dlapps.visualize.run as V
    from dlapps.visualize.common import PixelModel

    moved: list[str] = []
    orig = PixelModel.to
    monkeypatch.setattr(PixelModel, "to", lambda self, d, *a, **k: (moved.append(str(d)), orig(self, d, *a, **k))[1])
    r = V.run_fool(V.FoolConfig(model="mnist_cnn", weights="dlapps", data="mnist", n=2, target="random", lr=0.1,
                                max_iters=30, data_source="embedded"),
                   RunOptions(out=str(tmp_path / "f"), quiet=True, device="cpu"))
    assert moved == ["cpu"] and json.loads((r.run_dir / "config.json").read_text())["device"] == "cpu"
    if torch.cuda.is_available():
        pytest.skip("a GPU is present: cuda is valid here")
    with pytest.raises(DlappsError, match="no CUDA GPU"):
        V.run_fool(V.FoolConfig(model="mnist_cnn", data="mnist", n=1, data_source="embedded"),
                   RunOptions(out=str(tmp_path / "g"), quiet=True, device="cuda"))
