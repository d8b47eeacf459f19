"""dlapps: four classic deep-learning applications as reproducible experiments.

Applications: ``transfer`` (pretrained CNN features + linear SVMs), ``visualize`` (saliency,
fooling images, class visualization), ``adapt`` (DANN domain adaptation) and ``generate``
(DCGAN / conditional GAN). Shared pieces: data and model registries, run directories, reports.
"""

__version__ = "0.1.0"


class DlappsError(Exception):
    """A user-facing error: the CLI prints its message as one line and exits non-zero."""
