from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from dlapps import DlappsError
from dlapps.sweep_config import SweepConfig
from dlapps.runner.runs import RunOptions
from dlapps.sweep import Point, SweepSpec, aggregate, argv_for, expand, load_spec, run_sweep, status

EXPERIMENTS = Path(__file__).resolve().parents[1] / "experiments"


def test_grid_expansion_points_seeds_and_quick():
    spec = SweepSpec(command=["adapt", "dann"], base={"epochs": 20}, grid={"a": [1, 2], "b": ["x", "y"]},
                     points=[{"c": 5}], seeds=[0, 1], quick={"epochs": 2})
    pts = expand(spec)
    assert len(pts) == (4 + 1) * 2
    assert pts[0].options == {"epochs": 20, "a": 1, "b": "x"} and pts[0].seed == 0
    assert expand(spec, quick=True)[0].options["epochs"] == 2
    assert len({p.dirname for p in pts}) == len(pts)


def test_a_point_can_carry_its_own_seeds():
    spec = SweepSpec(command=["adapt", "dann"], points=[{}, {"epochs": 100, "seeds": [0]}], seeds=[0, 1, 2])
    pts = expand(spec)
    assert [(p.name, p.seed) for p in pts] == [("", 0), ("", 1), ("", 2), ("epochs=100", 0)]
    assert "seeds" not in pts[-1].options  # not passed on as an option
    assert spec.points[1] == {"epochs": 100, "seeds": [0]}  # the spec itself is left as written


def test_extra_seeds_add_runs_to_named_points_only():
    """The study's replacement seeds: a caller adds seeds to some points; the others keep the file's."""
    spec = SweepSpec(command=["adapt", "dann"], points=[{}, {"lr": 0.1}], seeds=[0, 1, 2],
                     extra={"lr=0.1": [3, 1]})
    assert [p.dirname for p in expand(spec)] == ["base-s0", "base-s1", "base-s2", "lr=0.1-s0", "lr=0.1-s1",
                                                 "lr=0.1-s2", "lr=0.1-s3"]  # a seed it already has is not doubled


def test_argv_repeats_lists_and_handles_flags(tmp_path):
    spec = SweepSpec(command=["transfer", "probe"])
    p = Point("x", {"layer": ["relu7", "relu6"], "label-in-d": False, "no-cache": True, "folds": 3}, 1)
    argv = argv_for(spec, p, tmp_path / "r", threads=1)
    assert argv[:2] == ["transfer", "probe"]
    assert argv.count("--layer") == 2 and "--no-label-in-d" in argv and "--no-cache" in argv
    assert argv[argv.index("--seed") + 1] == "1"


@pytest.mark.parametrize("path", sorted(EXPERIMENTS.glob("*.toml")) + sorted(
    (EXPERIMENTS.parent / "src" / "dlapps" / "study" / "sweeps").glob("*.toml")), ids=lambda p: p.name)
def test_every_shipped_sweep_file_passes_its_plan_and_the_readme_names_each_experiment(path, tmp_path):
    """--plan parses every point's command line with the command itself: a renamed or removed option fails here."""
    from dlapps.sweep import run_sweep
    from dlapps.sweep_config import SweepConfig
    from dlapps.runner.runs import RunOptions

    r = run_sweep(SweepConfig(file=str(path), plan=True), RunOptions(out=str(tmp_path / "s"), quiet=True))
    assert r.metrics["plan"] and set(r.metrics["plan"].values()) == {"new"} and not (tmp_path / "s").exists()
    if path.parent == EXPERIMENTS:
        assert f"`{path.name}`" in (EXPERIMENTS.parent / "README.md").read_text(), f"README names no {path.name}"


def test_seed_in_a_text_value_chains_runs_seed_by_seed(tmp_path):
    spec = SweepSpec(command=["adapt", "pseudo-label"], base={"from": "runs/dann/base-s{seed}", "rounds": 2},
                     seeds=[0, 3])
    argvs = [argv_for(spec, p, tmp_path / p.dirname, 1) for p in expand(spec)]
    assert [a[a.index("--from") + 1] for a in argvs] == ["runs/dann/base-s0", "runs/dann/base-s3"]
    assert expand(spec)[0].options["from"] == "runs/dann/base-s{seed}"  # the plan keeps the template


def test_bad_sweep_file_is_one_clear_error(tmp_path):
    (tmp_path / "s.toml").write_text('command = "adapt dann"\n[grid]\nepochs = 3\n')
    with pytest.raises(DlappsError, match="non-empty list"):
        load_spec(tmp_path / "s.toml")


def test_aggregation_mean_std_over_seeds(tmp_path):
    spec = SweepSpec(command=["x"], grid={"a": [1]}, seeds=[0, 1], metrics=["target.class_acc"])
    pts = expand(spec)
    for p, acc in zip(pts, (0.5, 0.7)):
        d = tmp_path / p.dirname
        d.mkdir()
        (d / "config.json").write_text(json.dumps({"app": "adapt", "command": "dann", "options": {}}))
        (d / "metrics.json").write_text(json.dumps({"target": {"class_acc": acc}}))
        (d / "report.md").write_text("r")
    (tmp_path / "config.json").write_text(json.dumps({"app": "sweep", "command": "s", "options": {}}))
    agg = aggregate(spec, pts, tmp_path)
    s = agg["a=1"]["target.class_acc"]
    # the sample sd (n - 1), the same sd as the study report: 0.1414, where the population sd would be 0.1
    assert s["mean"] == pytest.approx(0.6) and s["std"] == pytest.approx(0.1 * 2 ** 0.5) and s["n"] == 2
    assert "0.6000 ± 0.1414" in (tmp_path / "tables" / "comparison.md").read_text()
    assert status(tmp_path / pts[0].dirname) == "complete"
    # a damaged metrics file: the point is listed as damaged, the rest still make the table and report
    (tmp_path / pts[1].dirname / "metrics.json").write_text('{"target": {"class_')
    assert status(tmp_path / pts[1].dirname) == "damaged"
    agg = aggregate(spec, pts, tmp_path)
    assert agg["a=1"]["target.class_acc"]["n"] == 1
    summary = (tmp_path / "summary.md").read_text()
    assert "**Damaged**" in summary and pts[1].dirname in summary
    assert (tmp_path / "report.html").exists()


def test_tiny_sweep_end_to_end_skips_finished_points(tmp_path):
    f = tmp_path / "s.toml"
    # `transfer inspect MODEL` takes the model as an argument: it is part of the command
    f.write_text('command = "transfer inspect mnist_cnn"\nmetrics = ["total_params"]\nseeds = [0, 1]\n'
                 '[base]\nweights = "random"\n')
    out = run_sweep(SweepConfig(file=f, jobs=2), RunOptions(out=str(tmp_path / "sw"), quiet=True)).run_dir
    agg = json.loads((out / "metrics.json").read_text())
    assert agg["complete"] and agg["points"]["base"]["total_params"]["n"] == 2
    assert (out / "report.html").exists()
    # kill one point's result: only that point runs again
    shutil.rmtree(out / "base-s1")
    before = (out / "base-s0" / "config.json").stat().st_mtime
    run_sweep(SweepConfig(file=f, jobs=1), RunOptions(out=str(tmp_path / "sw"), quiet=True))
    assert (out / "base-s1" / "report.md").exists()
    assert (out / "base-s0" / "config.json").stat().st_mtime == before
    # extra seeds (the study's replacement seeds) run only what is new, and join the point's aggregate
    run_sweep(SweepConfig(file=f, jobs=1, extra_seeds={"": [2]}), RunOptions(out=str(out), quiet=True))
    assert (out / "base-s2" / "report.md").exists()
    assert (out / "base-s0" / "config.json").stat().st_mtime == before
    assert json.loads((out / "metrics.json").read_text())["points"]["base"]["total_params"]["n"] == 3


def test_a_point_another_process_runs_is_left_to_it(tmp_path, capsys):
    """Two sweeps over one dir (the study's two chains) never train the same point at once: a point whose lock
    another process holds is skipped, its log untouched, and runs on the next call once free."""
    from filelock import FileLock

    f = tmp_path / "s.toml"
    f.write_text('command = "transfer inspect mnist_cnn"\nmetrics = ["total_params"]\nseeds = [0, 1]\n'
                 '[base]\nweights = "random"\n')
    out = tmp_path / "sw"
    out.mkdir()
    (out / "base-s0.log").write_text("the other process's log")
    held = FileLock(str(out / ".base-s0.lock"))
    held.acquire()
    try:
        run_sweep(SweepConfig(file=f), RunOptions(out=str(out), quiet=False))
    finally:
        held.release()
    assert "1 point(s) left to the process already running them: base-s0" in capsys.readouterr().out
    assert status(out / "base-s1") == "complete" and status(out / "base-s0") == "new"
    assert (out / "base-s0.log").read_text() == "the other process's log"
    run_sweep(SweepConfig(file=f), RunOptions(out=str(out), quiet=True))
    assert status(out / "base-s0") == "complete"


def test_a_damaged_point_is_rerun_not_a_crash(tmp_path, capsys):
    f = tmp_path / "s.toml"
    f.write_text('command = "transfer inspect mnist_cnn"\nmetrics = ["total_params"]\nseeds = [0, 1]\n'
                 '[base]\nweights = "random"\n')
    out = run_sweep(SweepConfig(file=f, jobs=2), RunOptions(out=str(tmp_path / "sw"), quiet=True)).run_dir
    good = json.loads((out / "base-s0" / "metrics.json").read_text())
    (out / "base-s0" / "metrics.json").write_text('{"total_par')       # cut short
    (out / "base-s1" / "config.json").write_text("not json")           # cannot even be resumed
    capsys.readouterr()
    run_sweep(SweepConfig(file=f, jobs=1), RunOptions(out=str(out)))
    said = capsys.readouterr().out
    assert "damaged: " in said and "base-s0/metrics.json cannot be read; the point resumes" in said
    assert "base-s1/config.json cannot be read; kept as base-s1.damaged" in said
    assert json.loads((out / "base-s0" / "metrics.json").read_text())["total_params"] == good["total_params"]
    assert (out / "base-s1.damaged" / "config.json").read_text() == "not json"  # the user's files are kept
    assert json.loads((out / "metrics.json").read_text())["points"]["base"]["total_params"]["n"] == 2


def test_quick_skips_points_that_vary_what_quick_fixes():
    spec = SweepSpec(command=["adapt", "dann"], points=[{}, {"epochs": 100}, {"lr": 0.1}], quick={"epochs": 2})
    assert [p.name for p in expand(spec, quick=True)] == ["", "lr=0.1"]
    assert [p.name for p in expand(spec)] == ["", "epochs=100", "lr=0.1"]


@pytest.mark.parametrize("text,message", [
    ('command = "adapt dann"\n[base]\nepochz = 2\n', "No such option '--epochz'. Did you mean '--epochs'?"),
    ('command = "adapt dannn"\n', "unknown command 'dannn' (did you mean 'dann'?)"),
    ('command = "adapt dann"\n[[points]]\nlambda-schedule = "expo"\n', "lambda-schedule=expo"),
])
def test_bad_sweep_points_fail_before_anything_runs(tmp_path, text, message):
    f = tmp_path / "s.toml"
    f.write_text(text)
    with pytest.raises(DlappsError) as e:
        run_sweep(SweepConfig(file=f), RunOptions(out=str(tmp_path / "out"), quiet=True))
    assert message in str(e.value)
    assert not (tmp_path / "out").exists()  # nothing ran, nothing was written


def test_a_sweep_dir_accepts_more_seeds_and_other_quick_settings_but_not_changed_runs(tmp_path):
    f = tmp_path / "s.toml"
    f.write_text('command = "adapt dann"\nseeds = [0]\n[base]\nepochs = 1\n[quick]\nepochs = 1\n')
    out = tmp_path / "out"
    run_sweep(SweepConfig(file=f, select=[]),
              RunOptions(out=str(out), quiet=True))           # select nothing: records the sweep, runs no point
    f.write_text('command = "adapt dann"\nseeds = [0]\n[base]\nepochs = 1\n[quick]\nepochs = 2\n')
    run_sweep(SweepConfig(file=f, select=[]),
              RunOptions(out=str(out), quiet=True))           # [quick] does not touch these runs
    run_sweep(SweepConfig(file=f, select=[], seeds=[0, 1]),
              RunOptions(out=str(out), quiet=True))  # more seeds extend it
    f.write_text('command = "adapt dann"\nseeds = [0]\n[base]\nepochs = 3\n')
    with pytest.raises(DlappsError, match="holds a different sweep"):
        run_sweep(SweepConfig(file=f, select=[]), RunOptions(out=str(out), quiet=True))


def test_a_point_that_diverged_is_a_result_not_a_failure(tmp_path):
    # DANN with a huge λ multiplier stops itself (NaN or collapse): the sweep finishes, reports the point as
    # diverged, and a rerun does not repeat it
    f = tmp_path / "s.toml"
    f.write_text('command = "adapt dann"\n[base]\ndata-source = "embedded"\nlimit = 256\nepochs = 3\n'
                 'tsne-points = 0\nlr = 1e6\n')
    out = run_sweep(SweepConfig(file=f), RunOptions(out=str(tmp_path / "out"), quiet=True)).run_dir
    assert status(out / "base-s0") == "diverged"
    sm = json.loads((out / "metrics.json").read_text())
    assert sm["complete"] is True and sm["stopped_seeds"] == {"base": 1}
    # the table names the stopped seed rather than averaging over the seeds that remain
    assert "| base (1 of 1 seeds stopped: NaN or collapse) |" in (out / "tables" / "comparison.md").read_text()
    mtime = (out / "base-s0" / "metrics.json").stat().st_mtime_ns
    run_sweep(SweepConfig(file=f), RunOptions(out=str(tmp_path / "out"), quiet=True))
    assert (out / "base-s0" / "metrics.json").stat().st_mtime_ns == mtime


def test_settings_from_takes_the_options_a_finished_selection_picked_and_refuses_an_unfinished_one(tmp_path):
    """A benchmark sweep runs what its selection sweep's validator chose, read from that sweep's files: the
    picked point's grid values join [base]; before the selection has finished a real run stops with one line
    (a --plan goes on without them); a [base] that sets a chosen option is refused."""
    from dlapps.sweep import apply_settings_from

    sel = tmp_path / "sel"
    sel.mkdir()
    planned = {f"eps={e},norm={n}-s0": {"command": ["adapt", "dann"], "preset": "vada", "eps": e, "norm": n}
               for e in (1.0, 3.5) for n in ("standard", "instance")}
    (sel / "config.json").write_text(json.dumps({"options": {"spec": {"grid": {"eps": [1.0, 3.5],
                                                                               "norm": ["standard", "instance"]}},
                                                             "points": planned}}))
    (sel / "metrics.json").write_text(json.dumps({"complete": False}))
    spec = SweepSpec(command=["adapt", "dann"], base={"preset": "vada", "epochs": 20}, settings_from=str(sel))
    with pytest.raises(DlappsError, match="its selection has not finished.*run that sweep first"):
        apply_settings_from(spec)
    assert "none taken" in apply_settings_from(spec, required=False) and spec.base == {"preset": "vada", "epochs": 20}
    (sel / "metrics.json").write_text(json.dumps({"complete": True, "selected_point": "eps=3.5,norm=instance"}))
    assert apply_settings_from(spec) == f"settings from {sel}: eps = 3.5, norm = instance"
    assert expand(spec)[0].options == {"preset": "vada", "epochs": 20, "eps": 3.5, "norm": "instance"}
    with pytest.raises(DlappsError, match="\\[base\\] sets eps, which settings-from"):
        apply_settings_from(SweepSpec(command=["adapt", "dann"], base={"eps": 1.0}, settings_from=str(sel)))
    f = tmp_path / "bench.toml"
    f.write_text(f'command = "adapt dann"\nsettings-from = "{tmp_path / "none"}"\n[base]\nepochs = 1\n')
    assert load_spec(f).settings_from == str(tmp_path / "none")
    with pytest.raises(DlappsError, match="no selection sweep there yet; run that sweep first"):
        run_sweep(SweepConfig(file=str(f)), RunOptions(out=str(tmp_path / "out"), quiet=True))
    assert not (tmp_path / "out").exists()  # refused before anything was written
