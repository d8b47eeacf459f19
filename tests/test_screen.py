"""A screen's rule (study.toml [screens.*]) applied to runs read at their last screened epoch."""

from __future__ import annotations

import json
from pathlib import Path

from dlapps.study.results import study_spec
from dlapps.study.screen import point_name, screen_runs, verdict

SPEC = {"published": "a", "published_sweep": "2c", "readings": {"b": "", "c": "momentum=0.0"},
        "settings": {"": 4, "lambda-multiplier=3.0": 2}, "schedule_epochs": 4, "seeds": [0, 1],
        "stopped_source_acc": 0.2, "base_target": 0.75, "base_tolerance": 0.05, "tie": "b", "must_beat": "a"}


def _run(d: Path, accs: list[tuple[float, float]], diverged: bool = False) -> None:
    d.mkdir(parents=True)
    hist = [{"epoch": i + 1, "source_class_acc": s, "target_class_acc": t} for i, (s, t) in enumerate(accs)]
    (d / "config.json").write_text("{}")
    (d / "metrics.json").write_text(json.dumps({"history": hist, "diverged": diverged, "complete": not diverged}))
    (d / "report.md").write_text("done")


def _screen(tmp_path: Path, b_stops: int, c_stops: int, c_base: float = 0.76) -> tuple[dict, str]:
    pub, scr = tmp_path / "2c", tmp_path / "screen"
    good = [(0.98, 0.74)] * 4
    for seed in (0, 1):
        _run(pub / f"base-s{seed}", good)
        _run(pub / f"lambda-multiplier=3.0-s{seed}", [(0.98, 0.7)], diverged=True)   # NaN in epoch 2: stopped
        for reading, extra, stops, base in (("b", "", b_stops, 0.74), ("c", "momentum=0.0", c_stops, c_base)):
            name = point_name("", 4, 4, extra)
            _run(scr / (f"{name}-s{seed}" if name else f"base-s{seed}"), [(0.98, base)] * 4)
            x3 = point_name("lambda-multiplier=3.0", 2, 4, extra)
            _run(scr / f"{x3}-s{seed}", [(0.98, 0.7), (0.1 if seed < stops else 0.98, 0.1)])  # at chance = stopped
    runs = screen_runs(SPEC, scr, pub)
    return verdict(SPEC, runs)


def test_point_names_follow_the_sweep_file():
    assert point_name("", 20, 20, "") == ""
    assert point_name("lambda-multiplier=3.0", 8, 20, "domain-loss=bce-prob") == \
        "lambda-multiplier=3.0,stop-after=8,domain-loss=bce-prob"


def test_fewest_stops_among_qualifying_readings_wins_and_must_beat_the_published(tmp_path):
    per, outcome = _screen(tmp_path / "1", b_stops=1, c_stops=0)
    assert per["a"]["stopped"] == 2 and per["b"]["stopped"] == 1 and per["c"]["stopped"] == 0
    assert outcome.startswith("(c) wins")
    assert _screen(tmp_path / "2", b_stops=0, c_stops=0)[1].startswith("(b) wins")   # a tie goes to (b)
    assert _screen(tmp_path / "3", b_stops=2, c_stops=0, c_base=0.6)[1].endswith("(a) stays")  # c's base is off
    assert "not decided" in verdict(SPEC, screen_runs(SPEC, tmp_path / "none", tmp_path / "1" / "2c"))[1]


def test_the_study_declares_its_screen_with_its_rule():
    spec = study_spec()["screens"]["lab_protocol"]
    assert set(SPEC) <= set(spec) and spec["base_target"] == 0.748 and spec["tie"] == "b"
    sweep = (Path(__file__).resolve().parents[1] / "experiments" / spec["sweep"]).read_text()
    for setting, epochs in spec["settings"].items():  # every point the rule reads is in the sweep
        for extra in spec["readings"].values():
            name = point_name(setting, epochs, spec["schedule_epochs"], extra)
            assert all(part.split("=")[0] in sweep for part in name.split(",") if part)


def test_a_reading_whose_base_has_not_run_is_not_yet_judged_in_the_summary(tmp_path):
    from dlapps.study.screen import screen_section

    _screen(tmp_path / "1", b_stops=0, c_stops=0)
    scr = tmp_path / "1" / "screen"
    for d in scr.glob("base-s*"):  # (b)'s base has not run
        for f in d.iterdir():
            f.unlink()
        d.rmdir()
    md = "\n".join(screen_section("t", {**SPEC, "title": "t", "sweep": "t.toml"}, scr, tmp_path / "1" / "2c"))
    line = next(ln for ln in md.splitlines() if ln.startswith("| (b)") and "read (" in ln)
    assert line.endswith("| not run yet |") and "not decided" in md
    assert next(ln for ln in md.splitlines() if ln.startswith("| (c)") and "read (" in ln).endswith("| yes |")
