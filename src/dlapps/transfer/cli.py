"""``dlapps transfer ...`` commands: inspect, layers, predict, activations, probe."""

from __future__ import annotations

from typing import Any

import click

from dlapps.cli_options import csv_list, data_source_option, finish, run_options
from dlapps.choices import choices
from dlapps.runs import RunOptions
from dlapps.transfer.predict import ActivationsConfig, PredictConfig
from dlapps.transfer.probe import ProbeConfig, run_probe

WEIGHTS_HELP = "imagenet (torchvision / $DLAPPS_WEIGHTS), random, or a state_dict path."


@click.group()
def transfer() -> None:
    """Transfer learning: inspect pretrained CNNs, extract features, train linear SVMs on them."""


@transfer.command()
@click.argument("model")
@click.option("--weights", default="random", show_default=True, help=WEIGHTS_HELP + " (counts need none)")
@click.option("--input-size", type=int, default=None, help="Input side in pixels [default: the model's].")
@run_options
def inspect(model: str, weights: str, input_size: int | None, opts: RunOptions) -> None:
    """Per-layer table: output shape, parameters, cumulative parameters, share; the total."""
    from dlapps.transfer.inspect import InspectConfig, run_inspect

    r = run_inspect(InspectConfig(model=model, weights=weights, input_size=input_size), opts)
    if not opts.quiet:
        rows = r.metrics["rows"]
        w = max(len(row[0]) for row in rows)
        for row in rows:
            click.echo(f"{row[0]:<{w}}  {row[1]:<18} {row[2]:>14} {row[3]:>12,} {row[4]:>13,} {row[5]:>8}")
    click.echo(f"total parameters: {r.metrics['total_params']:,}  ({r.metrics['flops'] / 1e9:.2f} GFLOPs per image)")


@transfer.command()
@click.argument("model")
@click.option("--weights", default="random", show_default=True, help=WEIGHTS_HELP)
def layers(model: str, weights: str) -> None:
    """List the layer aliases and every graph node usable as --layer."""
    from dlapps.models import LAYER_ALIASES, build_model
    from dlapps.transfer.features import graph_nodes

    lm = build_model(model, weights, verbose=False)
    for a, n in LAYER_ALIASES.get(lm.name, {}).items():
        click.echo(f"{a:<10} -> {n}")
    click.echo(" ".join(graph_nodes(lm)))


@transfer.command()
@click.argument("model")
@click.argument("images", nargs=-1, required=True)
@click.option("--weights", default="imagenet", show_default=True, help=WEIGHTS_HELP)
@click.option("--top", type=int, default=5, show_default=True)
@click.option("--gray", type=click.Choice(choices(PredictConfig, "gray")), default=PredictConfig.gray, show_default=True)
@click.option("--precision", type=click.Choice(choices(PredictConfig, "precision")), default=PredictConfig.precision,
              show_default=True)
@click.option("--batch-size", type=int, default=0, show_default=True, help="0 = chosen per model and device.")
@run_options
def predict(model: str, images: tuple[str, ...], opts: RunOptions, **kw: Any) -> None:
    """Top-k ImageNet classes for image files (any format, mode and size)."""
    from dlapps.transfer.predict import PredictConfig, run_predict

    r = run_predict(PredictConfig(model=model, images=list(images), **kw), opts)
    for p in r.metrics["predictions"]:
        click.echo(f"{p['image']}: " + ", ".join(f"{t['name']} {t['prob']:.3f}" for t in p["top"]))
    finish(r)


@transfer.command()
@click.argument("model")
@click.argument("image")
@click.option("--layer", "layer_names", multiple=True, required=True, help="Repeatable: alias or graph node.")
@click.option("--weights", default="imagenet", show_default=True, help=WEIGHTS_HELP)
@click.option("--channels", type=int, default=16, show_default=True, help="First N channels per layer.")
@click.option("--gray", type=click.Choice(choices(ActivationsConfig, "gray")), default=ActivationsConfig.gray,
              show_default=True)
@run_options
def activations(model: str, image: str, layer_names: tuple[str, ...], opts: RunOptions, **kw: Any) -> None:
    """Grid of feature maps of one image at one or more layers."""
    from dlapps.transfer.predict import ActivationsConfig, run_activations

    finish(run_activations(ActivationsConfig(model=model, image=image, layers=list(layer_names), **kw), opts))


P = ProbeConfig()


@transfer.command()
@click.option("--model", "models", multiple=True, default=tuple(P.models), show_default=True,
              help="Repeatable: NAME or NAME:WEIGHTS (e.g. mobilenet_v2:imagenet, vgg16:random).")
@click.option("--weights", default=P.weights, show_default=True, help=WEIGHTS_HELP)
@click.option("--layer", "layers", multiple=True, default=tuple(P.layers), show_default=True,
              help="Repeatable: alias (relu1..relu7 for VGG16/AlexNet), graph node (see `transfer layers`), or "
                   "penultimate (what the last linear layer reads, for any model).")
@click.option("--data", default=P.data, show_default=True, help="scene15, digits, or an image folder / .npz.")
@data_source_option
@click.option("--pool", type=click.Choice(choices(ProbeConfig, "pool")), default=P.pool, show_default=True)
@click.option("--gray", type=click.Choice(choices(ProbeConfig, "gray")), default=P.gray, show_default=True)
@click.option("--classifier", type=click.Choice(choices(ProbeConfig, "classifier")), default=P.classifier, show_default=True)
@click.option("--c-grid", default=",".join(map(str, P.c_grid)), show_default=True)
@click.option("--folds", type=int, default=P.folds, show_default=True)
@click.option("--jobs", type=int, default=P.jobs, show_default=True, help="Parallel grid-search jobs.")
@click.option("--batch-size", type=int, default=P.batch_size, show_default=True, help="0 = chosen per model.")
@click.option("--precision", type=click.Choice(choices(ProbeConfig, "precision")), default=P.precision, show_default=True,
              help="bf16: autocast, faster on CPUs with AVX-512 BF16/AMX and on GPUs; features differ slightly.")
@click.option("--engine", type=click.Choice(choices(ProbeConfig, "engine")), default=P.engine, show_default=True,
              help="onnxruntime: the same network in ONNX Runtime (CPU, float32; pip install 'dlapps[onnx]').")
@click.option("--per-class", type=int, default=0, show_default=True, help="At most N images per class per split.")
@click.option("--train-per-class", type=int, default=0, show_default=True,
              help="N labelled training images per class, the whole test split (the few-label regime).")
@click.option("--no-cache", is_flag=True, help="Do not read or write the feature cache.")
@run_options
def probe(models: tuple[str, ...], layers: tuple[str, ...], c_grid: str, no_cache: bool, opts: RunOptions,
          **kw: Any) -> None:
    """Features at named layers -> linear SVM with C chosen by cross-validation (Tables 2-3, Figure 7)."""
    cfg = ProbeConfig(models=list(models), layers=list(layers), c_grid=csv_list(c_grid, float), cache=not no_cache, **kw)
    finish(run_probe(cfg, opts))
