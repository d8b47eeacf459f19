"""transfer: inspect pretrained CNNs, extract features at any layer, linear SVMs on them.

Python API, one ``run_<command>(Config, RunOptions) -> RunResult`` per command:
``run_inspect(InspectConfig)``, ``run_predict(PredictConfig)``, ``run_activations(ActivationsConfig)``,
``run_probe(ProbeConfig)``; and the pieces: ``inspect_model``, ``extract``, ``topk``.
"""

from dlapps.transfer.features import extract  # noqa: F401
from dlapps.transfer.inspect import InspectConfig, inspect_model, run_inspect  # noqa: F401
from dlapps.transfer.predict import ActivationsConfig, PredictConfig, run_activations, run_predict, topk  # noqa: F401
from dlapps.transfer.probe import ProbeConfig, run_probe  # noqa: F401

from dlapps.transfer.hooks import HOOKS  # noqa: E402
from dlapps.runner.hooks import register_app  # noqa: E402

register_app("transfer", HOOKS)
