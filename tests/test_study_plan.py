"""``dlapps study --plan``: what is left of a study dir and its cost, measured on the dir's finished runs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from dlapps.study.plan import epochs_done, run_cost, sweep_left
from dlapps.sweep import SweepSpec


def _run(d: Path, metrics: dict | None, report: bool = True) -> None:
    d.mkdir(parents=True)
    (d / "config.json").write_text("{}")
    if metrics is not None:
        (d / "metrics.json").write_text(json.dumps(metrics))
    if report:
        (d / "report.md").write_text("done")


def test_run_cost_reads_a_danns_history_and_a_gans_step_time():
    dann = {"history": [{"train_s": 50.0, "val_s": 10.0}, {"train_s": 70.0, "val_s": 10.0}]}
    assert run_cost(dann) == (140.0, 2)
    # a resumed GAN's train_s covers its last process only: the step time × every step is its whole cost
    gan = {"timing": {"train_s": 30.0, "ms_per_step": 100.0}, "steps": 2345, "epochs_done": 5}
    assert run_cost(gan) == (pytest.approx(234.5), 5)
    assert run_cost({"test_acc": 0.9}) is None


def test_sweep_left_prices_what_is_left_from_the_epochs_its_runs_trained(tmp_path):
    spec = SweepSpec(command=["adapt", "dann"], base={"preset": "study"},
                     points=[{}, {"lr": 0.1}, {"epochs": 8}, {"lr": 0.5}], seeds=[0, 1])
    sweep = tmp_path / "2c_dann"
    _run(sweep / "base-s0", {"history": [{"train_s": 10.0}] * 20})         # 10 s an epoch
    _run(sweep / "base-s1", {"history": [{"train_s": 30.0}] * 20})         # 30 s: the base's median is 20
    _run(sweep / "lr=0.1-s0", {"history": [{"train_s": 80.0}] * 20})       # 80 s an epoch
    _run(sweep / "lr=0.1-s1", {"diverged": True, "epochs_done": 2})        # stopped itself: a result, not left
    _run(sweep / "lr=0.5-s0", {"history": [{"train_s": 12.0}]}, report=False)  # interrupted after epoch 1
    s = sweep_left(sweep, spec, quick=False, select=None)
    assert (s.finished, s.stopped) == (3, 1)
    # the preset's 20 epochs unless the point says otherwise; an interrupted run resumes after its epochs
    assert [(d, done, epochs) for d, _, done, epochs in s.left] == [
        ("epochs=8-s0", 0, 8), ("epochs=8-s1", 0, 8), ("lr=0.5-s0", 1, 20), ("lr=0.5-s1", 0, 20)]
    # epochs=8 has the base's settings but its epochs: 20 s an epoch; lr=0.5's interrupted run measured its own
    # setting's epoch (12 s), finished or not
    assert s.seconds_left() == pytest.approx(20 * 16 + 12 * (19 + 20))
    # --tables selects points: only those are priced, still from every run
    s = sweep_left(sweep, spec, quick=False, select=["lr=0.5"])
    assert [d for d, *_ in s.left] == ["lr=0.5-s0", "lr=0.5-s1"] and s.seconds_left() == pytest.approx(12 * 39)
    # a setting no run has trained an epoch of: the median over every measured run (10, 12, 30, 80)
    spec.points.append({"lr": 0.9})
    s = sweep_left(sweep, spec, quick=False, select=["lr=0.9"])
    assert s.seconds_left() == pytest.approx(21 * 40)
    # no epoch measured yet: the cost is unknown, not zero
    empty = sweep_left(tmp_path / "new", spec, quick=False, select=None)
    assert len(empty.left) == 10 and empty.seconds_left() is None


def test_epochs_done_counts_a_gans_progress_grids(tmp_path):
    d = tmp_path / "run"
    (d / "progress").mkdir(parents=True)
    for e in (1, 2, 3):
        (d / "progress" / f"epoch_{e:03d}.png").write_bytes(b"")
    assert epochs_done(d) == 3


def test_plan_writes_nothing_and_prints_the_table(tmp_path, capsys):
    from dlapps.runner.runs import RunOptions
    from dlapps.study.run import StudyConfig, run_study

    out = tmp_path / "study"
    r = run_study(StudyConfig(only=["2c"], tables=[7], plan=True), RunOptions(out=str(out)))
    text = capsys.readouterr().out
    assert "| 2c_dann | Table 7 | 0 | 0 | 6 | unknown (no epoch measured yet) |" in text
    assert r.metrics["runs_left"] == 6 and r.metrics["unmeasured"] and not out.exists()


def test_plan_and_report_count_the_replacement_seeds_a_failed_run_asks_for(tmp_path, capsys):
    """Table 8 with one stopped seed: its claims ask for seed 3 on both points of each claim the stop broke
    (verdict.py's rule); the plan lists those runs, and once they finish the claim is judged on 3 pairs."""
    from dlapps.runner.runs import RunOptions
    from dlapps.study.run import StudyConfig, run_study

    out = tmp_path / "study"
    sweep = out / "2c_dann"
    acc = {"": 0.77, "normalize=standard": 0.70, "normalize=imagenet": 0.73, "normalize=random": 0.69}
    for point, a in acc.items():
        for seed in range(3):
            m = ({"diverged": True, "epochs_done": 11} if (point, seed) == ("normalize=standard", 1) else
                 {"source": {"class_acc": 0.98, "domain_acc": 0.8}, "target": {"class_acc": a + seed / 100,
                                                                               "domain_acc": 0.6},
                  "history": [{"train_s": 60.0, "target_class_acc": a}] * 20})
            _run(sweep / f"{point or 'base'}-s{seed}", m)
    r = run_study(StudyConfig(only=["2c"], tables=[8], plan=True), RunOptions(out=str(out)))
    text = capsys.readouterr().out
    assert "| 2c_dann | Table 8 | 11 | 1 | 3 | 1.0 |" in text  # 3 runs x 20 epochs x 60 s
    assert "Replacement seeds asked for so far (verdict.py's rule, counted above): 3;" in text
    # base, standard and ImageNet at seed 3; random has no claim
    assert r.metrics["runs_left"] == 3 and r.metrics["replacement_seeds"] == 3
    for point, a in acc.items():
        if point != "normalize=random":
            _run(sweep / f"{point or 'base'}-s3", {"source": {"class_acc": 0.98}, "target": {"class_acc": a + 0.03}})
    assert run_study(StudyConfig(only=["2c"], tables=[8], plan=True), RunOptions(out=str(out))).metrics[
        "runs_left"] == 0
    from dlapps.study.report import write_study_report
    from dlapps.study.run import reference_rows, study_plans

    write_study_report(out, study_plans(quick=False), reference_rows(), 3, False, [])
    md = (out / "report.md").read_text()
    claim = next(ln for ln in md.splitlines() if ln.startswith("| MNIST statistics beat (0.5, 0.5) on the target"))
    assert "+0.0700 ± 0.0000 (3 paired seeds)" in claim and "confirmed" in claim and "seed 1: b stopped" in claim
    row = next(ln for ln in md.splitlines() if ln.startswith("| Standard |") and "Target Class Acc" in ln)
    assert "miss: 1 of 4 seeds stopped" in row and "(3 seeds)" in row


def test_plans_from_a_study_dir_never_probe_for_weights(tmp_path, monkeypatch):
    """Where the study dir shows the substitute ran (and not the study's own sweep), the plan is decided by it:
    no probe, which would start a 528 MB VGG16 download on a machine with a network."""
    import dlapps.study.run as run

    def probe(model: str) -> bool:
        raise AssertionError(f"probed for {model}'s weights")

    monkeypatch.setattr(run, "weights_available", probe)
    for e in run.entries():
        if e.spec.get("substitute"):
            (tmp_path / Path(e.spec["substitute"]).stem).mkdir(exist_ok=True)
    plans = run.study_plans(quick=False, ran_in=tmp_path)
    subs = [p for p in plans if p.mode == "substitute"]
    assert subs and all(p.entry.spec.get("needs") for p in subs)
    # with no study dir, the probe decides, once per network
    calls: list[str] = []
    monkeypatch.setattr(run, "weights_available", lambda m: calls.append(m) or False)
    assert [p.mode for p in run.study_plans(quick=False)] == [p.mode for p in plans]
    assert calls == ["vgg16"]
