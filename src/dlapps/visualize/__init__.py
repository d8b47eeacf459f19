"""visualize: saliency maps (+ their evaluation), fooling images and class visualization.

Every method works in pixel space [0, 1] through :class:`PixelModel`, which normalises inside the
model, so images stay valid and norms are reported in 0-255 pixel units.
"""

from dlapps.visualize.common import PixelModel, load_pixels  # noqa: F401
