"""Model registry: torchvision classifiers by name, their weights, layer aliases and class names.

``build_model("vgg16", "imagenet")`` gives torchvision's pretrained weights (downloaded into
``$TORCH_HOME``; offline, a known state_dict in ``$DLAPPS_WEIGHTS`` is used, else one clear error line).
``weights`` may also be a path to a state_dict (loaded with ``weights_only=True``) or ``random``.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Mapping

import torch
import torch.nn as nn
import torch.nn.functional as F
import torchvision
from torchvision import transforms as T

from dlapps import DlappsError, did_you_mean
from dlapps.core.data.downloads import portable
from dlapps.core.zoo import MNIST_MEAN, MNIST_STD, ZOO
from dlapps.core import zoo
from dlapps.core.data import download

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

@dataclass(frozen=True)
class ModelSpec:
    """What dlapps knows about one model, in one record (a timm-style registry): every app reads the
    input it takes, its normalisation, the study's layer names and the weight files from here."""

    name: str
    in_channels: int = 3                        # 1 for grey-image networks
    input_size: int = 224                       # side of the (square) input in pixels
    mean: tuple[float, ...] = IMAGENET_MEAN     # per-channel normalisation of [0, 1] pixels
    std: tuple[float, ...] = IMAGENET_STD
    aliases: Mapping[str, str] = field(default_factory=dict)  # the study's layer names -> exact graph nodes
    weight_files: tuple[tuple[str, bool], ...] = ()  # ImageNet state_dicts known in $DLAPPS_WEIGHTS: (file, tf_padding)


# Layer aliases: the names used in the study (relu1..relu5 = last ReLU of each conv block, relu6/relu7 =
# the ReLUs after fc6/fc7) mapped to exact torchvision graph nodes. Weight files: used for --weights imagenet
# when torchvision's download is impossible; ``tf_padding`` makes stride-2 convs pad like TensorFlow "SAME",
# which the converted TFLite MobileNetV2 needs to reproduce its accuracy (see shared/weights/README.md).
REGISTRY: dict[str, ModelSpec] = {s.name: s for s in (
    ModelSpec("vgg16", aliases={"relu1": "features.3", "relu2": "features.8", "relu3": "features.15",
                                "relu4": "features.22", "relu5": "features.29", "pool5": "features.30",
                                "relu6": "classifier.1", "relu7": "classifier.4", "fc8": "classifier.6",
                                "penultimate": "classifier.4"}),
    ModelSpec("alexnet", aliases={"relu1": "features.1", "relu2": "features.4", "relu3": "features.7",
                                  "relu4": "features.9", "relu5": "features.11", "pool5": "features.12",
                                  "relu6": "classifier.2", "relu7": "classifier.5", "fc8": "classifier.6",
                                  "penultimate": "classifier.5"}),
    ModelSpec("resnet50", aliases={"layer1": "layer1", "layer2": "layer2", "layer3": "layer3", "layer4": "layer4",
                                   "pool": "flatten", "fc": "fc", "penultimate": "flatten"}),
    ModelSpec("mobilenet_v2", aliases={"block7": "features.7", "block11": "features.11", "block14": "features.14",
                                       "block17": "features.17", "conv_last": "features.18", "pool": "flatten",
                                       "logits": "classifier.1", "penultimate": "flatten"},
              weight_files=(("mobilenet_v2_imagenet1k_from_tflite_fp16.pt", True),)),
    # the study's visualization network (the DeepScale Caffe model, converted; stock architecture)
    ModelSpec("squeezenet1_1", aliases={"fire5": "features.7", "fire7": "features.10", "fire9": "features.12",
                                        "logits": "flatten", "penultimate": "features.12"},  # fire9, pooled by the probe
              weight_files=(("squeezenet1_1_imagenet1k_from_openvino_fp16.pt", False),)),
    # dlapps' own MNIST CNN (src/dlapps/zoo.py), trained here on the embedded digits
    ModelSpec("mnist_cnn", in_channels=1, input_size=28, mean=MNIST_MEAN, std=MNIST_STD,
              aliases={"relu1": "features.1", "relu2": "features.4", "relu3": "classifier.1",
                       "logits": "classifier.3", "penultimate": "classifier.1"}),
)}


def model_spec(name: str) -> ModelSpec:
    """The record of a model; any other torchvision classifier gets the ImageNet defaults."""
    return REGISTRY.get(name) or ModelSpec(name)


# views of the registry, by the names callers use
LAYER_ALIASES: dict[str, dict[str, str]] = {n: dict(s.aliases) for n, s in REGISTRY.items()}
KNOWN_WEIGHT_FILES: dict[str, list[tuple[str, bool]]] = {n: list(s.weight_files) for n, s in REGISTRY.items()
                                                         if s.weight_files}


@dataclass
class LoadedModel:
    """A model in eval mode with what a run needs to use and describe it."""

    name: str
    model: nn.Module
    weights: str  # a description: "imagenet (torchvision IMAGENET1K_V1)", "file: ...", "random"
    preprocess: Callable  # PIL image -> (3, H, W) float tensor
    mean: tuple[float, ...]
    std: tuple[float, ...]
    input_size: int
    class_names: list[str]
    pixels: Callable | None = None  # PIL image -> (C, H, W) in [0, 1]: preprocess without normalisation

    @property
    def in_channels(self) -> int:
        """Input channels the network takes (its registry record)."""
        return model_spec(self.name).in_channels

    def pixel_transform(self) -> Callable:
        """Resize/crop to the model's input without normalising (for attacks and visualisation)."""
        if self.pixels is not None:
            return self.pixels
        return T.Compose([T.Resize(round(self.input_size * 256 / 224)), T.CenterCrop(self.input_size), T.ToTensor()])


def list_models() -> list[str]:
    return sorted(torchvision.models.list_models(module=torchvision.models)) + list(ZOO)


def _check_name(name: str) -> str:
    names = list_models()
    if name not in names:
        hint = did_you_mean(name.lower(), names, n=3, quote=False)
        raise DlappsError(f"unknown model {name!r}{hint}; any torchvision classifier works, e.g. vgg16, alexnet, "
                          "resnet50, mobilenet_v2, squeezenet1_1")
    return name


def imagenet_classes() -> list[str]:
    """The 1,000 ImageNet class names in torchvision order (shipped inside torchvision)."""
    return list(torchvision.models.ResNet50_Weights.IMAGENET1K_V1.meta["categories"])


def imagenet_transform(size: int = 224, resize: int = 256) -> Callable:
    return T.Compose([T.Resize(resize), T.CenterCrop(size), T.ToTensor(), T.Normalize(IMAGENET_MEAN, IMAGENET_STD)])


def use_tf_same_padding(model: nn.Module) -> nn.Module:
    """Make stride-2 convs pad like TensorFlow "SAME" (bottom/right), for TF-converted weights."""
    def pad_same(mod: nn.Conv2d, args: tuple[torch.Tensor, ...]) -> tuple[torch.Tensor]:
        x, k, s = args[0], mod.kernel_size[0], mod.stride[0]
        ph = max((-(-x.shape[-2] // s) - 1) * s + k - x.shape[-2], 0)
        pw = max((-(-x.shape[-1] // s) - 1) * s + k - x.shape[-1], 0)
        return (F.pad(x, (pw // 2, pw - pw // 2, ph // 2, ph - ph // 2)),)

    for m in model.modules():
        if isinstance(m, nn.Conv2d) and m.stride == (2, 2):
            m.padding = (0, 0)
            m.register_forward_pre_hook(pad_same)
    return model


def _load_state_dict(model: nn.Module, path: Path) -> None:
    try:
        sd = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise DlappsError(f"weights file not found: {path}") from None
    except Exception as e:
        raise DlappsError(f"cannot read weights {path}: {e.__class__.__name__} (expected a state_dict saved with torch.save)") from None
    if isinstance(sd, dict) and "state_dict" in sd and isinstance(sd["state_dict"], dict):
        sd = sd["state_dict"]
    if isinstance(sd, dict) and "model" in sd and isinstance(sd["model"], dict):
        sd = sd["model"]
    try:
        model.load_state_dict(sd, strict=True)
    except (RuntimeError, TypeError) as e:
        first = str(e).strip().splitlines()
        raise DlappsError(f"{path} does not fit this architecture: {first[1].strip() if len(first) > 1 else first[0]}") from None
    check_finite_state(model.state_dict(), str(path))


def check_finite_state(state: dict[str, torch.Tensor], where: str) -> None:
    """Refuse weights holding NaN or inf: they give NaN predictions that look like results."""
    for k, t in state.items():
        if torch.is_tensor(t) and t.is_floating_point() and not torch.isfinite(t).all():
            bad = int((~torch.isfinite(t)).sum())
            raise DlappsError(f"weights {where}: tensor {k!r} holds {bad:,} NaN/inf value(s) of {t.numel():,}; "
                              "the file is corrupt or came from a diverged training run")


def check_finite_output(out: torch.Tensor, model_name: str, weights: str) -> torch.Tensor:
    """The one check on model outputs: a first batch with NaN/inf stops the run with one line."""
    if not torch.isfinite(out).all():
        raise DlappsError(f"model {model_name} ({weights}) produced NaN/inf outputs on the first batch; its weights "
                          "or the input are broken")
    return out


BUILDERS: dict[str, Callable[[str, bool], "LoadedModel"]] = {}  # dlapps' own networks, by name


def register_model(name: str) -> Callable[[Callable[[str, bool], "LoadedModel"]], Callable[[str, bool], "LoadedModel"]]:
    """Register a builder ``(weights, verbose) -> LoadedModel`` for a network dlapps defines itself (timm's
    ``@register_model``); its facts (input size, statistics, aliases) stay in its ModelSpec above."""
    def deco(fn: Callable[[str, bool], "LoadedModel"]) -> Callable[[str, bool], "LoadedModel"]:
        BUILDERS[name] = fn
        return fn
    return deco


def weights_dir() -> Path | None:
    d = os.environ.get("DLAPPS_WEIGHTS")
    return Path(d) if d else None


def build_model(name: str, weights: str = "imagenet", num_classes: int | None = None, verbose: bool = True) -> LoadedModel:
    """Build a torchvision classifier with ``imagenet`` / ``random`` / state_dict-path weights."""
    name = _check_name(name)
    if name in BUILDERS:  # a network dlapps defines itself (registered where it is built)
        return BUILDERS[name](weights, verbose)
    spec = model_spec(name)
    pre, mean, std, size, classes = imagenet_transform(spec.input_size), spec.mean, spec.std, spec.input_size, \
        imagenet_classes()
    w = (weights or "imagenet")
    if w == "random":
        model = torchvision.models.get_model(name, weights=None, num_classes=num_classes or 1000)
        desc = "random (no pretrained weights)"
        if num_classes:
            classes = [str(i) for i in range(num_classes)]
    elif w == "imagenet":
        model, desc, pre = _imagenet_weights(name)
    else:
        path = Path(w)
        if not path.exists():
            raise DlappsError(f"--weights {w!r}: no such file (use imagenet, random or a state_dict path)")
        model = torchvision.models.get_model(name, weights=None, num_classes=num_classes or 1000)
        _load_state_dict(model, path)
        if any(f == path.name and tf for f, tf in KNOWN_WEIGHT_FILES.get(name, [])):
            use_tf_same_padding(model)
        desc = f"file: {portable(path)}"
    model.eval()
    if verbose:
        print(f"model {name}: weights {desc}", flush=True)
    return LoadedModel(name, model, desc, pre, mean, std, size, classes)


@register_model("mnist_cnn")
def build_mnist_cnn(weights: str, verbose: bool) -> LoadedModel:
    """dlapps' own MNIST CNN: ``dlapps``/``imagenet`` (trained here, cached), ``random`` or a file."""
    if weights in ("dlapps", "imagenet", "pretrained", None, ""):
        model, desc = zoo.train_mnist_cnn(verbose=verbose)
    elif weights == "random":
        model, desc = zoo.MnistCNN(), "random (no training)"
    else:
        model, desc = zoo.MnistCNN(), f"file: {portable(Path(weights))}"
        _load_state_dict(model, Path(weights))
    model.eval()
    if verbose:
        print(f"model mnist_cnn: weights {desc}", flush=True)
    pre = T.Compose([T.Grayscale(1), T.Resize((28, 28)), T.ToTensor(), T.Normalize(model_spec("mnist_cnn").mean,
                                                                                    model_spec("mnist_cnn").std)])
    spec = model_spec("mnist_cnn")
    return LoadedModel("mnist_cnn", model, desc, pre, spec.mean, spec.std, spec.input_size, [str(i) for i in range(10)],
                       pixels=T.Compose([T.Grayscale(1), T.Resize((28, 28)), T.ToTensor()]))


def known_weight_file(name: str) -> tuple[Path, bool] | None:
    """The first known ImageNet state_dict for ``name`` present in $DLAPPS_WEIGHTS, with its tf-padding flag."""
    d = weights_dir()
    for f, tf in KNOWN_WEIGHT_FILES.get(name, []):
        if d is not None and (d / f).exists():
            return d / f, tf
    return None


def _imagenet_weights(name: str) -> tuple[nn.Module, str, Callable]:
    """ImageNet weights, from the first place that has them: torchvision's file already in TORCH_HOME,
    a known file in $DLAPPS_WEIGHTS (no network needed for either), then torchvision's download."""
    enum = torchvision.models.get_model_weights(name).DEFAULT
    hub_dir = Path(torch.hub.get_dir()) / "checkpoints"
    fname = os.path.basename(enum.url)
    if (hub_dir / fname).exists():  # cached: load it directly, also when DLAPPS_OFFLINE=1
        model = torchvision.models.get_model(name, weights=None)
        _load_state_dict(model, hub_dir / fname)
        return model, f"imagenet (torchvision {enum}, cached {portable(hub_dir / fname)})", enum.transforms()  # type: ignore
    local = known_weight_file(name)
    if local is not None:
        path, tf = local
        model = torchvision.models.get_model(name, weights=None)
        _load_state_dict(model, path)
        if tf:
            use_tf_same_padding(model)
        return model, f"imagenet (file: {portable(path)})", imagenet_transform()
    try:
        model = download(lambda: torchvision.models.get_model(name, weights=enum), f"{name} weights")
    except Exception as e:
        reason = str(e)[:100] if str(e) else "no network"
        known = ", ".join(f for f, _ in KNOWN_WEIGHT_FILES.get(name, []))
        wd = f"$DLAPPS_WEIGHTS ({weights_dir()})" if weights_dir() else "$DLAPPS_WEIGHTS (unset)"
        also = f", or {known} in {wd}" if known else f" ({wd} has no known file for {name})"
        raise DlappsError(f"ImageNet weights for {name} are not available ({reason}): place {fname} in "
                          f"{hub_dir} (TORCH_HOME){also}; or pass --weights PATH to a state_dict, or "
                          "--weights random") from None
    return model, f"imagenet (torchvision {enum})", enum.transforms()  # type: ignore


def resolve_class(name_or_index: str | int, classes: list[str]) -> int:
    """A class by index or name (case-insensitive, '_' == ' '), with "did you mean" suggestions."""
    s = str(name_or_index).strip()
    if re.fullmatch(r"\d+", s):
        i = int(s)
        if not 0 <= i < len(classes):
            raise DlappsError(f"class index {i} out of range 0..{len(classes) - 1}")
        return i
    norm = lambda t: re.sub(r"[\s_\-]+", " ", t.lower()).strip()
    table = {norm(c): i for i, c in reversed(list(enumerate(classes)))}
    if norm(s) in table:
        return table[norm(s)]
    hint = did_you_mean(norm(s), table, n=3, show=lambda c: classes[table[c]])
    raise DlappsError(f"unknown class {s!r}{hint}")


def resolve_layer(model_name: str, layer: str, nodes: list[str]) -> str:
    """Alias (``relu7``) or exact graph node name -> node name, or an error listing valid names."""
    alias = LAYER_ALIASES.get(model_name, {})
    layer = alias.get(layer, layer)
    if layer in nodes:
        return layer
    inside = [n for n in nodes if n.startswith(layer + ".")]
    if inside:  # a module name (e.g. a residual block "features.13"): its output is its last node
        return inside[-1]
    hint = did_you_mean(layer, list(alias) + nodes, n=3, quote=False)
    shown = ", ".join(list(alias)[:12]) + ("; nodes: " if alias else "") + ", ".join(nodes[:8]) + ", ..."
    raise DlappsError(f"unknown layer {layer!r} for {model_name}{hint}; valid: {shown} "
                      f"(`dlapps transfer layers {model_name}` lists all)")
