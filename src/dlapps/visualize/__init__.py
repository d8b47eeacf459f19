"""visualize: saliency maps (+ their evaluation), fooling images and class visualization.

Python API: ``run_saliency(SaliencyConfig)``, ``run_saliency_eval(SaliencyEvalConfig)``, ``run_fool(FoolConfig)``,
``run_classviz(ClassVizConfig)``, each with a ``RunOptions``.

Every method works in pixel space [0, 1] through :class:`PixelModel`, which normalises inside the
model, so images stay valid and norms are reported in 0-255 pixel units.
"""

from dlapps.visualize.common import PixelModel, load_pixels  # noqa: F401
from dlapps.visualize.run import (ClassVizConfig, FoolConfig, SaliencyConfig, SaliencyEvalConfig,  # noqa: F401
                                  run_classviz, run_fool, run_saliency, run_saliency_eval)

from dlapps.visualize.hooks import HOOKS  # noqa: E402
from dlapps.runner.hooks import register_app  # noqa: E402

register_app("visualize", HOOKS)
