"""The command line as a user meets it: help, and one clear line + non-zero exit for mistakes.

Commands run in-process through the real entry point ``dlapps.cli.main`` (what the console script
calls), with stdout/stderr captured: an exception that escapes ``main`` is a traceback the user would
see, and fails the test. One test runs ``python -m dlapps`` as a real subprocess.
"""

from __future__ import annotations

import contextlib
import io
import os
import subprocess
import sys
import traceback
import warnings

import torch
from click.testing import CliRunner


def dlapps(*args: str) -> subprocess.CompletedProcess:
    """``dlapps ARGS`` through dlapps.cli.main, in this process; returns what a subprocess would."""
    from dlapps.cli import main

    out, err = io.StringIO(), io.StringIO()
    code = 0
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            main(list(args))
        except SystemExit as e:
            code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
        except BaseException:  # noqa: BLE001 - what a user would see as a traceback
            err.write(traceback.format_exc())
            code = 1
    torch.set_num_threads(1)  # a command sets its own threads; the test session keeps one
    return subprocess.CompletedProcess(["dlapps", *args], code, out.getvalue(), err.getvalue())


def dlapps_subprocess(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    return subprocess.run([sys.executable, "-m", "dlapps", *args], capture_output=True, text=True, env=env,
                          timeout=120)


def assert_one_line_error(p: subprocess.CompletedProcess, text: str) -> None:
    assert p.returncode != 0
    assert "Traceback" not in p.stderr, p.stderr
    lines = [l for l in p.stderr.splitlines() if l.startswith("error:")]
    assert len(lines) == 1 and text in lines[0], p.stderr


def test_help_lists_every_app_and_defaults():
    from dlapps.cli import _register_apps, cli

    _register_apps()
    r = CliRunner().invoke(cli, ["--help"])
    for app in ("transfer", "visualize", "adapt", "generate", "demo", "report"):
        assert app in r.output
    r = CliRunner().invoke(cli, ["adapt", "dann", "--help"])
    assert "--lambda-schedule" in r.output and "default: exp" in r.output


def test_a_misspelt_command_gets_a_suggestion_though_apps_load_lazily():
    from dlapps.cli import LAZY_COMMANDS, LazyGroup, cli

    assert isinstance(cli, LazyGroup)
    # the group as a fresh process has it: no application registered yet
    fresh = LazyGroup("dlapps", commands={k: v for k, v in cli.commands.items() if k not in LAZY_COMMANDS})
    r = CliRunner().invoke(fresh, ["adpt", "dann"])
    assert r.exit_code != 0 and "Did you mean 'adapt'?" in r.output
    assert CliRunner().invoke(fresh, ["adapt", "dann", "--help"]).exit_code == 0 and "adapt" in fresh.commands


def test_unknown_dataset(tmp_path):
    assert_one_line_error(dlapps("adapt", "dann", "--source", "mnsit", "--out", str(tmp_path / "r")),
                          "did you mean 'mnist'")


def test_unknown_model_and_class(tmp_path):
    assert_one_line_error(dlapps("transfer", "inspect", "vgg61", "--out", str(tmp_path / "r")), "unknown model")
    assert_one_line_error(dlapps("visualize", "classviz", "mnist_cnn", "--weights", "random", "--target", "eleven",
                                 "--out", str(tmp_path / "c")), "unknown class")


def test_missing_and_corrupt_images(tmp_path):
    assert_one_line_error(dlapps("transfer", "predict", "mnist_cnn", str(tmp_path / "none.png"),
                                 "--weights", "random", "--out", str(tmp_path / "r")), "image not found")
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"\xff\xd8 definitely not a jpeg")
    assert_one_line_error(dlapps("transfer", "predict", "mnist_cnn", str(bad), "--weights", "random",
                                 "--out", str(tmp_path / "r2")), "cannot read image")


def test_evaluate_or_sample_a_damaged_or_foreign_run_dir(tmp_path):
    run = tmp_path / "r"
    run.mkdir()
    (run / "config.json").write_text("{")
    for cmd in ("evaluate", "sample"):
        assert_one_line_error(dlapps("generate", cmd, str(run)), "config.json is damaged")
    (run / "config.json").write_text('{"app": "adapt", "command": "dann"}')
    assert_one_line_error(dlapps("generate", "evaluate", str(run)), "holds an 'adapt' run, not a 'generate' run")
    (run / "metrics.json").write_text('{"target": ')
    assert_one_line_error(dlapps("report", str(run)), "metrics.json is damaged")


def test_existing_run_dir_and_unwritable_out(tmp_path):
    out = tmp_path / "r"
    out.mkdir()
    (out / "mine.txt").write_text("user file")
    assert_one_line_error(dlapps("transfer", "inspect", "mnist_cnn", "--weights", "random", "--out", str(out)),
                          "not a dlapps run dir")
    assert (out / "mine.txt").read_text() == "user file"
    # unwritable for everyone, root included: the parent of --out is a file
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    assert_one_line_error(dlapps("transfer", "inspect", "mnist_cnn", "--weights", "random",
                                 "--out", str(blocker / "run")), "cannot write run dir")


def test_failed_run_leaves_no_empty_run_dir_and_does_not_block_the_same_out(tmp_path):
    out = tmp_path / "c"
    assert_one_line_error(dlapps("visualize", "classviz", "mnist_cnn", "--weights", "random", "--target", "eleven",
                                 "--out", str(out)), "unknown class")
    assert not out.exists()  # it failed before any result: nothing to clean up
    mine = tmp_path / "mine"  # an empty folder the user made stays, empty
    mine.mkdir()
    assert_one_line_error(dlapps("visualize", "classviz", "mnist_cnn", "--weights", "random", "--target", "eleven",
                                 "--out", str(mine)), "unknown class")
    assert mine.is_dir() and not any(mine.iterdir())
    p = dlapps("visualize", "classviz", "mnist_cnn", "--weights", "random", "--target", "7", "--iters", "3",
               "--quiet", "--out", str(out))
    assert p.returncode == 0, p.stderr
    # a run with results is kept whatever fails next: here resuming it with other options is refused
    p = dlapps("visualize", "classviz", "mnist_cnn", "--weights", "random", "--target", "7", "--iters", "4",
               "--quiet", "--resume", "--out", str(out))
    assert p.returncode != 0 and (out / "metrics.json").exists() and (out / "config.json").exists()


def test_folder_passed_as_an_image(tmp_path):
    # a command that takes one image says it got a folder; one that takes several uses the folder's images
    assert_one_line_error(dlapps("transfer", "activations", "mnist_cnn", str(tmp_path), "--weights", "random",
                                 "--layer", "relu1", "--out", str(tmp_path / "r")), "is a folder, not an image")
    assert_one_line_error(dlapps("transfer", "predict", "mnist_cnn", str(tmp_path), "--weights", "random",
                                 "--out", str(tmp_path / "r")), "no image files")
    from PIL import Image

    for i in range(2):
        Image.new("L", (28, 28), 40 * i).save(tmp_path / f"d{i}.png")
    p = dlapps("transfer", "predict", "mnist_cnn", str(tmp_path), "--weights", "random", "--top", "1",
               "--out", str(tmp_path / "ok"), "--quiet")
    assert p.returncode == 0, p.stderr
    assert "d0.png" in p.stdout and "d1.png" in p.stdout


def test_nan_weights_are_refused_naming_file_and_tensor(tmp_path):
    import torch

    from dlapps.core.zoo import MnistCNN

    sd = MnistCNN().state_dict()
    sd["classifier.0.weight"][0, 0] = float("nan")
    f = tmp_path / "nan.pt"
    torch.save(sd, f)
    p = dlapps("transfer", "predict", "mnist_cnn", "--weights", str(f), __file__, "--out", str(tmp_path / "r"))
    assert_one_line_error(p, "classifier.0.weight")
    assert str(f) in p.stderr


def test_missing_weights_offline(tmp_path):
    p = dlapps("transfer", "predict", "resnet18", __file__, "--out", str(tmp_path / "r"))
    assert_one_line_error(p, "TORCH_HOME")


def test_report_rebuilds_from_run_dir(tmp_path):
    out = tmp_path / "insp"
    p = dlapps_subprocess("transfer", "inspect", "alexnet", "--weights", "random", "--out", str(out), "--quiet")
    assert p.returncode == 0, p.stderr
    assert "61,100,840" in p.stdout
    before = (out / "report.md").read_text()
    (out / "report.html").unlink()
    (out / "report.md").unlink()
    p = dlapps("report", str(out))
    assert p.returncode == 0
    # rebuilt from the run dir alone: the same markdown, and HTML carrying its table and inlined figures
    assert (out / "report.md").read_text() == before and "61,100,840" in before
    html = (out / "report.html").read_text()
    assert "61,100,840" in html and "<table>" in html


def test_the_top_level_command_line_starts_without_torch():
    """`dlapps --version` and the top-level group import no application and no torch (lazy groups)."""
    code = ("import sys\nfrom dlapps.cli import cli\nassert 'torch' not in sys.modules, 'torch imported'\n"
            "assert not any(m.startswith(('dlapps.adapt', 'dlapps.transfer')) for m in sys.modules)")
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
