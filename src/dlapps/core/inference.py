"""The inference path shared by feature extraction, predict, activations and saliency: device,
memory format, precision, batch size, and an input pipeline that decodes images while the network runs.

Why channels-last by default: PyTorch's CPU convolutions (oneDNN) run 1.6-1.8x faster on NHWC
activations for MobileNet-style networks, with the same maths (differences at float rounding level).
Why bf16 is opt-in: it is 2-4x faster again on CPUs with AVX-512 BF16 / AMX and on GPUs, but changes the
features slightly, so a run that uses it says so and the benchmark reports the accuracy change.
"""

from __future__ import annotations

import contextlib
import copy
from collections import Counter, deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Callable, Collection, Iterator, Literal

import torch
import torch.nn as nn

from dlapps import DlappsError
from dlapps.core.choices import check_choices

Precision = Literal["fp32", "bf16"]      # bf16: CPU autocast / CUDA AMP
Engine = Literal["torch", "onnxruntime"]  # onnxruntime: CPU float32, the optional extra dlapps[onnx]


@dataclass(frozen=True)
class Inference:
    """How a network is run for inference; one instance per run, built from the run's options."""

    device: torch.device = torch.device("cpu")
    precision: Precision = "fp32"  # fp32 | bf16 (CPU autocast / CUDA AMP)
    channels_last: bool = True     # NHWC activations: same maths, faster convolutions
    workers: int = 1               # decode threads beside the network (0 = decode in the main thread)
    engine: Engine = "torch"       # torch | onnxruntime (CPU, float32; the optional extra dlapps[onnx])

    def __post_init__(self) -> None:
        check_choices(self)
        if self.engine == "onnxruntime" and (self.device.type != "cpu" or self.precision != "fp32"):
            raise DlappsError("--engine onnxruntime runs float32 on the CPU here; use --device cpu --precision fp32, "
                              "or --engine torch")

    def prepare(self, model: nn.Module) -> nn.Module:
        """The model on the device, in eval mode, in the memory format the inputs will have."""
        model = model.to(self.device).eval()
        if self.channels_last:
            model = model.to(memory_format=torch.channels_last)
        return model

    def inputs(self, x: torch.Tensor) -> torch.Tensor:
        """A batch (B, C, H, W) on the device in the chosen memory format (non-blocking from pinned memory)."""
        if self.device.type == "cuda" and x.device.type == "cpu" and not x.is_pinned():  # a batch already
            x = x.pin_memory()                                                          # there stays put
        x = x.to(self.device, non_blocking=True)
        cl = self.channels_last and self.engine == "torch" and x.ndim == 4
        return x.contiguous(memory_format=torch.channels_last if cl else torch.contiguous_format)

    def autocast(self) -> contextlib.AbstractContextManager:
        """bf16 autocast on the device when asked for, else nothing."""
        if self.precision == "bf16":
            return torch.autocast(self.device.type, dtype=torch.bfloat16)
        return contextlib.nullcontext()

    def batch_size(self, model_name: str, requested: int = 0) -> int:
        """Images per forward pass for this device, precision and engine (see :func:`batch_size_for`)."""
        return batch_size_for(model_name, self.device, requested, "inference", self.precision, self.engine)

    def describe(self) -> dict[str, object]:
        return {"device": str(self.device), "precision": self.precision, "channels_last": self.channels_last,
                "decode_workers": self.workers, "engine": self.engine}

    def compile(self, model: nn.Module, example: Callable[[], torch.Tensor]) -> Callable[[torch.Tensor], object]:
        """A callable that runs ``model`` (already fused) the way this instance says: the torch module
        itself, prepared for the device, or the same graph exported to ONNX Runtime (traced on the input
        ``example()`` returns, which only the export needs)."""
        if self.engine == "onnxruntime":
            return OnnxRunner(model, example())
        return self.prepare(model)


class OnnxRunner:
    """A torch module (tensor or dict-of-tensors output) exported to ONNX and run by ONNX Runtime on the
    CPU, with a dynamic batch axis; returns what the module would (tensors, or a dict of them)."""

    def __init__(self, model: nn.Module, example: torch.Tensor) -> None:
        import io

        try:
            import onnxruntime as ort
        except ImportError:
            raise DlappsError("--engine onnxruntime needs ONNX Runtime: pip install 'dlapps[onnx]' "
                              "(onnx and onnxruntime)") from None
        model = model.eval()
        with torch.no_grad():
            sample = model(example)
        self.keys = list(sample) if isinstance(sample, dict) else None
        names = [f"out{i}" for i in range(len(self.keys))] if self.keys else ["out0"]
        buf = io.BytesIO()
        try:
            import warnings

            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                torch.onnx.export(model, (example,), buf, dynamo=False, input_names=["x"], output_names=names,
                                  dynamic_axes={"x": {0: "batch"}, **{n: {0: "batch"} for n in names}})
        except ImportError:
            raise DlappsError("--engine onnxruntime needs the onnx package to export the network: "
                              "pip install 'dlapps[onnx]'") from None
        options = ort.SessionOptions()
        options.intra_op_num_threads = torch.get_num_threads()  # the run's deliberate thread count
        options.inter_op_num_threads = 1
        self.session = ort.InferenceSession(buf.getvalue(), options, providers=["CPUExecutionProvider"])

    def __call__(self, x: torch.Tensor) -> object:
        outs = [torch.from_numpy(o) for o in self.session.run(None, {"x": x.contiguous().numpy()})]
        return dict(zip(self.keys, outs)) if self.keys else outs[0]


def fuse_for_inference(model: nn.Module, keep: Collection[str] = ()) -> nn.Module:
    """A copy of the model with each eval-mode batch norm folded into the convolution that feeds it
    (one pass over the activations instead of two; the same function up to float rounding).

    Module names do not change (a folded BatchNorm2d becomes an Identity), so layer names and aliases
    still resolve. A convolution named in ``keep`` (a layer the caller reads) is left unfolded, since
    folding would change its output. A model torch.fx cannot trace is returned unfolded.
    """
    from torch.nn.utils.fusion import fuse_conv_bn_eval

    model = copy.deepcopy(model).eval()
    try:
        graph = torch.fx.symbolic_trace(model).graph  # leaves: torch.nn modules, so every Conv2d/BN is a node
    except Exception:  # noqa: BLE001 - data-dependent control flow: run it unfolded, same numbers
        return model
    modules = dict(model.named_modules())
    calls = Counter(n.target for n in graph.nodes if n.op == "call_module")
    for node in graph.nodes:
        bn = modules.get(node.target) if node.op == "call_module" else None
        src = node.args[0] if node.args and isinstance(node.args[0], torch.fx.Node) else None
        if not isinstance(bn, nn.BatchNorm2d) or src is None or src.op != "call_module":
            continue
        conv = modules.get(src.target)
        if (not isinstance(conv, nn.Conv2d) or len(src.users) != 1 or calls[src.target] != 1
                or calls[node.target] != 1 or src.target in keep or not bn.track_running_stats):
            continue
        model.set_submodule(str(src.target), fuse_conv_bn_eval(conv, bn))  # copies the conv's hooks too
        model.set_submodule(str(node.target), nn.Identity())
    for p in model.parameters():
        p.requires_grad_(False)
    return model


@dataclass(frozen=True)
class SplitPreprocess:
    """A torchvision pipeline ``[PIL steps..., ToTensor, Normalize]`` split where pixels become floats.

    The PIL steps (resize, crop) run in the decode threads and give uint8 (C, H, W) tensors; the float
    conversion and normalisation run once per batch, on the device, in the main thread. The numbers are
    those of the unsplit pipeline up to float rounding, but decode threads never start torch's thread
    pool (which fought the network for the cores), and a GPU receives uint8, a quarter of the bytes."""

    pil: Callable                   # PIL image -> PIL image (resize, crop, ...)
    mean: tuple[float, ...]
    std: tuple[float, ...]

    def to_uint8(self, img: object) -> torch.Tensor:
        """(C, H, W) uint8 from a PIL image after the PIL steps."""
        import numpy as np

        a = np.asarray(self.pil(img), dtype=np.uint8)
        a = a[:, :, None] if a.ndim == 2 else a
        return torch.from_numpy(a.copy()).permute(2, 0, 1)             # (C, H, W), C = 1 or 3

    def normalize(self, x: torch.Tensor) -> torch.Tensor:
        """(B, C, H, W) uint8 -> normalised float32 (B, 3, H, W) in channels-last memory: (x / 255 - mean) / std
        as one multiply-add per value, x * 1 / (255 std) - mean / std (ToTensor + Normalize up to float
        rounding). A grey batch (C = 1) for a 3-channel mean is broadcast to three channels in that same
        pass, and the network's channels-last input needs no further copy."""
        mean = torch.tensor(self.mean, device=x.device)
        std = torch.tensor(self.std, device=x.device)
        b, _, h, w = x.shape
        out = torch.empty(b, h, w, len(self.mean), device=x.device)     # (B, H, W, 3)
        torch.addcmul(-mean / std, x.permute(0, 2, 3, 1).float(), 1 / (255 * std), out=out)
        return out.permute(0, 3, 1, 2)                                  # (B, 3, H, W) in NHWC memory


def split_preprocess(preprocess: object) -> SplitPreprocess | None:
    """The split form of a ``Compose([..PIL steps.., ToTensor(), Normalize(mean, std)])``, else None
    (e.g. a weights' ``ImageClassification`` transform, which resizes tensors: used as it is)."""
    import torchvision.transforms as T

    steps = getattr(preprocess, "transforms", None)
    if (not isinstance(preprocess, T.Compose) or not steps or len(steps) < 2
            or not isinstance(steps[-2], T.ToTensor) or not isinstance(steps[-1], T.Normalize)):
        return None
    if not all(isinstance(t, (T.Resize, T.CenterCrop, T.Grayscale)) for t in steps[:-2]):
        return None
    norm = steps[-1]
    return SplitPreprocess(T.Compose(steps[:-2]), tuple(map(float, norm.mean)), tuple(map(float, norm.std)))


def batch_size_for(model_name: str, device: torch.device, requested: int = 0,
                   task: Literal["inference", "gradient"] = "inference", precision: Precision = "fp32",
                   engine: Engine = "torch") -> int:
    """The batch size: the user's, else one per device, model family, task, precision and engine.

    On CPU a small batch keeps a float32 network's activations in cache. Extraction measured here
    (alternating blocks, images/s at 4 / 8 / 16 per batch): MobileNetV2 92 / 85 / 76, SqueezeNet 1.1
    136 / 170 / 136; VGG16 indifferent (4.9 / 5.0 / 4.9), so the heavy networks keep 16. The MobileNets
    (depthwise layers: little compute per byte of activation) get 4, other networks 8. bf16 and ONNX
    Runtime want bigger batches: MobileNetV2 bf16 ran at 144 images/s at 16 against 103 at 4, ONNX Runtime
    at 102 against 77. A gradient task (attacks, class visualization) keeps the activations for its
    backward pass too: SqueezeNet's attacks ran fastest at 6-12 images per pass, 15 % slower at 20.
    GPUs want bigger batches, less so for the heavy networks (memory)."""
    if requested > 0:
        return requested
    heavy = model_name.startswith(("vgg", "alexnet", "resnet1", "resnet5", "resnet10", "wide", "regnet_y_16"))
    if device.type == "cpu":
        if task == "gradient":
            return 8
        if heavy or precision != "fp32" or engine != "torch":
            return 16
        return 4 if model_name.startswith("mobilenet") else 8
    return 64 if heavy else 128


def decoded_batches(n: int, load: Callable[[int], torch.Tensor], batch_size: int,
                    workers: int = 1) -> Iterator[torch.Tensor]:
    """Batches (B, C, H, W) of ``load(i)`` for i in 0..n-1, in order.

    With ``workers`` > 0 the images are decoded and resized in a thread pool (PIL releases the GIL),
    up to two batches ahead, so the network never waits for the JPEG decoder; 0 decodes in series.
    """
    if workers <= 0:
        for i in range(0, n, batch_size):
            yield torch.stack([load(j) for j in range(i, min(i + batch_size, n))])
        return
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="dlapps-decode") as pool:
        queue: deque = deque()
        starts = iter(range(0, n, batch_size))

        def submit() -> None:
            i = next(starts, None)
            if i is not None:
                queue.append([pool.submit(load, j) for j in range(i, min(i + batch_size, n))])

        for _ in range(2):
            submit()
        while queue:
            futures = queue.popleft()
            submit()
            yield torch.stack([f.result() for f in futures])
