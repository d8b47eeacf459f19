"""The package's shape: no import cycles (``python -m dlapps.tools.check_structure``), one RunResult,
every README command reachable from Python."""

from __future__ import annotations

import dataclasses
import inspect
import subprocess
import sys
import typing
from pathlib import Path

import pytest

from dlapps.tools.check_structure import cycles, import_graph


def test_the_checker_finds_a_cycle_even_through_a_function_level_import(tmp_path):
    pkg = tmp_path / "pkg"
    (pkg / "sub").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "sub" / "__init__.py").write_text("")
    (pkg / "a.py").write_text("from pkg.sub import b\n")
    (pkg / "sub" / "b.py").write_text("def f():\n    from pkg import a\n    return a\n")
    (pkg / "c.py").write_text("import pkg.a\n")
    graph = import_graph(pkg)
    assert graph["pkg.a"] == {"pkg.sub.b"} and graph["pkg.sub.b"] == {"pkg.a"} and graph["pkg.c"] == {"pkg.a"}
    assert cycles(graph) == [["pkg.a", "pkg.sub.b"]]


def test_the_checker_finds_an_upward_import_a_lazy_command_and_one_app_importing_another(tmp_path):
    from dlapps.tools.check_structure import upward

    pkg = tmp_path / "dlapps"
    for d in ("core", "runner", "adapt", "generate"):
        (pkg / d).mkdir(parents=True)
        (pkg / d / "__init__.py").write_text("")
    (pkg / "__init__.py").write_text("")
    (pkg / "core" / "m.py").write_text("def f():\n    from dlapps.runner import r\n")     # core -> runner
    (pkg / "runner" / "r.py").write_text("X_COMMANDS = {'a': 'dlapps.adapt.cli:adapt'}\n")  # runner -> an app
    (pkg / "adapt" / "cli.py").write_text("from dlapps.generate import g\n")               # app -> app
    (pkg / "generate" / "g.py").write_text("from dlapps.core import m\n")                   # down: fine
    found = upward(import_graph(pkg))
    assert found == ["one app imports another: dlapps.adapt.cli -> dlapps.generate.g",
                     "upward import: dlapps.core.m (core) -> dlapps.runner.r (runner)",
                     "upward import: dlapps.runner.r (runner) -> dlapps.adapt.cli (an app)"], found


def test_the_checker_wants_a_reason_for_each_lazy_import(tmp_path):
    from dlapps.tools.check_structure import unexplained_lazy_imports

    pkg = tmp_path / "dlapps"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "a.py").write_text("import json\n\ndef f():\n    import math\n    from dlapps import b\n"
                              "    from dlapps import c  # torch: only when f runs\n")
    assert unexplained_lazy_imports(pkg) == ["lazy import with no reason: dlapps.a line 5: from dlapps import b"]


def test_no_module_of_core_runner_sweep_or_study_names_an_app():
    """The generic layers ask an app's registered hooks; only the app list (dlapps.apps), the demo and the
    command line name the apps."""
    graph = import_graph()
    apps = ("dlapps.transfer", "dlapps.visualize", "dlapps.adapt", "dlapps.generate")
    generic = [m for m in graph if m.split(".")[1:2] and m.split(".")[1] in ("core", "runner", "sweep", "study",
                                                                              "sweep_config")]
    assert generic
    bad = [(m, t) for m in generic for t in graph[m] if t.startswith(apps)]
    assert not bad, bad


def test_dlapps_has_no_import_cycles():
    p = subprocess.run([sys.executable, "-m", "dlapps.tools.check_structure"], capture_output=True, text=True)
    assert p.returncode == 0, p.stdout


def test_one_run_result_class_for_every_app():
    import dlapps.adapt.dann
    import dlapps.adapt.pseudo_label
    import dlapps.generate.train
    import dlapps.transfer.inspect
    import dlapps.transfer.predict
    import dlapps.transfer.probe
    import dlapps.visualize.run
    from dlapps.runner.results import RunResult

    for mod in (dlapps.adapt.dann, dlapps.adapt.pseudo_label, dlapps.generate.train, dlapps.transfer.inspect,
                dlapps.transfer.predict, dlapps.transfer.probe, dlapps.visualize.run):
        assert mod.RunResult is RunResult, mod.__name__


def test_every_computing_command_has_a_python_entry_point():
    import dlapps.adapt as adapt
    import dlapps.generate as generate
    import dlapps.transfer as transfer
    import dlapps.visualize as visualize
    from dlapps.runner.results import RunResult

    for mod, names in ((transfer, ["run_inspect", "run_predict", "run_activations", "run_probe"]),
                       (visualize, ["run_saliency", "run_saliency_eval", "run_fool", "run_classviz"]),
                       (adapt, ["run_dann", "run_pseudo_label"]), (generate, ["run_gan", "sample"])):
        for n in names:  # the shape every app shares: run_<command>(cfg: a Config dataclass, opts) -> RunResult
            fn = getattr(mod, n)
            hints = typing.get_type_hints(fn)
            params = list(inspect.signature(fn).parameters)
            if n == "sample":  # sample draws from an existing run dir: no Config, no new run
                continue
            assert params[:2] == ["cfg", "opts"], f"{mod.__name__}.{n}{params}"
            assert dataclasses.is_dataclass(hints["cfg"]) and hints["return"] is RunResult, f"{mod.__name__}.{n}"


def test_readme_benchmark_figures_come_from_the_results_files():
    root = Path(__file__).resolve().parents[1]
    p = subprocess.run([sys.executable, str(root / "scripts" / "bench_figures.py"), "--check"], capture_output=True,
                       text=True)
    assert p.returncode == 0, p.stdout + p.stderr


# command -> its Config class, and the CLI parameters named differently from the Config field
COMMANDS = {
    ("transfer", "inspect"): ("dlapps.transfer.inspect", "InspectConfig", {}),
    ("transfer", "predict"): ("dlapps.transfer.predict", "PredictConfig", {}),
    ("transfer", "activations"): ("dlapps.transfer.predict", "ActivationsConfig", {"layer_names": "layers"}),
    ("transfer", "probe"): ("dlapps.transfer.probe", "ProbeConfig", {"no_cache": None}),
    ("visualize", "saliency"): ("dlapps.visualize.run", "SaliencyConfig", {}),
    ("visualize", "saliency-eval"): ("dlapps.visualize.run", "SaliencyEvalConfig", {}),
    ("visualize", "fool"): ("dlapps.visualize.run", "FoolConfig", {}),
    ("visualize", "classviz"): ("dlapps.visualize.run", "ClassVizConfig", {}),
    ("adapt", "dann"): ("dlapps.adapt.dann", "DannConfig", {}),
    ("adapt", "source-only"): ("dlapps.adapt.dann", "DannConfig", {}),
    ("adapt", "pseudo-label"): ("dlapps.adapt.pseudo_label", "PseudoLabelConfig", {}),
    ("generate", "dcgan"): ("dlapps.generate.train", "GanConfig", {}),
    ("generate", "cgan"): ("dlapps.generate.train", "GanConfig", {}),
}
RUN_CONTROLS = {"out", "resume", "seed", "device", "threads", "quiet", "preset", "tensorboard"}


def test_cli_options_match_their_config_fields():
    """Each option of a computing command is a field of its Config with the same default, and a choice
    list admits the Config's default: the CLI is checked against the dataclass, so they cannot drift."""
    import dataclasses
    import importlib

    import typing

    import click

    from dlapps.core.choices import choices, literal_values
    from dlapps.apps import app_command
    from dlapps.runner.runs import RunOptions

    problems = []
    for (app, name), (module, cls_name, renamed) in COMMANDS.items():
        cls = getattr(importlib.import_module(module), cls_name)
        fields = {f.name: f for f in dataclasses.fields(cls)}
        hints = typing.get_type_hints(cls)
        cmd = app_command(app).get_command(click.Context(app_command(app)), name)
        for p in cmd.params:
            if p.name == "device" and list(p.type.choices) != choices(RunOptions, "device"):
                problems.append(f"{app} {name} --device: the CLI's choices differ from RunOptions.device's Literal")
            if p.name in RUN_CONTROLS or renamed.get(p.name, "") is None:
                continue
            field = renamed.get(p.name, p.name)
            if field not in fields:
                if p.param_type_name == "option":
                    problems.append(f"{app} {name} --{p.name}: no field {cls_name}.{field}")
                continue
            f = fields[field]
            default = f.default if f.default is not dataclasses.MISSING else f.default_factory()  # type: ignore[misc]
            if (p.param_type_name == "option" and not p.multiple and not p.required and p.default is not None
                    and p.default != default):
                if not (isinstance(default, list) and p.default == ",".join(map(str, default))):
                    problems.append(f"{app} {name} --{p.name}: CLI default {p.default!r} != {cls_name}.{field} "
                                    f"default {default!r}")
            if isinstance(p.type, click.Choice) and isinstance(default, str) and default not in p.type.choices:
                problems.append(f"{app} {name} --{p.name}: {default!r} not among {p.type.choices}")
            declared = [v for v in literal_values(hints[field]) if v is not None]
            if declared and (not isinstance(p.type, click.Choice) or list(p.type.choices) != declared):
                problems.append(f"{app} {name} --{p.name}: the CLI's choices differ from {cls_name}.{field}'s Literal "
                                f"{declared}")
    assert not problems, "\n".join(problems)


def test_a_config_built_in_python_is_checked_against_its_literal_choices():
    from dlapps import DlappsError
    from dlapps.adapt import DannConfig, PseudoLabelConfig, run_dann, run_pseudo_label

    with pytest.raises(DlappsError, match=r"--arch must be one of dann-bn, dann, dann-padded, shu-small \(got 'resnet'\)"):
        run_dann(DannConfig(arch="resnet"))  # type: ignore[arg-type]
    with pytest.raises(DlappsError, match="--augment must be one of none, jitter, strong"):
        run_pseudo_label(PseudoLabelConfig(start="x", augment="heavy"))  # type: ignore[arg-type]


def test_every_run_refuses_a_choice_outside_its_literal_before_making_a_run_dir(tmp_path):
    """start_run checks the Config and the RunOptions of every command built from Python."""
    from dlapps import DlappsError
    from dlapps.runner.runs import RunOptions
    from dlapps.transfer import ProbeConfig, run_probe
    from dlapps.transfer.predict import PredictConfig, run_predict

    out = tmp_path / "r"
    with pytest.raises(DlappsError, match="--pool must be one of avg, max, none"):
        run_probe(ProbeConfig(pool="mean", data="digits", data_source="embedded"), RunOptions(out=str(out)))  # type: ignore[arg-type]
    with pytest.raises(DlappsError, match="--data-source must be one of auto, local, download, embedded"):
        run_probe(ProbeConfig(data_source="web"), RunOptions(out=str(out)))  # type: ignore[arg-type]
    with pytest.raises(DlappsError, match="--device must be one of auto, cpu, cuda, mps"):
        run_probe(ProbeConfig(data="digits", data_source="embedded"), RunOptions(out=str(out), device="tpu"))  # type: ignore[arg-type]
    img = tmp_path / "a.png"
    from PIL import Image

    Image.new("RGB", (8, 8)).save(img)
    with pytest.raises(DlappsError, match="--gray must be one of replicate, colormap"):
        run_predict(PredictConfig(images=[str(img)], gray="sepia"), RunOptions(out=str(out)))  # type: ignore[arg-type]
    assert not out.exists()


def test_no_function_is_longer_than_sixty_lines():
    """A function that does not fit on a screen does several things: split it by what it does."""
    import ast

    root = Path(__file__).resolve().parents[1] / "src" / "dlapps"
    long = [f"{p.relative_to(root)}:{n.lineno} {n.name} ({n.end_lineno - n.lineno + 1} lines)"
            for p in root.rglob("*.py") for n in ast.walk(ast.parse(p.read_text()))
            if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef)) and n.end_lineno - n.lineno + 1 > 60]
    assert not long, long
