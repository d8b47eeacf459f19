"""``dlapps generate ...`` commands: dcgan, cgan, sample."""

from __future__ import annotations

from typing import Any

import click

from dlapps.choices import choices
from dlapps.cli_options import compute_options, data_source_option, finish, run_options
from dlapps.generate import GanConfig, evaluate_run, run_gan, sample as sample_fn
from dlapps.runs import RunOptions

C = GanConfig()


@click.group()
def generate() -> None:
    """Generative adversarial networks: DCGAN and conditional GAN on MNIST and CIFAR-10."""


def gan_options(f: Any) -> Any:
    for opt in reversed([
        click.option("--data", default=C.data, help="mnist or cifar10 (any registry name of small images)."),
        data_source_option,
        click.option("--nz", type=int, default=C.nz, help="Latent size."),
        click.option("--ngf", type=int, default=C.ngf, help="Generator width."),
        click.option("--ndf", type=int, default=C.ndf, help="Discriminator width."),
        click.option("--epochs", type=int, default=C.epochs),
        click.option("--batch-size", type=int, default=C.batch_size),
        click.option("--lr", type=float, default=C.lr),
        click.option("--beta1", type=float, default=C.beta1),
        click.option("--init", type=click.Choice(choices(GanConfig, "init")), default=C.init,
                     help="dcgan: N(0,0.02) convs, N(1,0.02) batch-norm; default: PyTorch's."),
        click.option("--limit", type=int, default=0, help="Use the first N training images (0 = all)."),
        click.option("--eval-samples", type=int, default=C.eval_samples, help="Samples for the metrics (0 = skip)."),
        click.option("--precision", type=click.Choice(choices(GanConfig, "precision")), default=C.precision, show_default=True,
                     help="bf16: bfloat16 autocast in the training step (faster on CPUs with AMX/AVX512-BF16)."),
        run_options,
    ]):
        f = opt(f)
    return f


@generate.command()
@gan_options
def dcgan(opts: RunOptions, **kw: Any) -> None:
    """Train a DCGAN."""
    finish(run_gan(GanConfig(**kw), opts))


@generate.command()
@gan_options
@click.option("--label-in-d/--no-label-in-d", default=True, help="Give the label to the discriminator too.")
@click.option("--d-label", type=click.Choice(choices(GanConfig, "d_label")), default=GanConfig.d_label, show_default=True,
              help="How D sees the label: one-hot input maps (the lab), or also a class-specific last layer.")
@click.option("--g-label", type=click.Choice(choices(GanConfig, "g_label")), default=GanConfig.g_label, show_default=True,
              help="How G sees the label: one-hot next to z (the lab), or also class-specific batch-norm gain/shift.")
def cgan(opts: RunOptions, **kw: Any) -> None:
    """Train a conditional GAN (label given to G, and to D unless --no-label-in-d)."""
    finish(run_gan(GanConfig(conditional=True, **kw), opts))


@generate.command()
@click.argument("run_dir", type=click.Path(exists=True, file_okay=False))
@click.option("--n", type=int, default=100, help="Number of samples.")
@click.option("--seed", type=int, default=0)
@click.option("--label", type=int, default=None, help="cGAN only: the class to draw.")
@compute_options
def sample(run_dir: str, n: int, seed: int, label: int | None, device: Any, quiet: bool) -> None:
    """Write new samples from a saved generator (RUN_DIR/samples/*.png and .npz)."""
    click.echo(f"wrote {sample_fn(run_dir, n, seed, label, device)}")


@generate.command()
@click.argument("run_dir", type=click.Path(exists=True, file_okay=False))
@click.option("--eval-samples", type=int, default=10000, show_default=True)
@click.option("--seed", type=int, default=0)
@compute_options
def evaluate(run_dir: str, eval_samples: int, seed: int, device: Any, quiet: bool) -> None:
    """Recompute a saved generator's quality metrics and rebuild its report."""
    m = evaluate_run(run_dir, eval_samples, seed, quiet=quiet, device=device)
    click.echo(f"class coverage {m['class_coverage']}, KL {m['class_kl']:.4f}, classifier-FID "
               f"{m['classifier_fid']:.3f} (floor {m['classifier_fid_floor']:.3f})"
               + (f", conditional accuracy {m['conditional_accuracy']:.4f}" if "conditional_accuracy" in m else ""))
