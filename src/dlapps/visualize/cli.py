"""``dlapps visualize ...`` commands: saliency, saliency-eval, fool, classviz."""

from __future__ import annotations

from typing import Any

import click

from dlapps.choices import choices
from dlapps.cli_options import csv_list, data_source_option, finish, run_options
from dlapps.runs import RunOptions
from dlapps.visualize.run import (ClassVizConfig, FoolConfig, SaliencyConfig, SaliencyEvalConfig, run_classviz,
                                  run_fool, run_saliency, run_saliency_eval)
from dlapps.visualize.saliency import METHODS

WEIGHTS_HELP = "imagenet (torchvision / $DLAPPS_WEIGHTS), random, dlapps (mnist_cnn), or a state_dict path."


@click.group()
def visualize() -> None:
    """Look inside a classifier: saliency maps, fooling images, class visualization."""


def image_options(f: Any) -> Any:
    for opt in reversed([
        click.argument("model"),
        click.argument("images", nargs=-1),
        click.option("--weights", default="imagenet", show_default=True, help=WEIGHTS_HELP),
        click.option("--data", default="", help="Instead of files: a dataset (imagenet-samples, mnist, photos)."),
        click.option("--n", type=int, default=0, show_default=True, help="Images from --data (0 = all)."),
        data_source_option,
        run_options,
    ]):
        f = opt(f)
    return f


@visualize.command()
@image_options
@click.option("--target", default=None, help="Class name or index [default: the predicted class].")
@click.option("--method", "methods", multiple=True, type=click.Choice(list(METHODS)), default=tuple(METHODS),
              show_default=True, help="Repeatable.")
def saliency(images: tuple[str, ...], methods: tuple[str, ...], opts: RunOptions, **kw: Any) -> None:
    """Saliency maps (gradient, SmoothGrad, Integrated Gradients, Grad-CAM): image | map | overlay."""
    finish(run_saliency(SaliencyConfig(images=list(images), methods=list(methods), **kw), opts))


@visualize.command("saliency-eval")
@image_options
@click.option("--target", default=None, help="Class name or index [default: the predicted class].")
@click.option("--method", "methods", multiple=True, type=click.Choice(list(METHODS)), default=tuple(METHODS),
              show_default=True)
@click.option("--steps", type=int, default=32, show_default=True, help="Deletion/insertion curve points.")
@click.option("--randomize", default="1,2,4,8", show_default=True, help="Top layers re-initialised (cascade).")
@click.option("--fill", type=click.Choice(choices(SaliencyEvalConfig, "fill")), default=SaliencyEvalConfig.fill, show_default=True,
              help="What deleted pixels become (black: Petsiuk et al.'s original).")
def saliency_eval(images: tuple[str, ...], methods: tuple[str, ...], randomize: str, opts: RunOptions,
                  **kw: Any) -> None:
    """Deletion/insertion AUC vs a random map, and the model-randomisation sanity check."""

    finish(run_saliency_eval(SaliencyEvalConfig(images=list(images), methods=list(methods),
                                                randomize=csv_list(randomize, int), **kw), opts))


F = FoolConfig()


@visualize.command()
@image_options
@click.option("--target", required=True, help="Class name or index, or 'random' (seeded, per image).")
@click.option("--method", type=click.Choice(choices(FoolConfig, "method")), default=F.method, show_default=True,
              help="gradient: the lab's normalised ascent; pgd: PGD-L∞ within --eps.")
@click.option("--lr", type=float, default=F.lr, show_default=True, help="gradient: L2 step in [0,1] pixel units.")
@click.option("--max-iters", type=int, default=F.max_iters, show_default=True)
@click.option("--eps", type=float, default=F.eps, show_default=True, help="pgd: L∞ budget in 0-255 units.")
@click.option("--alpha", type=float, default=F.alpha, show_default=True, help="pgd: step in 0-255 units (0 = eps/8).")
def fool(images: tuple[str, ...], opts: RunOptions, **kw: Any) -> None:
    """Targeted adversarial images: original | adversarial | difference x10, with norms."""
    finish(run_fool(FoolConfig(images=list(images), **kw), opts))


C = ClassVizConfig()


@visualize.command()
@click.argument("model")
@click.option("--target", "targets", multiple=True, required=True, help="Class name or index; repeatable.")
@click.option("--weights", default="imagenet", show_default=True, help=WEIGHTS_HELP)
@click.option("--init", default=C.init, show_default=True, help="noise, or an image file to start from.")
@click.option("--iters", type=int, default=C.iters, show_default=True)
@click.option("--lr", type=float, default=C.lr, show_default=True, help="Mean step per pixel ([0,1] units).")
@click.option("--l2", type=float, default=C.l2, show_default=True, help="L2 regularisation weight.")
@click.option("--jitter", type=int, default=C.jitter, show_default=True, help="Max random shift in pixels.")
@click.option("--blur-every", type=int, default=C.blur_every, show_default=True, help="0 = never blur.")
@click.option("--blur-sigma", type=float, default=C.blur_sigma, show_default=True)
@click.option("--frame-every", type=int, default=C.frame_every, show_default=True)
@run_options
def classviz(targets: tuple[str, ...], opts: RunOptions, **kw: Any) -> None:
    """Class visualization by gradient ascent with L2, jitter and blur."""
    finish(run_classviz(ClassVizConfig(targets=list(targets), **kw), opts))
