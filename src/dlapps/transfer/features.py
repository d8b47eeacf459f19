"""Feature extraction at named layers (torchvision's feature_extraction), batched and cached on disk.

One cache file per layer. Its key covers the model, its weights, the layer's graph node, the pooling,
the dataset (name, source, split sizes and file checksums), the grey-image mode and the
preprocessing, so any change of one of them is a cache miss and a stale file is never reused, while a
new layer set reuses every layer already extracted.
"""

from __future__ import annotations

import hashlib
import io
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Sequence, get_args

import numpy as np
import torch
from torchvision.models.feature_extraction import create_feature_extractor, get_graph_node_names
from tqdm.auto import tqdm

from dlapps import DlappsError
from dlapps.core.data import DataBundle, ImageSet, cache_dir
from dlapps.core.images import decode_side, open_image, to_rgb
from dlapps.core.inference import (Inference, SplitPreprocess, decoded_batches, fuse_for_inference,
                              split_preprocess)
from dlapps.core.models import LAYER_ALIASES, LoadedModel, check_finite_output, resolve_layer
from dlapps.runner.runs import atomic_write_bytes

Pool = Literal["avg", "max", "none"]  # conv layers: global average / max pooling, or flatten
POOLS: tuple[str, ...] = get_args(Pool)


def graph_nodes(lm: LoadedModel) -> list[str]:
    """Every node name usable as --layer (eval-mode graph)."""
    return get_graph_node_names(lm.model)[1]


def penultimate_node(lm: LoadedModel, nodes: Sequence[str]) -> str:
    """The features the classifier's last linear layer reads (VGG16's relu7, ResNet's pooled vector):
    the model's ``penultimate`` alias where it has one, else the graph node just before its last Linear."""
    alias = LAYER_ALIASES.get(lm.name, {}).get("penultimate")
    if alias:
        return alias
    linears = [n for n, m in lm.model.named_modules() if isinstance(m, torch.nn.Linear)]
    if linears and linears[-1] in nodes:
        i = nodes.index(linears[-1])
        if i > 0:  # (a dropout node there is the identity in eval mode: its output is the features)
            return nodes[i - 1]
    raise DlappsError(f"{lm.name} has no linear classifier to take the penultimate features from; pass --layer "
                      f"(`dlapps transfer layers {lm.name}` lists them)")


def resolve_layers(lm: LoadedModel, layers: Sequence[str]) -> dict[str, str]:
    """alias-or-node -> node, in the order given; one error listing valid names for a bad one.
    ``penultimate`` (the default) resolves per model, so the same command works for every architecture."""
    nodes = graph_nodes(lm)
    return {layer: penultimate_node(lm, nodes) if layer == "penultimate" else resolve_layer(lm.name, layer, nodes)
            for layer in layers}


def dataset_fingerprint(bundle: DataBundle) -> str:
    h = hashlib.sha256()
    h.update(f"{bundle.name}|{bundle.source}|{len(bundle.train)}|{len(bundle.test)}".encode())
    for s in (bundle.train, bundle.test):
        h.update(s.labels.numpy().tobytes())
        if s.encoded:
            for b in s.images[:: max(1, len(s.images) // 64)]:  # a sample of files: cheap, catches edits
                h.update(hashlib.sha256(b).digest())
        else:
            h.update(hashlib.sha256(s.images[:: max(1, len(s.images) // 64)].numpy().tobytes()).digest())
    return h.hexdigest()[:16]


def cache_key(lm: LoadedModel, node: str, pool: str, bundle: DataBundle, gray: str, precision: str = "fp32") -> str:
    """Key of one layer's features: one file per layer, so any later layer set reuses what exists.
    bf16 features are other numbers, so another key; memory format and batch size change only rounding."""
    parts = [lm.name, lm.weights, node, pool, dataset_fingerprint(bundle), gray, repr(lm.preprocess), "v3"]
    if precision != "fp32":
        parts.append(precision)
    return hashlib.sha256("|".join(parts).encode()).hexdigest()[:20]


def _pool(t: torch.Tensor, pool: str) -> torch.Tensor:
    if t.ndim == 4 and pool == "avg":
        return t.mean((2, 3))
    if t.ndim == 4 and pool == "max":
        return t.amax((2, 3))
    return t.flatten(1)


def prepare_image(images: ImageSet, i: int, lm: LoadedModel, gray: str, split: SplitPreprocess | None = None) -> torch.Tensor:
    """Image i as the model's input (C, H, W); a large JPEG is decoded at the size the resize needs.
    With ``split``: uint8 pixels after the PIL steps (a grey image stays one channel when replicated)."""
    keep_gray = split is not None and gray == "replicate"
    if images.encoded:
        img = open_image(images.images[i], gray=gray, min_side=decode_side(lm.preprocess), keep_gray=keep_gray)
    else:
        img = to_rgb(images.pil(i), gray, keep_gray=keep_gray)
    return split.to_uint8(img) if split is not None else lm.preprocess(img)


@dataclass
class Features:
    train: dict[str, np.ndarray]  # layer -> (N, D) float32
    test: dict[str, np.ndarray]
    extract_s: float              # seconds spent extracting (or only loading, when every layer was cached)
    images_per_s: float           # throughput of the extraction that produced the features
    cached: bool                  # every layer came from the cache
    keys: dict[str, str]          # layer -> cache key
    extracted: list[str]          # layers computed by this call

    @property
    def key(self) -> str:
        return "+".join(self.keys[k] for k in sorted(self.keys))


def _cache_path(key: str) -> Path:
    return cache_dir() / "features" / f"{key}.npz"


def _load_cached(key: str) -> tuple[np.ndarray, np.ndarray, float] | None:
    path = _cache_path(key)
    if not path.exists():
        return None
    try:
        with np.load(path, allow_pickle=False) as z:
            return z["train"], z["test"], float(z["meta"][1])
    except (OSError, ValueError, KeyError):  # a damaged cache file is a miss, rewritten below
        return None


def extract(lm: LoadedModel, bundle: DataBundle, layers: Sequence[str], pool: str = "avg", gray: str = "replicate",
            batch_size: int = 0, device: torch.device = torch.device("cpu"), quiet: bool = False,
            use_cache: bool = True, inference: Inference | None = None) -> Features:
    """Features of both splits at each layer. Each layer is cached on disk on its own; only the
    layers missing from the cache are extracted, all of them in one pass over the images.

    ``inference`` says how the network runs (device, precision, channels-last, decode threads); the
    default is float32, channels-last, batch-norm folded into the convolutions, on ``device``."""
    if pool not in POOLS:
        raise DlappsError(f"unknown --pool {pool!r}; use one of {', '.join(POOLS)}")
    inf = inference or Inference(device=device)
    nodes = resolve_layers(lm, layers)
    keys = {layer: cache_key(lm, node, pool, bundle, gray, inf.precision) for layer, node in nodes.items()}
    tr: dict[str, np.ndarray] = {}
    te: dict[str, np.ndarray] = {}
    rates: list[float] = []
    t0 = time.perf_counter()
    for layer in layers:
        hit = _load_cached(keys[layer]) if use_cache else None
        if hit is not None:
            tr[layer], te[layer], rate = hit
            rates.append(rate)
    missing = [layer for layer in layers if layer not in tr]
    if not missing:
        return Features(tr, te, time.perf_counter() - t0, min(rates), True, keys, [])
    return_nodes = {nodes[layer]: layer for layer in missing}
    bs = inf.batch_size(lm.name, batch_size)
    pixels = split_preprocess(lm.preprocess)
    fused = create_feature_extractor(fuse_for_inference(lm.model, keep=return_nodes), return_nodes=return_nodes)
    extractor = inf.compile(fused, lambda: prepare_image(bundle.train, 0, lm, gray)[None])
    out: dict[str, dict[str, list[np.ndarray]]] = {"train": {k: [] for k in missing}, "test": {k: [] for k in missing}}
    n_total = len(bundle.train) + len(bundle.test)
    bar = tqdm(total=n_total, desc=f"features {lm.name} {','.join(missing)}", unit="img", disable=quiet or None)
    t0 = time.perf_counter()
    with torch.inference_mode(), inf.autocast():
        for split, images in (("train", bundle.train), ("test", bundle.test)):
            load = (lambda j, images=images: prepare_image(images, j, lm, gray, pixels))
            for b, x in enumerate(decoded_batches(len(images), load, bs, inf.workers)):  # x: (B, C, H, W)
                x = inf.inputs(x if pixels is None else pixels.normalize(x.to(inf.device)))
                feats = extractor(x)                                      # layer -> (B, C, H, W) or (B, D)
                if split == "train" and b == 0:
                    for f in feats.values():
                        check_finite_output(f.float(), lm.name, lm.weights)
                for layer in missing:
                    out[split][layer].append(_pool(feats[layer].float(), pool).cpu().numpy())
                bar.update(len(x))
    bar.close()
    dt = time.perf_counter() - t0
    for layer in missing:
        tr[layer], te[layer] = np.concatenate(out["train"][layer]), np.concatenate(out["test"][layer])
        if use_cache:
            buf = io.BytesIO()
            np.savez(buf, meta=np.array([dt, n_total / dt]), train=tr[layer], test=te[layer])
            atomic_write_bytes(_cache_path(keys[layer]), buf.getvalue())
    ordered = (lambda d: {k: d[k] for k in layers})
    return Features(ordered(tr), ordered(te), dt, n_total / dt, False, keys, missing)


def layer_output_shapes(lm: LoadedModel, layers: Sequence[str]) -> dict[str, tuple[int, ...]]:
    """Output shape (without batch) of each named layer for one input of the model's size."""
    nodes = resolve_layers(lm, layers)
    ex = create_feature_extractor(lm.model, return_nodes={v: k for k, v in nodes.items()}).eval()
    ch = lm.in_channels
    with torch.no_grad():
        out = ex(torch.zeros(1, ch, lm.input_size, lm.input_size))
    return {k: tuple(v.shape[1:]) for k, v in out.items()}
