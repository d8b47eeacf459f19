"""Top-k ImageNet predictions and activation-map grids for image files, as runs
(``run_predict``, ``run_activations``: config -> run dir -> report, like every other command)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import torch
from torchvision.models.feature_extraction import create_feature_extractor

from dlapps import DlappsError
from dlapps.core.images import decode_side, expand_image_args, open_image
from dlapps.core.inference import Inference, decoded_batches, fuse_for_inference, split_preprocess
from dlapps.core.models import LoadedModel, build_model, check_finite_output, resolve_layer
from dlapps.runner.results import RunResult
from dlapps.transfer.config import ActivationsConfig, PredictConfig
from dlapps.runner.runs import RunOptions, start_run
from dlapps.transfer.features import graph_nodes
from dlapps.transfer.report import write_predict_outputs, write_activations_outputs


def topk(lm: LoadedModel, paths: Sequence[str | Path], k: int = 5, gray: str = "replicate",
         inference: Inference | None = None, batch_size: int = 0) -> list[dict[str, Any]]:
    """For each image: the top-k classes (index, name, probability), using the weights' preprocessing.
    Images are decoded beside the network and classified in batches (``inference``: device, precision)."""
    inf = inference or Inference()
    k = min(k, len(lm.class_names))
    net = inf.compile(fuse_for_inference(lm.model), lambda: lm.preprocess(open_image(Path(paths[0]), gray=gray))[None])
    side, split = decode_side(lm.preprocess), split_preprocess(lm.preprocess)

    def load(i: int) -> torch.Tensor:  # (C, H, W): uint8 when the pipeline splits, else the model's input
        img = open_image(Path(paths[i]), gray=gray, min_side=side, keep_gray=split is not None and gray == "replicate")
        return split.to_uint8(img) if split is not None else lm.preprocess(img)

    probs = []
    with torch.inference_mode(), inf.autocast():
        for x in decoded_batches(len(paths), load, inf.batch_size(lm.name, batch_size), inf.workers):
            x = inf.inputs(x if split is None else split.normalize(x.to(inf.device)))
            logits = check_finite_output(net(x).float(), lm.name, lm.weights)  # (B, classes)
            probs.append(torch.softmax(logits, 1).cpu())
    out = []
    for p, prob in zip(paths, torch.cat(probs)):
        v, i = prob.topk(k)
        out.append({"image": str(p), "size": _displayed_size(Path(p)),
                    "top": [{"index": int(j), "name": lm.class_names[int(j)], "prob": float(q)} for q, j in zip(v, i)]})
    return out


def _displayed_size(path: Path) -> list[int]:
    """(width, height) as the image is shown, from its header alone (EXIF rotations swap the sides):
    the pixels were already decoded, possibly at reduced scale, for the network."""
    from PIL import Image

    with Image.open(path) as im:
        w, h = im.size
        rotated = im.getexif().get(0x0112, 1) in (5, 6, 7, 8)  # EXIF Orientation: transposed or 90° turns
    return [h, w] if rotated else [w, h]


@torch.no_grad()
def activation_maps(lm: LoadedModel, path: str | Path, layers: Sequence[str], channels: int = 16,
                    gray: str = "replicate", device: torch.device = torch.device("cpu")) -> dict[str, torch.Tensor]:
    """The first ``channels`` feature maps (C, H, W) of each layer for one image (on the CPU)."""
    nodes = {layer: resolve_layer(lm.name, layer, graph_nodes(lm)) for layer in layers}
    ex = create_feature_extractor(lm.model, return_nodes={v: k for k, v in nodes.items()}).eval().to(device)
    x = lm.preprocess(open_image(Path(path), gray=gray))[None].to(device)
    feats = ex(x)
    return {layer: feats[layer][0, :channels].cpu() for layer in layers if feats[layer].ndim == 4}


def run_predict(cfg: PredictConfig, opts: RunOptions | None = None) -> RunResult:
    """Top-k ImageNet classes for image files (any format, mode and size): table, figure, report."""
    opts = opts or RunOptions()
    cfg.images = expand_image_args(cfg.images)  # check every input before creating anything; folders -> files
    if not cfg.images:
        raise DlappsError("give at least one image file or folder")
    run, device = start_run("transfer", "predict", cfg, opts)
    inference = Inference(device=device, precision=cfg.precision)
    run.update_config(inference=inference.describe())
    lm = build_model(cfg.model, cfg.weights)
    preds = topk(lm, cfg.images, cfg.top, cfg.gray, inference, cfg.batch_size)
    return RunResult(run.path, write_predict_outputs(run, cfg, lm, preds))


def run_activations(cfg: ActivationsConfig, opts: RunOptions | None = None) -> RunResult:
    """A grid of feature maps of one image at one or more layers."""
    opts = opts or RunOptions()
    img = open_image(Path(cfg.image), gray=cfg.gray)
    lm = build_model(cfg.model, cfg.weights)
    graph_layers = [resolve_layer(lm.name, layer, graph_nodes(lm)) for layer in cfg.layers]  # bad name: no run dir
    if not graph_layers:
        raise DlappsError("give at least one --layer")
    run, device = start_run("transfer", "activations", cfg, opts)
    maps = activation_maps(lm, cfg.image, cfg.layers, cfg.channels, cfg.gray, device)
    if not maps:
        raise DlappsError("none of the given layers has spatial feature maps (choose conv layers)")
    return RunResult(run.path, write_activations_outputs(run, cfg, maps, img))
