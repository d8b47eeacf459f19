"""``dlapps transfer ...`` commands: inspect, layers, predict, activations, probe. Every option is a field of
the command's Config (dlapps.runner.options); models, images and layers of a single image are arguments."""

from __future__ import annotations

from typing import Any

import click

from dlapps.runner.cli_options import finish, run_options
from dlapps.runner.options import WEIGHTS_HELP, cli_options, to_config
from dlapps.runner.runs import RunOptions
from dlapps.transfer.config import ActivationsConfig, InspectConfig, PredictConfig, ProbeConfig
from dlapps.transfer.probe import run_probe


@click.group()
def transfer() -> None:
    """Transfer learning: inspect pretrained CNNs, extract features, train linear SVMs on them."""


@transfer.command()
@click.argument("model")
@cli_options(InspectConfig)
@run_options
def inspect(opts: RunOptions, **kw: Any) -> None:
    """Per-layer table: output shape, parameters, cumulative parameters, share; the total."""
    from dlapps.transfer.inspect import run_inspect  # torchvision: only when the command runs, not for --help

    r = run_inspect(to_config(InspectConfig, kw), opts)
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
    from dlapps.core.models import LAYER_ALIASES, build_model  # torchvision: only when the command runs, not for --help
    from dlapps.transfer.features import graph_nodes  # torchvision: only when the command runs, not for --help

    lm = build_model(model, weights, verbose=False)
    for a, n in LAYER_ALIASES.get(lm.name, {}).items():
        click.echo(f"{a:<10} -> {n}")
    click.echo(" ".join(graph_nodes(lm)))


@transfer.command()
@click.argument("model")
@click.argument("images", nargs=-1, required=True)
@cli_options(PredictConfig)
@run_options
def predict(opts: RunOptions, **kw: Any) -> None:
    """Top-k ImageNet classes for image files (any format, mode and size)."""
    from dlapps.transfer.predict import run_predict  # torchvision: only when the command runs, not for --help

    r = run_predict(to_config(PredictConfig, kw), opts)
    for p in r.metrics["predictions"]:
        click.echo(f"{p['image']}: " + ", ".join(f"{t['name']} {t['prob']:.3f}" for t in p["top"]))
    finish(r)


@transfer.command()
@click.argument("model")
@click.argument("image")
@cli_options(ActivationsConfig)
@run_options
def activations(opts: RunOptions, **kw: Any) -> None:
    """Grid of feature maps of one image at one or more layers."""
    from dlapps.transfer.predict import run_activations  # torchvision: only when the command runs, not for --help

    finish(run_activations(to_config(ActivationsConfig, kw), opts))


@transfer.command()
@cli_options(ProbeConfig)
@run_options
def probe(opts: RunOptions, **kw: Any) -> None:
    """Features at named layers -> linear SVM with C chosen by cross-validation (Tables 2-3, Figure 7)."""
    finish(run_probe(to_config(ProbeConfig, kw), opts))
