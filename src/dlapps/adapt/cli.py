"""``dlapps adapt ...`` commands: source-only, dann, pseudo-label. Every option is a field of the command's
Config (dlapps.runner.options): this module only names the commands."""

from __future__ import annotations

from typing import Any

import click

from dlapps.adapt.dann import DIRTT_DEFAULTS, DannConfig, run_dann
from dlapps.adapt.pseudo_label import PseudoLabelConfig, run_pseudo_label
from dlapps.runner.cli_options import finish, run_options
from dlapps.runner.options import cli_options, to_config
from dlapps.runner.runs import RunOptions

# the λ options mean nothing for the baseline, which fixes λ = 0
ADVERSARIAL = ("lambda_schedule", "lambda_start", "lambda_end", "lambda_gamma", "lambda_multiplier", "lambda_update",
               "multiplier_on", "adversary")


@click.group()
def adapt() -> None:
    """Domain adaptation: DANN with a gradient reversal layer vs source-only, MNIST -> MNIST-M."""


@adapt.command("source-only")
@cli_options(DannConfig, exclude=ADVERSARIAL)
@run_options
def source_only(opts: RunOptions, **kw: Any) -> None:
    """Baseline: train on the source only (λ = 0), evaluate on source and target."""
    finish(run_dann(to_config(DannConfig, kw, source_only=True), opts))


@adapt.command("dann")
@cli_options(DannConfig, exclude=("dirtt_beta",))
@run_options
def dann(opts: RunOptions, **kw: Any) -> None:
    """DANN: adversarial domain classifier through a gradient reversal layer."""
    finish(run_dann(to_config(DannConfig, kw), opts))


@adapt.command("dirt-t", context_settings={"default_map": DIRTT_DEFAULTS})
@cli_options(DannConfig, exclude=ADVERSARIAL)
@click.option("--init", "init", required=True, type=click.Path(file_okay=False),  # read when the run starts
              help="The adapt run (VADA: --preset vada) whose model DIRT-T refines on the target alone.")
@run_options
def dirt_t(opts: RunOptions, **kw: Any) -> None:
    """DIRT-T: refine a trained model on the target (entropy + VAT) within a trust region to its last epoch."""
    finish(run_dann(to_config(DannConfig, kw), opts))


@adapt.command("pseudo-label")
@cli_options(PseudoLabelConfig)
@run_options
def pseudo_label(opts: RunOptions, **kw: Any) -> None:
    """Self-training on the target with confident pseudo-labels."""
    finish(run_pseudo_label(to_config(PseudoLabelConfig, kw), opts))
