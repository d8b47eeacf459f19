"""dlapps: four classic deep-learning applications as reproducible experiments.

Applications: ``transfer`` (pretrained CNN features + linear SVMs), ``visualize`` (saliency,
fooling images, class visualization), ``adapt`` (DANN domain adaptation) and ``generate``
(DCGAN / conditional GAN). Shared pieces: data and model registries, run directories, reports.
"""

from typing import Callable, Iterable  # noqa: F401  (the hint helper's types)

__version__ = "0.1.0"


class DlappsError(Exception):
    """A user-facing error: the CLI prints its message as one line and exits non-zero."""


def did_you_mean(word: str, choices: "Iterable[str]", n: int = 1, quote: bool = True, cutoff: float = 0.6,
                 show: "Callable[[str], str] | None" = None) -> str:
    """The hint an error about an unknown name ends with: ' (did you mean 'x'?)' for the closest of ``choices``
    (up to ``n``; ``show`` maps a match to the name shown), or '' when nothing is close. One place, so every
    unknown name (dataset, model, class, layer, preset, command, study key) is answered the same way."""
    import difflib

    close = difflib.get_close_matches(word, list(choices), n=n, cutoff=cutoff)
    names = [show(c) if show else c for c in close]
    return f" (did you mean {', '.join(repr(c) if quote else c for c in names)}?)" if close else ""
