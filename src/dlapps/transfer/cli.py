"""``dlapps transfer ...`` commands: inspect, layers, predict, activations, probe."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from dlapps import DlappsError
from dlapps.cli import data_source_option, finish, run_options
from dlapps.images import GRAY_MODES
from dlapps.report import build_report
from dlapps.runs import RunOptions, start_run
from dlapps.transfer.probe import CLASSIFIERS, ProbeConfig, run_probe

WEIGHTS_HELP = "imagenet (torchvision / $DLAPPS_WEIGHTS), random, or a state_dict path."


def _csv(values: str, kind: type = str) -> list:
    try:
        return [kind(v.strip()) for v in values.split(",") if v.strip()]
    except ValueError:
        raise DlappsError(f"cannot parse {values!r} as a comma-separated list of {kind.__name__}") from None


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
    from dlapps.models import build_model
    from dlapps.transfer.inspect import inspect_model, model_flops

    run, _ = start_run("transfer", "inspect", {"model": model, "weights": weights, "input_size": input_size}, opts,
                       devices=("cpu",))
    lm = build_model(model, weights)
    size = input_size or lm.input_size
    ch = 1 if lm.name == "mnist_cnn" else 3
    rows, total = inspect_model(lm.model, size, ch)
    flops = model_flops(lm.model, size, ch)
    table = [[r.name, r.kind, "x".join(map(str, r.output_shape)), r.params, r.cumulative, f"{100 * r.share:.2f}%"]
             for r in rows]
    run.write_table("layers", ["layer", "type", "output", "params", "cumulative", "share"], table,
                    caption=f"{model}: {size}x{size} input, {total:,} parameters, {flops / 1e9:.2f} GFLOPs")
    run.write_metrics({"model": model, "total_params": total, "flops": flops, "input_size": size,
                       "layers": len(rows)})
    run.write_text("summary.md", f"**{model}**: {total:,} parameters, {flops / 1e9:.3f} GFLOPs per "
                                 f"{size}x{size} image, {len(rows)} layers.\n")
    build_report([run.path], title=f"transfer inspect {model}")
    if not opts.quiet:
        w = max(len(r.name) for r in rows)
        for r in table:
            click.echo(f"{r[0]:<{w}}  {r[1]:<18} {r[2]:>14} {r[3]:>12,} {r[4]:>13,} {r[5]:>8}")
    click.echo(f"total parameters: {total:,}  ({flops / 1e9:.2f} GFLOPs per image)")


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
@click.option("--gray", type=click.Choice(GRAY_MODES), default="replicate", show_default=True)
@run_options
def predict(model: str, images: tuple[str, ...], weights: str, top: int, gray: str, opts: RunOptions) -> None:
    """Top-k ImageNet classes for image files (any format, mode and size)."""
    from dlapps.models import build_model
    from dlapps.transfer.predict import predictions_figure, topk

    from dlapps.images import expand_image_args

    images = tuple(expand_image_args(images))  # check every input before creating anything; folders -> files
    run, _ = start_run("transfer", "predict", {"model": model, "weights": weights, "images": list(images),
                                               "top": top, "gray": gray}, opts, devices=("cpu",))
    lm = build_model(model, weights)
    preds = topk(lm, images, top, gray)
    run.write_metrics({"predictions": preds, "weights": lm.weights})
    run.write_table("predictions", ["image", "rank", "class", "index", "probability"],
                    [[Path(p["image"]).name, k + 1, t["name"], t["index"], t["prob"]]
                     for p in preds for k, t in enumerate(p["top"])], caption=f"Top-{top} predictions, {model}")
    run.save_figure(predictions_figure(lm, preds, gray), "predictions")
    build_report([run.path], title=f"transfer predict {model}")
    for p in preds:
        click.echo(f"{p['image']}: " + ", ".join(f"{t['name']} {t['prob']:.3f}" for t in p["top"]))
    click.echo(f"done: {run.path}/report.html")


@transfer.command()
@click.argument("model")
@click.argument("image")
@click.option("--layer", "layer_names", multiple=True, required=True, help="Repeatable: alias or graph node.")
@click.option("--weights", default="imagenet", show_default=True, help=WEIGHTS_HELP)
@click.option("--channels", type=int, default=16, show_default=True, help="First N channels per layer.")
@click.option("--gray", type=click.Choice(GRAY_MODES), default="replicate", show_default=True)
@run_options
def activations(model: str, image: str, layer_names: tuple[str, ...], weights: str, channels: int, gray: str,
                opts: RunOptions) -> None:
    """Grid of feature maps of one image at one or more layers."""
    from dlapps.images import open_image
    from dlapps.models import build_model
    from dlapps.transfer.predict import activation_maps, activations_figure

    img = open_image(Path(image), gray=gray)
    lm = build_model(model, weights)
    maps = activation_maps(lm, image, layer_names, channels, gray)
    if not maps:
        raise DlappsError("none of the given layers has spatial feature maps (choose conv layers)")
    run, _ = start_run("transfer", "activations", {"model": model, "weights": weights, "image": image,
                                                   "layers": list(layer_names), "channels": channels}, opts,
                       devices=("cpu",))
    run.save_figure(activations_figure(maps, img, f"{model} activations"), "activations")
    run.write_metrics({"layers": {k: {"shape": list(v.shape), "mean": float(v.mean()), "max": float(v.max())}
                                  for k, v in maps.items()}})
    build_report([run.path], title=f"transfer activations {model}")
    click.echo(f"done: {run.path}/report.html")


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
@click.option("--pool", type=click.Choice(["avg", "max", "none"]), default=P.pool, show_default=True)
@click.option("--gray", type=click.Choice(GRAY_MODES), default=P.gray, show_default=True)
@click.option("--classifier", type=click.Choice(CLASSIFIERS), default=P.classifier, show_default=True)
@click.option("--c-grid", default=",".join(map(str, P.c_grid)), show_default=True)
@click.option("--folds", type=int, default=P.folds, show_default=True)
@click.option("--jobs", type=int, default=P.jobs, show_default=True, help="Parallel grid-search jobs.")
@click.option("--batch-size", type=int, default=P.batch_size, show_default=True)
@click.option("--per-class", type=int, default=0, show_default=True, help="At most N images per class per split.")
@click.option("--no-cache", is_flag=True, help="Do not read or write the feature cache.")
@run_options
def probe(models: tuple[str, ...], layers: tuple[str, ...], c_grid: str, no_cache: bool, opts: RunOptions,
          **kw: Any) -> None:
    """Features at named layers -> linear SVM with C chosen by cross-validation (Tables 2-3, Figure 7)."""
    cfg = ProbeConfig(models=list(models), layers=list(layers), c_grid=_csv(c_grid, float), cache=not no_cache, **kw)
    finish(run_probe(cfg, opts))
