"""generate: DCGAN and conditional GAN on MNIST / CIFAR-10, with measured sample quality.

Python API: ``run_gan(GanConfig(...), RunOptions(...))`` and ``sample(run_dir, n)``.
"""

from dlapps.generate.train import GanConfig, run_gan, sample  # noqa: F401
