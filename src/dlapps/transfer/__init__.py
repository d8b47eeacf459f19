"""transfer: inspect pretrained CNNs, extract features at any layer, linear SVMs on them.

Python API: ``inspect_model``, ``predict``, ``activations`` and ``run_probe(ProbeConfig(...))``.
"""

from dlapps.transfer.inspect import inspect_model  # noqa: F401
from dlapps.transfer.probe import ProbeConfig, run_probe  # noqa: F401
