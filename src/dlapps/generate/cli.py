"""``dlapps generate ...`` commands: dcgan, cgan, sample."""

from __future__ import annotations

from typing import Any

import click

from dlapps.runner.cli_options import compute_options, finish, run_options
from dlapps.runner.options import cli_options, to_config
from dlapps.generate import GanConfig, evaluate_run, run_gan, sample as sample_fn
from dlapps.runner.runs import RunOptions

@click.group()
def generate() -> None:
    """Generative adversarial networks: DCGAN and conditional GAN on MNIST and CIFAR-10."""


CGAN_ONLY = ("label_in_d", "d_label", "g_label")


@generate.command()
@cli_options(GanConfig, exclude=CGAN_ONLY)
@run_options
def dcgan(opts: RunOptions, **kw: Any) -> None:
    """Train a DCGAN."""
    finish(run_gan(to_config(GanConfig, kw), opts))


@generate.command()
@cli_options(GanConfig)
@run_options
def cgan(opts: RunOptions, **kw: Any) -> None:
    """Train a conditional GAN (label given to G, and to D unless --no-label-in-d)."""
    finish(run_gan(to_config(GanConfig, kw, conditional=True), opts))


@generate.command()
@click.argument("run_dir", type=click.Path(exists=True, file_okay=False))
@click.option("--n", type=click.IntRange(1), default=100, show_default=True, help="Number of samples.")
@click.option("--seed", type=click.IntRange(0), default=0, show_default=True)
@click.option("--label", type=click.IntRange(0), default=None, help="cGAN only: the class to draw.")
@compute_options
def sample(run_dir: str, n: int, seed: int, label: int | None, device: Any, quiet: bool) -> None:
    """Write new samples from a saved generator (RUN_DIR/samples/*.png and .npz)."""
    click.echo(f"wrote {sample_fn(run_dir, n, seed, label, device)}")


@generate.command()
@click.argument("run_dir", type=click.Path(exists=True, file_okay=False))
@click.option("--eval-samples", type=click.IntRange(1), default=10000, show_default=True)
@click.option("--seed", type=click.IntRange(0), default=None,
              help="Seed of the samples (default: the run's own, which reproduces the numbers its training wrote).")
@compute_options
def evaluate(run_dir: str, eval_samples: int, seed: int | None, device: Any, quiet: bool) -> None:
    """Recompute a saved generator's quality metrics and rebuild its report."""
    m = evaluate_run(run_dir, eval_samples, seed, quiet=quiet, device=device)
    click.echo(f"class coverage {m['class_coverage']}, KL {m['class_kl']:.4f}, classifier-FID "
               f"{m['classifier_fid']:.3f} (floor {m['classifier_fid_floor']:.3f})"
               + (f", conditional accuracy {m['conditional_accuracy']:.4f}" if "conditional_accuracy" in m else "")
               + (f", speck rate {m['speck_rate']:.4f} (real {m['speck_rate_real']:.4f})" if "speck_rate" in m else ""))
