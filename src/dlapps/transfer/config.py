"""The transfer commands' settings: one dataclass per command, every option declared once (dlapps.runner.options)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from dlapps.core.data.containers import DataSource
from dlapps.core.images import GrayMode
from dlapps.core.inference import Engine, Precision
from dlapps.runner.options import DATA_SOURCE_HELP, WEIGHTS_HELP, opt
from dlapps.transfer.features import Pool


@dataclass
class InspectConfig:
    model: str = opt("vgg16", "Any torchvision classifier, or mnist_cnn (the MODEL argument).", cli=False)
    weights: str = opt("random", WEIGHTS_HELP + " Counts and shapes need none.")
    input_size: int | None = opt(None, "Input side in pixels [default: the model's].", low=1)


@dataclass
class PredictConfig:
    model: str = opt("mobilenet_v2", "Any torchvision classifier, or mnist_cnn (the MODEL argument).", cli=False)
    images: list[str] = opt(help="Image files or folders of them (the IMAGES arguments).", cli=False,
                            default_factory=list)
    weights: str = opt("imagenet", WEIGHTS_HELP)
    top: int = opt(5, "Classes listed per image.", low=1)
    gray: GrayMode = opt("replicate", "Grey images to RGB: replicate the channel, or a colour map.")
    precision: Precision = opt("fp32", "bf16: autocast (faster on CPUs with AVX-512 BF16/AMX).")
    batch_size: int = opt(0, "Images per forward pass (0 = chosen per model and device).", low=0)


@dataclass
class ActivationsConfig:
    model: str = opt("mobilenet_v2", "Any torchvision classifier, or mnist_cnn (the MODEL argument).", cli=False)
    image: str = opt("", "One image file (the IMAGE argument).", cli=False)
    layers: list[str] = opt(help="Repeatable: alias or graph node (see `transfer layers`).", cli="--layer",
                            required=True, default_factory=lambda: ["features.2"])
    weights: str = opt("imagenet", WEIGHTS_HELP)
    channels: int = opt(16, "First N channels per layer.", low=1)
    gray: GrayMode = opt("replicate", "Grey images to RGB: replicate the channel, or a colour map.")


Classifier = Literal["svm", "linearsvc", "logreg"]  # libsvm linear SVM | liblinear | logistic regression


@dataclass
class ProbeConfig:
    models: list[str] = opt(help="Repeatable: NAME or NAME:WEIGHTS (e.g. mobilenet_v2:imagenet, vgg16:random).",
                            cli="--model", default_factory=lambda: ["vgg16"])
    weights: str = opt("imagenet", "Weights of the models given without ':WEIGHTS': " + WEIGHTS_HELP)
    layers: list[str] = opt(help="Repeatable: alias (relu1..relu7 for VGG16/AlexNet), graph node (see `transfer "
                                 "layers`), or penultimate (what the last linear layer reads, for any model).",
                            cli="--layer", default_factory=lambda: ["penultimate"])
    data: str = opt("scene15", "scene15, digits, or an image folder / .npz.")
    data_source: DataSource = opt("auto", DATA_SOURCE_HELP)
    pool: Pool = opt("avg", "Conv layers: global average or max pooling, or none (flatten).")
    gray: GrayMode = opt("replicate", "Grey images to RGB: replicate the channel, or a colour map.")
    classifier: Classifier = opt("svm", "svm (libsvm, linear kernel), linearsvc (liblinear) or logreg.")
    c_grid: list[float] = opt(help="The C values searched by cross-validation.", csv=True,
                              default_factory=lambda: [0.0001, 0.001, 0.01, 0.1, 1.0])
    folds: int = opt(5, "Cross-validation folds for the C search.", low=2)
    svm_jobs: int = opt(1, "Parallel grid-search jobs (scikit-learn's n_jobs; -1 = every core).", low=-1)
    standardize: bool = opt(True, "StandardScaler before the classifier.")
    batch_size: int = opt(0, "Images per forward pass (0 = chosen per model and device).", low=0)
    precision: Precision = opt("fp32", "bf16: autocast, faster on CPUs with AVX-512 BF16/AMX and on GPUs; features "
                                       "differ slightly.")
    engine: Engine = opt("torch", "onnxruntime: the same network in ONNX Runtime (CPU, float32; pip install "
                                  "'dlapps[onnx]').")
    per_class: int = opt(0, "At most N train and N test images per class (0 = all; quick runs).", low=0)
    train_per_class: int = opt(0, "N labelled training images per class, the whole test split (the few-label "
                                  "regime; 0 = all).", low=0)
    cache: bool = opt(True, "Read and write the feature cache ($DLAPPS_CACHE/features).")
