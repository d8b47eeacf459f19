"""Each option declared once (dlapps.runner.options): every command's options come from Config fields, --help shows
the dataclass defaults, and every bounded number is refused out of range before a run dir exists."""

from __future__ import annotations

import dataclasses
import math
import re

import click
import pytest

from dlapps import DlappsError
from dlapps.cli import _register_apps, cli, main
from dlapps.runner.options import check_config, flag_name, in_range, opt, to_config


def _commands() -> list[tuple[str, click.Command]]:
    _register_apps()
    out = []

    def walk(prefix: str, cmd: click.Command) -> None:
        if isinstance(cmd, click.Group):
            for name, sub in cmd.commands.items():
                walk(f"{prefix} {name}".strip(), sub)
        else:
            out.append((prefix, cmd))

    walk("", cli)
    return out


def _configs() -> list[type]:
    from dlapps.adapt import DannConfig, PseudoLabelConfig
    from dlapps.generate import GanConfig
    from dlapps.runner.runs import RunOptions
    from dlapps.study.run import StudyConfig
    from dlapps.transfer.inspect import InspectConfig
    from dlapps.transfer.predict import ActivationsConfig, PredictConfig
    from dlapps.transfer.probe import ProbeConfig
    from dlapps.visualize.config import ClassVizConfig, FoolConfig, SaliencyConfig, SaliencyEvalConfig

    return [DannConfig, PseudoLabelConfig, GanConfig, RunOptions, StudyConfig, InspectConfig, PredictConfig,
            ActivationsConfig, ProbeConfig, SaliencyConfig, SaliencyEvalConfig, FoolConfig, ClassVizConfig]


def test_every_config_field_is_declared_once_with_help():
    for cls in _configs():
        for f in dataclasses.fields(cls):
            assert "help" in f.metadata, f"{cls.__name__}.{f.name} is not declared with opt()"
            assert f.metadata["help"], f"{cls.__name__}.{f.name} has no help"


def test_help_shows_the_dataclass_defaults():
    """Every command built from a Config: each of the Config's command-line fields is an option of the command
    with the dataclass's default, under its one flag name, and the run options are there too."""
    from dlapps.adapt import DannConfig, PseudoLabelConfig
    from dlapps.generate import GanConfig
    from dlapps.runner.runs import RunOptions
    from dlapps.study.run import StudyConfig
    from dlapps.sweep_config import SweepConfig
    from dlapps.transfer.config import ActivationsConfig, InspectConfig, PredictConfig, ProbeConfig
    from dlapps.visualize.config import ClassVizConfig, FoolConfig, SaliencyConfig, SaliencyEvalConfig

    built = {"adapt dann": [DannConfig, RunOptions], "adapt source-only": [DannConfig, RunOptions],
             "adapt pseudo-label": [PseudoLabelConfig, RunOptions], "generate dcgan": [GanConfig, RunOptions],
             "generate cgan": [GanConfig, RunOptions], "transfer inspect": [InspectConfig, RunOptions],
             "transfer predict": [PredictConfig, RunOptions], "transfer activations": [ActivationsConfig, RunOptions],
             "transfer probe": [ProbeConfig, RunOptions], "visualize saliency": [SaliencyConfig, RunOptions],
             "visualize saliency-eval": [SaliencyEvalConfig, RunOptions], "visualize fool": [FoolConfig, RunOptions],
             "visualize classviz": [ClassVizConfig, RunOptions], "study": [StudyConfig], "sweep": [SweepConfig]}
    skipped = {"adapt source-only": {"lambda_schedule", "lambda_start", "lambda_end", "lambda_gamma",
                                     "lambda_multiplier", "lambda_update", "multiplier_on", "adversary"},
               "generate dcgan": {"label_in_d", "d_label", "g_label"}, "adapt dann": {"dirtt_beta"}}
    commands = dict(_commands())
    assert set(built) <= set(commands)
    for path, classes in built.items():
        params = {p.name: p for p in commands[path].params}
        for cls in classes:
            for f in dataclasses.fields(cls):
                if f.metadata.get("cli", True) is False or f.name in skipped.get(path, ()):
                    continue
                p = params[f.name]
                default = f.default if f.default is not dataclasses.MISSING else f.default_factory()
                shown = p.default
                if f.metadata.get("csv"):
                    default = ",".join(map(str, default))
                elif isinstance(default, list):
                    shown = list(shown or ())
                if not f.metadata.get("required"):
                    assert shown == default, (path, f.name, shown, default)
                assert flag_name(f) in p.opts, (path, f.name)


def _bad_values(p: click.Option) -> list[str]:
    """Values just outside an option's range."""
    t = p.type
    out = []
    if isinstance(t, (click.IntRange, click.FloatRange)):
        step = 1 if isinstance(t, click.IntRange) else 1e-3
        if t.min is not None:
            out.append(str(t.min if t.min_open else t.min - step))
        if t.max is not None:
            out.append(str(t.max if t.max_open else t.max + step))
        if isinstance(t, click.FloatRange):
            out.append("nan")
    return out


def test_every_numeric_option_out_of_range_exits_2_before_a_run_dir(tmp_path, capsys):
    """Walks every command: each bounded option, just outside its range, is one line and exit 2, and nothing is
    created (the option is checked before anything runs)."""
    needs = {  # the arguments a command needs before its options are looked at
        "transfer inspect": ["mnist_cnn"], "transfer predict": ["mnist_cnn", "x.png"],
        "transfer activations": ["mnist_cnn", "x.png", "--layer", "relu1"], "visualize saliency": ["mnist_cnn"],
        "visualize saliency-eval": ["mnist_cnn"], "visualize fool": ["mnist_cnn", "--target", "3"],
        "visualize classviz": ["mnist_cnn", "--target", "3"], "generate sample": [str(tmp_path)],
        "generate evaluate": [str(tmp_path)], "sweep": [__file__], "adapt pseudo-label": ["--from", str(tmp_path)],
        "adapt dirt-t": ["--init", str(tmp_path)],
    }
    walked = 0
    for path, cmd in _commands():
        for p in cmd.params:
            if not isinstance(p, click.Option):
                continue
            for bad in _bad_values(p):
                out = tmp_path / f"run-{walked}"
                argv = [*path.split(), *needs.get(path, []), p.opts[0], bad]
                if any(o.name == "out" for o in cmd.params):
                    argv += ["--out", str(out)]
                with pytest.raises(SystemExit) as e:
                    main(argv)
                err = capsys.readouterr().err.strip()
                assert e.value.code == 2, (argv, err)
                assert "\n" not in err and p.opts[0] in err, (argv, err)
                assert not out.exists(), argv
                walked += 1
    assert walked >= 60  # lr, epochs, batch sizes, thresholds, ... of every command


def test_the_python_api_checks_the_same_ranges_before_anything_is_made(tmp_path):
    from dlapps.adapt import DannConfig, PseudoLabelConfig, run_dann
    from dlapps.runner.runs import RunOptions

    for kw, msg in (({"lr": -0.1}, "--lr must be 0 < --lr"), ({"epochs": 0}, "--epochs must be 1 ≤ --epochs"),
                    ({"batch_size": 3}, "even"), ({"lambda_multiplier": math.nan}, "--lambda-multiplier")):
        with pytest.raises(DlappsError, match=re.escape(msg)):
            run_dann(DannConfig(data_source="embedded", **kw), RunOptions(out=str(tmp_path / "r"), quiet=True))
        assert not (tmp_path / "r").exists()
    with pytest.raises(DlappsError, match="--threshold must be 0 < --threshold < 1"):
        check_config(PseudoLabelConfig(start="x", threshold=1.0))


def test_opt_ranges_and_comma_lists():
    @dataclasses.dataclass
    class Cfg:
        rate: float = opt(0.5, "a probability", low=0, high=1)
        grid: list[float] = opt(help="Cs", csv=True, default_factory=lambda: [0.1, 1.0])

    f = dataclasses.fields(Cfg)[0]
    assert in_range(f, 0.0) and in_range(f, 1.0) and not in_range(f, 1.01) and not in_range(f, math.nan)
    assert to_config(Cfg, {"rate": 0.2, "grid": "1, 10,100"}).grid == [1.0, 10.0, 100.0]
    with pytest.raises(click.BadParameter, match="--grid"):
        to_config(Cfg, {"grid": "1,x"})


def test_a_new_dataset_is_one_decorated_function(tmp_path):
    """Registering a throwaway dataset (scikit-learn's 8x8 digits drawn at 28x28 on a grey background) is all
    it takes to run `adapt source-only` on it, by name, from the command line."""
    import torch.nn.functional as F

    from dlapps.core.data import REGISTRY, load_dataset, register_dataset
    from dlapps.core.data.containers import DataBundle, ImageSet

    @register_dataset("grey-digits", "grey_digits")
    def grey_digits(path, source):  # noqa: ANN001 - the loader signature
        d = load_dataset("digits", source="embedded", verbose=False)
        def grey(s: ImageSet) -> ImageSet:
            x = F.interpolate(s.images.float(), size=(28, 28), mode="bilinear", align_corners=False)
            return ImageSet((0.5 * x + 64).to(dtype=s.images.dtype), s.labels, s.class_names)
        return DataBundle("grey-digits", grey(d.train), grey(d.test), "made in a test from scikit-learn's digits")

    try:
        main(["adapt", "source-only", "--source", "digits", "--target", "grey_digits", "--data-source",
              "embedded", "--epochs", "1", "--batch-size", "64", "--tsne-points", "0", "--source-val", "0",
              "--out", str(tmp_path / "r"), "--quiet"])  # returns normally: no error
        import json

        cfg = json.loads((tmp_path / "r" / "config.json").read_text())
        assert cfg["data_sources"]["target"] == "made in a test from scikit-learn's digits"
        m = json.loads((tmp_path / "r" / "metrics.json").read_text())
        assert m["target"]["class_acc"] > 0.2  # the grey copy of the source is easy: far above chance
    finally:
        REGISTRY.pop("grey-digits")
