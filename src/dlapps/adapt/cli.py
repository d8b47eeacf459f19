"""``dlapps adapt ...`` commands: source-only, dann, pseudo-label."""

from __future__ import annotations

from typing import Any

import click

from dlapps.adapt.dann import DannConfig, run_dann
from dlapps.adapt.pseudo_label import PseudoLabelConfig, run_pseudo_label
from dlapps.adapt.validators import HIGHER_IS_BETTER
from dlapps.choices import choices
from dlapps.cli_options import data_source_option, finish, run_options
from dlapps.runs import RunOptions

D = DannConfig()


@click.group()
def adapt() -> None:
    """Domain adaptation: DANN with a gradient reversal layer vs source-only, MNIST -> MNIST-M."""


def common_train_options(f: Any) -> Any:
    for opt in reversed([
        click.option("--source", default=D.source, help="Source dataset (labels used)."),
        click.option("--target", default=D.target, help="Target dataset (labels for evaluation only)."),
        data_source_option,
        click.option("--epochs", type=int, default=D.epochs),
        click.option("--batch-size", type=int, default=D.batch_size, help="Per step; half source, half target."),
        click.option("--optimizer", type=click.Choice(choices(DannConfig, "optimizer")), default=D.optimizer),
        click.option("--lr", type=float, default=D.lr, help="μ0 of μ0/(1+αp)^β."),
        click.option("--lr-step", type=click.Choice(choices(DannConfig, "lr_step")), default=D.lr_step),
        click.option("--normalize", type=click.Choice(choices(DannConfig, "normalize")), default=D.normalize),
        click.option("--domain-loss", type=click.Choice(choices(DannConfig, "domain_loss")), default=D.domain_loss),
        click.option("--domain-reduction", type=click.Choice(choices(DannConfig, "domain_reduction")), default=D.domain_reduction,
                     help="Domain loss: mean of the source and target terms (the paper) or their sum."),
        click.option("--arch", type=click.Choice(choices(DannConfig, "arch")), default=D.arch,
                     help="dann: the paper's MNIST network; dann-padded: the RDFIA lab's ('same' convs, 2,352 "
                          "features); dann-bn: the paper's with batch normalisation and 2-D dropout."),
        click.option("--fit", type=click.Choice(choices(DannConfig, "fit")), default=D.fit,
                     help="32x32 digits (MNIST-M) to 28x28: crop the centre (keeps the digits' size) or resize."),
        click.option("--bn-eval", type=click.Choice(choices(DannConfig, "bn_eval")), default=D.bn_eval,
                     help="dann-bn test-time BN statistics: running averages, or each domain's own (re-estimated "
                          "on its unlabelled train images); auto = domain for both commands (one protocol); the "
                          "other protocol's accuracy is reported beside it."),
        click.option("--limit", type=int, default=0, help="Use the first N training images per domain (0 = all)."),
        click.option("--target-limit", type=int, default=0,
                     help="Use the first N target training images only (0 = all): how much unlabelled target data matters."),
        click.option("--tsne-points", type=int, default=D.tsne_points, help="Per domain; 0 skips t-SNE."),
        click.option("--source-val", type=int, default=D.source_val,
                     help="Labelled source training images held out for the validators (capped at 10 %; 0 = none)."),
        click.option("--target-val", type=int, default=D.target_val,
                     help="Labelled target *training* images carved out for selection (never trained on; a "
                          "separate protocol: N target labels used). 0 = none."),
        click.option("--stop-by", default=D.stop_by, metavar="VALIDATOR", show_default=False,
                     help="Report the epoch this validator scores best: " + "|".join(HIGHER_IS_BETTER) + "."),
        click.option("--patience", type=int, default=D.patience,
                     help="With --stop-by: stop after N epochs without improvement (0 = train every epoch)."),
        run_options,
    ]):
        f = opt(f)
    return f


@adapt.command("source-only")
@common_train_options
def source_only(opts: RunOptions, **kw: Any) -> None:
    """Baseline: train on the source only (λ = 0), evaluate on source and target."""
    finish(run_dann(DannConfig(source_only=True, **kw), opts))


@adapt.command("dann")
@common_train_options
@click.option("--lambda-schedule", type=click.Choice(choices(DannConfig, "lambda_schedule")), default=D.lambda_schedule)
@click.option("--lambda-start", type=float, default=D.lambda_start, help="λ at the start (or the constant).")
@click.option("--lambda-end", type=float, default=D.lambda_end, help="λ at the end (start > end decays).")
@click.option("--lambda-gamma", type=float, default=D.lambda_gamma, help="γ of the exp schedule.")
@click.option("--lambda-multiplier", type=float, default=D.lambda_multiplier)
@click.option("--lambda-update", type=click.Choice(choices(DannConfig, "lambda_update")), default=D.lambda_update,
              help="When λ moves: every step, or once per epoch (the epoch index e of the study's formulas).")
@click.option("--multiplier-on", type=click.Choice(choices(DannConfig, "multiplier_on")), default=D.multiplier_on,
              help="What --lambda-multiplier scales: λ in the reversal layer, or the whole domain loss.")
def dann(opts: RunOptions, **kw: Any) -> None:
    """DANN: adversarial domain classifier through a gradient reversal layer."""
    finish(run_dann(DannConfig(**kw), opts))


P = PseudoLabelConfig()


@adapt.command("pseudo-label")
@click.option("--from", "start", required=True, type=click.Path(exists=True, file_okay=False),
              help="Run dir of an adapt dann or source-only run.")
@click.option("--rounds", type=int, default=P.rounds)
@click.option("--threshold", type=float, default=P.threshold, help="Minimum softmax confidence (first round).")
@click.option("--threshold-end", type=float, default=P.threshold_end,
              help="Last round's threshold, linear in between (default: none, the threshold stays constant).")
@click.option("--epochs-per-round", type=int, default=P.epochs_per_round)
@click.option("--class-balance/--no-class-balance", default=P.class_balance)
@click.option("--batch-size", type=int, default=P.batch_size)
@click.option("--lr", type=float, default=P.lr, help="Learning rate (the start, with --lr-schedule anneal).")
@click.option("--lr-schedule", type=click.Choice(choices(PseudoLabelConfig, "lr_schedule")), default=P.lr_schedule,
              help="anneal: lr/(1+10p)^0.75 over all rounds, DANN's schedule; constant: lr throughout.")
@click.option("--augment", type=click.Choice(choices(PseudoLabelConfig, "augment")), default=P.augment,
              help="Of the pseudo-labelled target images: jitter = random ±2 px / ±10° / ±10 % affine; strong = "
                   "jitter + colour-channel shuffle + a cut-out square.")
@click.option("--stop-by", default=P.stop_by, metavar="VALIDATOR", show_default=False,
              help="Report the round this validator scores best: " + "|".join(HIGHER_IS_BETTER) + ".")
@click.option("--patience", type=int, default=P.patience,
              help="With --stop-by: stop after N rounds without improvement (0 = every round).")
@click.option("--oracle-labels", is_flag=True,
              help="Diagnostic: train on the TRUE target labels instead, to measure the loop's ceiling.")
@run_options
def pseudo_label(opts: RunOptions, **kw: Any) -> None:
    """Self-training on the target with confident pseudo-labels."""
    finish(run_pseudo_label(PseudoLabelConfig(**kw), opts))
