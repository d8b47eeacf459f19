"""generate: DCGAN and conditional GAN on MNIST / CIFAR-10, with measured sample quality.

Python API: ``run_gan(GanConfig(...), RunOptions(...))``, ``evaluate_run(run_dir)`` and ``sample(run_dir, n)``.
Modules: ``config`` (settings, data, networks built), ``train`` (the loop), ``quality`` (samples and their
measured quality), ``report`` (figures, summary), ``evaluate`` (commands on a finished run dir).
"""

from dlapps.generate.config import GanConfig  # noqa: F401
from dlapps.generate.evaluate import evaluate_run, sample  # noqa: F401
from dlapps.generate.train import run_gan  # noqa: F401

from dlapps.generate.hooks import HOOKS  # noqa: E402
from dlapps.runner.hooks import register_app  # noqa: E402

register_app("generate", HOOKS)
