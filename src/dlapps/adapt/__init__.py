"""adapt: unsupervised domain adaptation, MNIST -> MNIST-M, DANN vs source-only (+ pseudo-labels).

Python API: ``run_dann(DannConfig(...), RunOptions(...))`` and ``run_pseudo_label(...)``.
"""

from dlapps.adapt.dann import DannConfig, run_dann  # noqa: F401
from dlapps.adapt.pseudo_label import PseudoLabelConfig, run_pseudo_label  # noqa: F401

from dlapps.adapt.hooks import HOOKS  # noqa: E402
from dlapps.runner.hooks import register_app  # noqa: E402

register_app("adapt", HOOKS)
