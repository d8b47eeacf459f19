"""``dlapps visualize ...`` commands: saliency, saliency-eval, fool, classviz. Every option is a field of the
command's Config (dlapps.visualize.config); the model and image files are arguments."""

from __future__ import annotations

from typing import Any

import click

from dlapps.runner.cli_options import finish, run_options
from dlapps.runner.options import cli_options, to_config
from dlapps.runner.runs import RunOptions
from dlapps.visualize.run import (ClassVizConfig, FoolConfig, SaliencyConfig, SaliencyEvalConfig, run_classviz,
                                  run_fool, run_saliency, run_saliency_eval)


@click.group()
def visualize() -> None:
    """Look inside a classifier: saliency maps, fooling images, class visualization."""


def on_images(cls: type) -> Any:
    """MODEL and IMAGES arguments, then the Config's options and the run options."""
    def decorate(f: Any) -> Any:
        for d in reversed([click.argument("model"), click.argument("images", nargs=-1), cli_options(cls), run_options]):
            f = d(f)
        return f
    return decorate


@visualize.command()
@on_images(SaliencyConfig)
def saliency(opts: RunOptions, **kw: Any) -> None:
    """Saliency maps (gradient, SmoothGrad, Integrated Gradients, Grad-CAM): image | map | overlay."""
    finish(run_saliency(to_config(SaliencyConfig, kw), opts))


@visualize.command("saliency-eval")
@on_images(SaliencyEvalConfig)
def saliency_eval(opts: RunOptions, **kw: Any) -> None:
    """Deletion/insertion AUC vs a random map, and the model-randomisation sanity check."""
    finish(run_saliency_eval(to_config(SaliencyEvalConfig, kw), opts))


@visualize.command()
@on_images(FoolConfig)
def fool(opts: RunOptions, **kw: Any) -> None:
    """Targeted adversarial images: original | adversarial | difference x10, with norms."""
    finish(run_fool(to_config(FoolConfig, kw), opts))


@visualize.command()
@click.argument("model")
@cli_options(ClassVizConfig)
@run_options
def classviz(opts: RunOptions, **kw: Any) -> None:
    """Class visualization by gradient ascent with L2, jitter and blur."""
    finish(run_classviz(to_config(ClassVizConfig, kw), opts))
