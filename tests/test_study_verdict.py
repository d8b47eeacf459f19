"""The study's verdict rules (dlapps.study.verdict) on synthetic seeds, the report's counting, and the
reference file against the study's own text."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from dlapps.study.verdict import judge_claim, judge_row, mean_sd, prediction_interval

ROOT = Path(__file__).resolve().parents[1]
STUDY_TEXT = ROOT.parent / "shared" / "study" / "study-report.txt"
PUBLISHED = ROOT / "study-results"


def test_sample_sd_and_prediction_interval():
    m, sd = mean_sd([0.7, 0.8, 0.9])
    assert m == pytest.approx(0.8) and sd == pytest.approx(0.1)  # n - 1: the population sd would be 0.0816
    lo, hi = prediction_interval([0.7, 0.8, 0.9])
    assert (hi - lo) / 2 == pytest.approx(4.302653 * 0.1 * (1 + 1 / 3) ** 0.5, rel=1e-5)  # t(0.975, 2)
    assert prediction_interval([0.7]) is None


def test_row_verdicts():
    assert judge_row(0.75, [0.74, 0.78, 0.76], 0, 3, 0.05).status == "within"
    assert judge_row(0.75, [0.60, 0.62, 0.61], 0, 3, 0.05).status == "outside"
    # a seed that stopped is a miss even when the others are spot on
    v = judge_row(0.75, [0.75, 0.75], 1, 3, 0.05)
    assert v.status == "stopped" and v.text == "miss: 1 of 3 seeds stopped (finished seeds within ±0.05)" and v.judged
    # ... and says where its finished seeds lie, so a summary cannot hide a disagreement behind the stop
    assert v.finished == "within"
    assert judge_row(0.75, [0.60, 0.62], 1, 3, 0.05).finished == "outside"
    assert judge_row(0.75, [], 3, 3, 0.05).finished == "none"
    # a collapsed seed's value is in the mean but not among the finished seeds the split reads
    assert judge_row(0.75, [0.75, 0.1], 0, 2, 0.05, collapsed=1, healthy=[0.75]).finished == "within"
    # an accuracy's interval stays in [0, 1]
    assert judge_row(0.99, [0.97, 0.999, 0.93], 0, 3, 0.05, bounded=True).in_spread.endswith("1.0000]")
    # so is a seed that ran to the end collapsed (its number is among the values)
    v = judge_row(0.75, [0.75, 0.75, 0.11], 0, 3, 0.05, collapsed=1, healthy=[0.75, 0.75])
    assert v.status == "stopped" and v.text == "miss: 1 of 3 seeds collapsed (finished seeds within ±0.05)"
    # a point that never ran is counted, as a miss
    assert judge_row(0.75, [], 0, 3, 0.05).status == "not run" and judge_row(0.75, [], 0, 3, 0.05).judged
    # substitutes, rows without a band and repeats are shown, never counted
    for v in (judge_row(0.75, [0.75] * 3, 0, 3, 0.05, substitute=True), judge_row(0.75, [0.75] * 3, 0, 3, None),
              judge_row(0.75, [0.75] * 3, 0, 3, 0.05, repeat_of="Table 5")):
        assert not v.judged
    # the study's number against the spread: inside the prediction interval of [0.7, 0.8, 0.9], not of a tight one
    assert judge_row(0.75, [0.7, 0.8, 0.9], 0, 3, 0.05).in_spread.startswith("yes")
    assert judge_row(0.75, [0.80, 0.801, 0.802], 0, 3, 0.10).in_spread.startswith("no")


def test_claims_are_paired_over_seeds():
    a = {0: 0.80, 1: 0.70, 2: 0.75}
    b = {0: 0.78, 1: 0.68, 2: 0.73}    # a beats b by 0.02 on every seed, though the seeds spread by 0.1
    v = judge_claim(+0.025, a, b)
    assert v.status == "confirmed" and v.n == 3 and v.mean == pytest.approx(0.02) and v.sd == pytest.approx(0)
    assert judge_claim(-0.05, a, b).status == "opposite sign"
    noisy = {0: 0.80, 1: 0.66, 2: 0.76}  # differences +0.02, -0.02, +0.01: no sign to speak of
    assert judge_claim(+0.025, noisy, b).status == "not distinguishable"
    assert judge_claim(+0.025, {0: 0.8, 1: 0.7}, b).status == "too few seeds"
    # the study saw no difference (study a - b = 0): a clear one "differs", none found is "not distinguishable"
    v = judge_claim(0.0, a, b)
    assert v.status == "differs" and v.text == "differs at 3 seeds (the study saw no difference)"
    assert judge_claim(0.0, noisy, b).status == "not distinguishable"
    # unpaired seeds are not used; stopped runs are named
    v = judge_claim(+0.025, {0: 0.80, 1: 0.70, 2: 0.75, 3: 0.9}, b, stopped_b={3})
    assert v.n == 3 and v.dropped == ["seed 3: b stopped"]
    assert judge_claim(0.1, {}, b).status == "not run"
    # a collapsed run wins or loses by a failure's size: no verdict, whatever the sign (Table 9's cosine here)
    dead = {0: 0.11, 1: 0.11, 2: 0.11}
    assert judge_claim(-0.0645, dead, b).status == "confirmed"
    v = judge_claim(-0.0645, dead, b, collapsed={0, 1, 2})
    assert v.status == "collapsed seeds" and v.mean == pytest.approx(-0.62) and v.text.startswith(
        "no verdict: 3 of 3 paired seeds collapsed")


def test_replacement_seeds_repair_occasional_failures_and_keep_systematic_ones():
    from dlapps.study.verdict import replacement_seeds

    ok3 = {0: "ok", 1: "ok", 2: "ok"}
    assert replacement_seeds(ok3, ok3) == []                                  # 3 pairs: nothing to repair
    one = {0: "ok", 1: "failed", 2: "ok"}
    assert replacement_seeds(one, ok3) == [3]                                 # seed 3 on both points
    assert replacement_seeds(one, {**ok3, 3: "pending"}) == [3]               # seed 3 running: wait for it
    assert replacement_seeds({**one, 3: "ok"}, {**ok3, 3: "ok"}) == [3]       # 3 pairs now: done
    assert replacement_seeds({**one, 3: "failed"}, {**ok3, 3: "ok"}) == [3, 4]  # failed again: seed 4
    assert replacement_seeds({**one, 3: "failed", 4: "failed"}, {**ok3, 3: "ok", 4: "ok"}) == [3, 4]  # 5 at most
    assert replacement_seeds(one, {0: "ok", 1: "failed", 2: "ok"}) == [3]    # both failed on the same seed
    other = {0: "failed", 1: "ok", 2: "ok"}                                   # different seeds: 1 pair left
    assert replacement_seeds(one, other) == [3]
    assert replacement_seeds({**one, 3: "ok"}, {**other, 3: "ok"}) == [3, 4]   # 2 pairs after seed 3: seed 4
    # a point that fails on 2 of its 3 seeds fails by rule (Table 9's cosine failed on all 3): no more seeds
    assert replacement_seeds({0: "failed", 1: "failed", 2: "ok"}, ok3) == []
    # the first seeds are still running: nothing is decided yet
    assert replacement_seeds({0: "failed", 1: "ok"}, ok3) == []


def test_a_collapsed_pair_is_set_aside_once_replacement_seeds_give_three_healthy_pairs():
    b = {0: 0.70, 1: 0.71, 2: 0.69, 3: 0.70}
    a = {0: 0.75, 1: 0.11, 2: 0.74, 3: 0.76}
    v = judge_claim(0.05, a, b, collapsed={1})
    assert v.status == "confirmed" and v.n == 3 and v.mean == pytest.approx(0.0533, abs=1e-4)
    assert v.dropped == ["seed 1: collapsed"]
    # with only seeds 0-2 the collapsed pair leaves 2 healthy ones: no verdict, and the collapse is named
    v = judge_claim(0.05, {k: a[k] for k in range(3)}, {k: b[k] for k in range(3)}, collapsed={1})
    assert v.status == "collapsed seeds" and v.n == 3


def _fake_sweep(d: Path, point_values: dict[str, dict[int, float | str]]) -> None:
    """Finished (or diverged: value 'stopped') runs of the study's DANN sweep with given target accuracies."""
    for point, seeds in point_values.items():
        for seed, val in seeds.items():
            run = d / f"{point or 'base'}-s{seed}"
            run.mkdir(parents=True)
            (run / "config.json").write_text("{}")
            if val == "stopped":
                m = {"diverged": True, "complete": False, "epochs_done": 5}
            elif val == "collapsed":  # ran to the end with every image in one class (an explosion in epoch 1)
                m = {"source": {"class_acc": 0.1135, "domain_acc": 1.0}, "target": {"class_acc": 0.1129,
                                                                                     "domain_acc": 0.015},
                     "history": [{"target_class_acc": 0.1129}, {"target_class_acc": 0.1129}]}
            else:
                m = {"source": {"class_acc": 0.98, "domain_acc": 0.8}, "target": {"class_acc": val, "domain_acc": 0.6},
                     "history": [{"target_class_acc": val - 0.1}, {"target_class_acc": val}]}
            (run / "metrics.json").write_text(json.dumps(m))
            (run / "report.md").write_text("done")


def test_report_counts_misses_and_claims_and_never_a_substitute(tmp_path, monkeypatch):
    from dlapps.study.report import write_study_report
    from dlapps.study.run import reference_rows, study_plans

    out = tmp_path / "study"
    plans = study_plans(quick=False)
    for p in plans:  # as if VGG16's weights were missing: Tables 2-3 run their substitutes
        if p.entry.key in ("2", "3"):
            assert p.mode == "substitute"
    _fake_sweep(out / "2c_dann", {
        "": {0: 0.75, 1: 0.76, 2: 0.74},                          # Table 5's target: within band
        "lr-step=per-step": {0: 0.77, 1: 0.78, 2: 0.76},          # +0.02 on every seed: confirmed
        "lambda-multiplier=2.0": {0: 0.75, 1: "stopped", 2: 0.73},  # one seed stopped: a miss
        "lambda-multiplier=3.0": {0: 0.80, 1: 0.81, 2: 0.79},
        "normalize=standard": {0: 0.75, 1: 0.74, 2: "collapsed"},  # one seed collapsed: a miss, its number kept
        # the study: cosine loses 0.0645 against exp; here it wins by 0.05 on every seed: opposite sign
        "lambda-schedule=cosine,lambda-start=1.0,lambda-end=0.0": {0: 0.80, 1: 0.81, 2: 0.79},
        "lambda-update=per-epoch": {0: 0.75, 1: 0.76, 2: 0.74},
        "lambda-update=per-epoch,lambda-multiplier=2.0": {0: 0.75, 1: "stopped", 2: 0.73},  # a reading's miss
    })
    _fake_sweep(out / "2a_layers_substitute", {"layer=pool": {0: 0.9}})
    (out / "2a_layers_substitute" / "layer=pool-s0" / "metrics.json").write_text(json.dumps({"test_acc": 0.886,
                                                                                             "train_acc": 1.0}))
    for p in plans:  # an explanation is shown on a miss only (a row that more seeds brought inside has none)
        if p.entry.key in ("5", "10"):
            monkeypatch.setitem(p.entry.spec, "explain", {"Target MNIST-M|Class Accuracy": "stale note",
                                                          "2|Tgt G_y Acc": "why x2 stops",
                                                          "2": "the whole row"})  # the cached spec
            monkeypatch.setitem(p.entry.spec, "explain_points", {
                "lambda-update=per-epoch,lambda-multiplier=2.0": "why per-epoch x2 stops",
                "lambda-update=per-epoch": "never shown: this point is within its band"})
    write_study_report(out, plans, reference_rows(), 3, False, [])
    md = (out / "report.md").read_text()
    rows = {tuple(c.strip() for c in ln.split("|")[1:3]): ln for ln in md.splitlines() if ln.startswith("| ")}
    # a miss's reason is printed once, in the run note of the point its rows read, which they point to
    notes = {ln.split("**")[1]: ln for ln in md.splitlines() if ln.startswith("- **R")}
    x2 = rows[("2", "Tgt G_y Acc")].split("|")[-2].strip()
    assert "stale note" not in md and "why x2 stops" in notes[x2] and "the whole row" in notes[x2]
    assert rows[("2", "Src G_y Acc")].split("|")[-2].strip() == x2 and md.count("why x2 stops") == 1
    assert "seed 1: loss NaN in epoch 6" in notes[x2]  # what the run did, from its own files
    assert "yes (±0.05)" in rows[("Target MNIST-M", "Class Accuracy")]
    # an alternative reading's miss shows its own sentence, still not counted
    reading = rows[("2 → `lambda-update=per-epoch,lambda-multiplier=2.0`", "Tgt G_y Acc")]
    ref = reading.split("|")[-2].strip().split("; ")[-1]
    assert "alternative reading: not counted" in reading and "miss" in reading
    assert "why per-epoch x2 stops" in notes[ref]
    assert "never shown" not in md
    # a stop on one seed of three asks for a replacement seed (3) on both points of its claims: the stop stays
    # counted, out of 4 planned seeds now, and the seed not run yet is named
    assert "miss: 1 of 4 seeds stopped" in rows[("2", "Tgt G_y Acc")]
    assert "seed 1 stopped after epoch 5; seed 3 not run yet" in rows[("2", "Tgt G_y Acc")]
    standard = [ln for ln in md.splitlines() if ln.startswith("| Standard |") and "Target Class Acc" in ln][0]
    assert "miss: 1 of 4 seeds collapsed" in standard and "seed 2 collapsed (source accuracy 0.1135: chance)" in standard
    assert f"{(0.75 + 0.74 + 0.1129) / 3:.4f}" in standard  # the collapsed seed's real number stays in the mean
    # a substitute row names both networks; a row whose network has no substitute never ran, and counts
    assert "substitute: not judged" in rows[("VGG16 relu7 → mobilenet_v2 `layer=pool`", "Test Accuracy")]
    assert "| not run |" in rows[("ResNet50 → no substitute here (not run)", "Test Accuracy")]
    # Table 6-10's base rows read Table 5's runs: counted once
    assert "same runs as Table 5: shown and counted there" in rows[("20 epochs", "every column")]
    assert ("20 epochs", "Tgt G_y Acc") not in rows  # Table 5's numbers are printed once
    claims: dict[str, str] = {}
    for ln in md.splitlines():  # the table's own claims come before the alternative readings' claims
        if ln.startswith("| "):
            claims.setdefault(ln.split("|")[1].strip(), ln)
    assert "confirmed" in claims["the learning rate stepped per step beats per epoch on the target"]
    per_step = claims["the learning rate stepped per step beats per epoch on the target"]
    assert "+0.0200 ± 0.0000 (3 paired seeds)" in per_step
    cosine = claims["the cosine λ schedule loses target accuracy against the exponential one"]
    assert "| -0.0645 |" in cosine and "+0.0500 ± 0.0000 (3 paired seeds)" in cosine and "opposite sign" in cosine
    three_two = claims["× 3 loses target accuracy against × 2"]  # × 2's seed 1 stopped: two pairs left
    assert "too few seeds (2 paired" in three_two and "seed 1: b stopped; seed 3 not run yet" in three_two
    assert "opposite sign" in claims["× 3 loses source accuracy against × 1"] or "not distinguishable" in claims[
        "× 3 loses source accuracy against × 1"]
    summary = md.split("## Summary")[1].split("</div>")[0]
    assert re.search(r"substitutes: \d+ rows, not judged", summary)
    assert "Claims**: 1 confirmed, 1 opposite sign" in summary
    t2 = next(ln for ln in summary.splitlines() if ln.startswith("| Table 2 "))
    assert "within band" not in t2 and "substitutes: 8 rows" in t2
    assert (out / "figures" / "table5_epochs.png").exists()


def test_the_gan_figures_claims_are_judged_on_the_sign_of_the_studys_words(tmp_path):
    """Section 2-de has pictures, not numbers: a claim there carries the direction the study's words imply
    ("lacked diversity": a higher class KL), and only that sign is judged, on paired seeds, across figure groups
    too (cGAN against DCGAN)."""
    from dlapps.study.report import write_study_report
    from dlapps.study.run import reference_rows, study_plans

    out = tmp_path / "study"

    def runs(sweep: str, points: dict[str, dict[int, dict[str, float]]]) -> None:
        for point, seeds in points.items():
            for seed, m in seeds.items():
                run = out / sweep / f"{point}-s{seed}"
                run.mkdir(parents=True)
                (run / "config.json").write_text("{}")
                (run / "metrics.json").write_text(json.dumps(m))
                (run / "report.md").write_text("done")
                if seed == 0:  # the samples grid a GAN run draws
                    import numpy as np
                    from matplotlib import pyplot as plt

                    (run / "figures").mkdir()
                    plt.imsave(run / "figures" / "samples.png", np.full((8, 8), 0.5), cmap="gray")

    base = {s: {"class_kl": 0.02 + s / 100, "classifier_fid": 60.0 + 10 * s} for s in range(3)}
    runs("2de_dcgan", {
        "base": base,
        # nz = 10: KL up by 0.05 on every seed, the study's "lacked diversity": confirmed
        "nz=10": {s: {"class_kl": v["class_kl"] + 0.05, "classifier_fid": 70.0} for s, v in base.items()},
        # nz = 1000: KL up too, where the study saw "more diverse": opposite sign
        "nz=1000": {s: {"class_kl": v["class_kl"] + 0.03 + 0.001 * s, "classifier_fid": 70.0} for s, v in base.items()},
        # the default init: FID +5, -5, +1: no sign at 3 seeds
        "init=default": {s: {"class_kl": 0.0, "classifier_fid": v["classifier_fid"] + d}
                         for (s, v), d in zip(base.items(), (5, -5, 1))},
    })
    runs("2de_cgan", {"base": {s: {"class_kl": 0.001, "classifier_fid": v["classifier_fid"] - 20} for s, v in
                               base.items() if s < 2}})  # two seeds so far: too few for a verdict
    write_study_report(out, study_plans(quick=False), reference_rows(), 3, False, [])
    md = (out / "report.md").read_text()
    claims = {ln.split("|")[1].strip(): ln for ln in md.splitlines() if ln.startswith("| ")}
    nz10 = claims["nz = 10 lacks diversity"]
    assert nz10.split("|")[4].strip() == "higher"
    # each claim quotes the sentence it tests and ends in one line: the study said -> dlapps found
    said = [ln for ln in md.splitlines() if ln.startswith("- *nz = 10 lacks diversity*")]
    assert said == ["- *nz = 10 lacks diversity*: the study said “The generated images lacked diversity.” (pp. "
                    "30-33) → dlapps found +0.0500 ± 0.0000 (3 paired seeds), confirmed."]
    assert "+0.0500 ± 0.0000 (3 paired seeds)" in nz10 and nz10.rstrip(" |").endswith("confirmed")
    assert "opposite sign" in claims["nz = 1000 gives more diverse images"]
    assert "not distinguishable at 3 seeds" in claims[
        "the custom N(0, 0.02) initialisation makes more real digits than PyTorch's default"]
    assert "not run" in claims["CIFAR-10: 10 epochs improve slightly on 5"]
    quality = claims["the cGAN's digits are of better quality than the DCGAN's (5 epochs)"]
    assert "`base` − `base` (Figures 37-42)" in quality and "-20.0 ± 0.0 (2 paired seeds)" in quality  # FID to 0.1
    assert "too few seeds (2 paired" in quality
    # each GAN point over its finished seeds, the missing ones named
    points = {ln.split("|")[1].strip(): ln for ln in md.split("### Figures 37-42")[1].splitlines() if ln.startswith("| `")}
    assert "0.0800 ± 0.0100 (3 seeds)" in points["`nz=10`"] and points["`nz=10`"].rstrip(" |").endswith("complete")
    assert points["`ngf=64`"].rstrip(" |").endswith("3 of 3 not run")
    # the study compares settings by their pictures: every point's seed-0 samples in one figure
    assert "![Figures 37-42 samples](figures/2de_dcgan_samples.png)" in md
    assert (out / "figures" / "2de_dcgan_samples.png").stat().st_size > 0
    summary = md.split("## Summary")[1].split("</div>")[0]
    dcgan = next(ln for ln in summary.splitlines() if ln.startswith("| Figures 37-42 "))
    assert "1 confirmed, 1 opposite sign, 1 not distinguishable, 5 not run" in dcgan  # runtime: no timing here
    assert "1 confirmed, 1 opposite sign" in summary.split("**Claims**:")[1].splitlines()[0]


def _text_tables() -> dict[int, list[float]]:
    """Every number in the study text's Tables 4-10 (percentages as fractions)."""
    text = STUDY_TEXT.read_text(encoding="utf-8")
    lines = text.splitlines()
    out: dict[int, list[float]] = {}
    for i, line in enumerate(lines):
        m = re.match(r"\s*Table (\d+):", line)
        if not m or not 4 <= int(m.group(1)) <= 10:
            continue
        n = int(m.group(1))
        # the table's rows: the markdown block just above the caption (or just below it, Table 7)
        block: list[str] = []
        for j in list(range(i - 1, max(0, i - 15), -1)):
            if lines[j].startswith("|"):
                block.append(lines[j])
            elif block:
                break
        if not block:
            for j in range(i + 1, min(len(lines), i + 15)):
                if lines[j].startswith("|"):
                    block.append(lines[j])
                elif block:
                    break
        vals = []
        for row in block:
            if set(row) <= set("|- "):
                continue
            for cell in row.split("|")[1:-1]:
                for part in cell.split("/"):
                    part = part.strip()
                    if re.fullmatch(r"\d+(\.\d+)?%|\d+(\.\d+)?(e-?\d+)?", part):
                        is_pct = part.endswith("%") or (re.fullmatch(r"\d{2,3}\.\d+", part) is not None)
                        v = float(part.rstrip("%"))
                        vals.append(v / 100 if is_pct else v)
        out[n] = vals
    return out


@pytest.mark.skipif(not STUDY_TEXT.exists(), reason="the study text (../shared/study) is not here")
def test_every_number_of_tables_4_to_10_is_in_the_reference_file():
    from dlapps.study.run import reference_rows

    refs = reference_rows()
    tables = _text_tables()
    assert set(tables) == set(range(4, 11))
    for n, vals in tables.items():
        ours = [r["value"] for r in refs if r["table"] == str(n) and isinstance(r["value"], float)]
        # Tables 6 and 10 also list the multiplier / epoch labels (1, 2, 3, 20, 50, 100): not values
        labels = {1.0, 2.0, 3.0, 20.0, 50.0, 100.0} if n in (6, 10) else set()
        missing = [v for v in vals if v not in labels and not any(abs(v - o) < 1e-9 for o in ours)]
        assert not missing, (n, missing)
        assert len(ours) >= len([v for v in vals if v not in labels]), n


@pytest.mark.skipif(not (PUBLISHED / "report.md").exists(), reason="no published study in this checkout")
def test_the_published_report_rebuilds_identically_from_the_published_results(tmp_path):
    import shutil

    from dlapps.study.run import StudyConfig, run_study

    copy = tmp_path / "study-results"
    shutil.copytree(PUBLISHED, copy, ignore=shutil.ignore_patterns("checkpoints", "tb"))
    for f in ("report.md", "report.html"):  # the study's own report goes; the runs' reports stay (they mark done)
        (copy / f).unlink()
    from dlapps.runner.runs import RunOptions

    run_study(StudyConfig(report_only=True), RunOptions(out=str(copy), quiet=True))
    assert (copy / "report.md").read_text(encoding="utf-8") == (PUBLISHED / "report.md").read_text(encoding="utf-8")
    # the HTML links its figures (kept beside it, not inlined): identical too, and every figure exists
    assert (copy / "report.html").read_text(encoding="utf-8") == (PUBLISHED / "report.html").read_text(encoding="utf-8")
    assert "data:image/png" not in (PUBLISHED / "report.html").read_text(encoding="utf-8")
    for ref in re.findall(r"\]\(([^)]+\.png)\)", (PUBLISHED / "report.md").read_text(encoding="utf-8")):
        assert (copy / ref).exists(), ref


def test_the_readme_study_block_is_generated_from_the_published_results():
    import subprocess
    import sys

    p = subprocess.run([sys.executable, str(ROOT / "scripts" / "study_readme.py"), "--check"], capture_output=True,
                       text=True)
    assert p.returncode == 0, p.stdout + p.stderr


def test_report_only_lists_a_damaged_point_instead_of_raising(tmp_path):
    from dlapps.runner.runs import RunOptions
    from dlapps.study.run import StudyConfig, run_study

    out = tmp_path / "study"
    _fake_sweep(out / "2c_dann", {"": {0: 0.75, 1: 0.76, 2: 0.74}})
    (out / "2c_dann" / "base-s1" / "metrics.json").write_text('{"target": {"class_')  # cut short
    r = run_study(StudyConfig(report_only=True), RunOptions(out=str(out), quiet=True))
    md = (out / "report.md").read_text()
    row = next(ln for ln in md.splitlines() if ln.startswith("| Target MNIST-M | Class Accuracy |"))
    assert "(2 seeds)" in row and "damaged: seed 1" in row
    assert r.metrics["rows_judged"] >= 1


def test_a_gan_that_records_mode_collapse_counts_as_collapsed_and_resumed_timings_are_not_paired():
    from dlapps.study.results import run_collapse, untimed

    assert run_collapse({"failures": ["class coverage collapse: only 6 of 10 classes have >= 2 % (mode "
                                      "collapse)"]}, "generate") == "class coverage collapse"
    assert run_collapse({"source": {"class_acc": 0.11}}, "adapt") == "source accuracy 0.1100: chance"
    assert run_collapse({"source": {"class_acc": 0.98}, "failures": []}, "adapt") is None
    assert run_collapse({"source": {"class_acc": 0.11}}, "generate") is None  # each app reads its own metrics
    assert untimed({"epochs_done": 30, "timing": {"epochs_timed": 2}}) == "timed over 2 of its 30 epochs (resumed)"
    assert untimed({"epochs_done": 30, "timing": {"epochs_timed": 30}}) is None


def test_published_claims_are_earned():
    """On the published study: a claim true by construction is not counted, mode collapse is judged against the
    DCGAN, CIFAR-10's collapsed seeds give no verdict, a timing from resumed runs is not paired, and the two
    statements of the text that a table can judge are claims."""
    md = (ROOT / "study-results" / "report.md").read_text()
    rows = {ln.split("|")[1].strip(): ln for ln in md.splitlines() if ln.startswith("| ")}
    diverse = next(v for k, v in rows.items() if k.startswith("the cGAN's digits are more diverse"))
    assert "not testable here" in diverse
    collapse = next(v for k, v in rows.items() if k.startswith("without the label in the discriminator"))
    assert "(Figures 37-42)" in collapse
    assert "no verdict" in rows["CIFAR-10: 10 epochs improve slightly on 5"]
    slower = next(v for k, v in rows.items() if k.startswith("the cGAN trains slower"))
    assert "(resumed)" in slower
    assert any(k.startswith("ImageNet statistics push the target domain accuracy past the source's") for k in rows)
    assert any(k.startswith("× 3 lowers the source domain accuracy against × 1") for k in rows)


def test_findings_are_read_from_the_published_runs():
    """The report's Findings type no number: each comes from the runs in the study dir (a missing diagnostic says
    so instead)."""
    from dlapps.study.findings import findings_section

    study = ROOT / "study-results"
    text = "\n".join(findings_section(study, "readings/ganin_shuffled", "the earlier protocol"))
    base = [json.loads((study / "diagnostics" / "momentum_zero" / f"base-s{s}" / "metrics.json").read_text())
            for s in range(3)]
    assert ", ".join(f"{m['target']['class_acc']:.3f}" for m in base) in text
    peak = max(r["lambda"] * r["lr"] for s in range(5) for r in json.loads(
        (study / "readings" / "ganin_shuffled" / "2c_dann" / f"base-s{s}" / "metrics.json").read_text())["history"])
    assert f"largest reversed step is λ·μ = {peak:.2g} (5 seeds, `readings/ganin_shuffled/2c_dann/base`)" in text
    assert "Written about the runs of an earlier protocol (the earlier protocol)" in text
    empty = "\n".join(findings_section(ROOT / "no-such-study"))
    assert "is not in this study dir" in empty and "0." not in empty


def test_a_run_trained_to_its_end_collapsed_is_read_at_its_last_epoch(tmp_path):
    """Runs that record a collapse and train on (the study's way) are read like any seed in a row: one that never
    recovered is simply far outside the band. A claim still does not pair it. Older runs stopped at a collapse,
    or ran on without the per-epoch flag, stay misses."""
    from dlapps.study.results import point_seeds
    from dlapps.sweep import SweepSpec

    def run(name: str, target: float, source: float, flagged: bool) -> None:
        d = tmp_path / name
        d.mkdir()
        (d / "config.json").write_text("{}")
        (d / "report.md").write_text("done")
        row = {"epoch": 1, "target_class_acc": target, "source_class_acc": source, **({"collapsed": 1.0} if flagged
                                                                                       else {})}
        (d / "metrics.json").write_text(json.dumps({"source": {"class_acc": source}, "target": {"class_acc": target},
                                                    "history": [row], "complete": True}))

    run("base-s0", 0.75, 0.98, True)
    run("base-s1", 0.76, 0.98, True)
    run("base-s2", 0.11, 0.11, True)   # collapsed and never recovered, trained to its end
    spec = SweepSpec(command=["adapt", "dann"], seeds=[0, 1, 2])
    s = point_seeds(tmp_path, spec, False, "", "target.class_acc")
    assert s.collapsed == {} and list(s.collapsed_at_end) == [2] and len(s.vals) == 3
    v = judge_row(0.75, s.vals, len(s.stopped), s.planned, 0.05, collapsed=len(s.collapsed))
    assert v.status == "outside"  # the mean of all three last epochs, far from the band
    (tmp_path / "base-s2" / "metrics.json").write_text(json.dumps({"source": {"class_acc": 0.11}, "target": {
        "class_acc": 0.11}, "history": [{"epoch": 1, "target_class_acc": 0.11, "source_class_acc": 0.11}]}))
    old = point_seeds(tmp_path, spec, False, "", "target.class_acc")
    assert list(old.collapsed) == [2]  # no per-epoch flag: an older run, still a miss
    assert judge_row(0.75, old.vals, 0, 3, 0.05, collapsed=1).status == "stopped"


def test_an_earlier_protocol_is_shown_under_each_table_and_never_counted(tmp_path, monkeypatch):
    """A rerun under a new protocol keeps the old runs: each table of their section shows them as a reading with its
    own verdicts and run notes (labels apart from the study's), tallied on their own line, never in the counts."""
    from dlapps.study.report import write_study_report
    from dlapps.study.results import study_spec
    from dlapps.study.run import reference_rows, study_plans

    out = tmp_path / "study"
    _fake_sweep(out / "2c_dann", {"": {0: 0.75, 1: 0.76, 2: 0.74}})
    _fake_sweep(out / "old" / "2c_dann", {"": {0: 0.60, 1: "stopped", 2: 0.62}})
    monkeypatch.setitem(study_spec(), "protocols", {"old": {
        "title": "the old way", "dir": "old", "sections": ["2c"], "why": "A screen replaced it.",
        "explain": {"5": {"Target MNIST-M": "why the old base missed"}}}})
    plans = study_plans(quick=False)
    before = write_study_report(out, plans, reference_rows(), 3, False, [])
    md = (out / "report.md").read_text()
    old = md.split("**The same rows under an earlier protocol**: the old way")[1].split("###")[0]
    target = next(ln for ln in old.splitlines() if ln.startswith("| Target MNIST-M | Class Accuracy |"))
    assert "0.6100" in target and "seed 1 stopped" in target and "miss" in target
    assert "- **P1.1** `base`" in old and "why the old base missed" in old  # its own notes and reasons
    assert "**Claims of Table 5 under that protocol** (not counted)" in old  # each side read from its runs
    table6 = md.split("### Table 6")[1].split("**The same rows under an earlier protocol**")[1]
    assert "same runs as Table 5: shown there" in table6 and "counted there" not in table6.split("###")[0]
    assert "[old/2c_dann/report.md](old/2c_dann/report.md)" in old
    new = next(ln for ln in md.split("**The same rows under")[0].splitlines()
               if ln.startswith("| Target MNIST-M | Class Accuracy |"))
    assert "0.7500" in new and "yes (±0.05)" in new
    assert "**Under an earlier protocol** (the old way; not counted above): 0/" in md and "A screen replaced it." in md
    # the study's counts are those of its own runs: the same as without the old runs
    import shutil
    shutil.rmtree(out / "old")
    after = write_study_report(out, plans, reference_rows(), 3, False, [])
    assert {k: v for k, v in before.items() if k != "protocols"} == {k: v for k, v in after.items() if k != "protocols"}
    assert before["protocols"]["old"]["rows_judged"] > 0 and after["protocols"] == {}
    assert "earlier protocol" not in (out / "report.md").read_text()


def test_the_domain_accuracy_at_the_notebooks_threshold_is_a_reading_of_the_same_runs(tmp_path):
    """Runs that record the domain accuracy at the notebook's threshold show it under the table, each point once,
    with the verdict it would get and never counted; runs without it (older ones) give no such block."""
    from dlapps.study.report import write_study_report
    from dlapps.study.run import reference_rows, study_plans

    out = tmp_path / "study"
    _fake_sweep(out / "2c_dann", {"": {0: 0.75, 1: 0.76, 2: 0.74}})
    plans = study_plans(quick=False)
    counts = write_study_report(out, plans, reference_rows(), 3, False, [])
    assert "course notebook evaluates it" not in (out / "report.md").read_text()
    for s in range(3):
        f = out / "2c_dann" / f"base-s{s}" / "metrics.json"
        m = json.loads(f.read_text())
        m["source"]["domain_acc_logit05"], m["target"]["domain_acc_logit05"] = 0.83, 0.30
        f.write_text(json.dumps(m))
    again = write_study_report(out, plans, reference_rows(), 3, False, [])
    md = (out / "report.md").read_text()
    assert md.count("course notebook evaluates it") == 1  # Table 5 shows the base; Tables 6-10 read the same runs
    block = md.split("course notebook evaluates it")[1].split("\n\n")[1]
    src = next(ln for ln in block.splitlines() if ln.startswith("| Source MNIST | Domain Accuracy |"))
    tgt = next(ln for ln in block.splitlines() if ln.startswith("| Target MNIST-M | Domain Accuracy |"))
    assert "0.8300" in src and "yes (±0.1)" in src and "`source.domain_acc_logit05`; not counted" in src
    assert "0.3000" in tgt and "no" in tgt.split("|")[6]
    assert counts == again  # never counted


def test_a_run_still_going_is_not_described_in_the_run_notes(tmp_path):
    """The report is a function of the finished results: a point still training (its metrics.json written after
    each epoch, no report yet) reads as not run, not as 'trained all 2 epochs'."""
    from dlapps.study.report import write_study_report
    from dlapps.study.run import reference_rows, study_plans

    out = tmp_path / "study"
    _fake_sweep(out / "2c_dann", {"": {1: 0.76}})
    going = out / "2c_dann" / "base-s0"
    going.mkdir(parents=True)
    (going / "config.json").write_text("{}")
    (going / "metrics.json").write_text(json.dumps({"complete": False, "epochs_done": 2, "history": [
        {"target.class_acc": 0.5, "source.class_acc": 0.9}, {"target.class_acc": 0.6, "source.class_acc": 0.95}]}))
    write_study_report(out, study_plans(quick=False), reference_rows(), 3, False, [])
    note = next(ln for ln in (out / "report.md").read_text().splitlines() if ln.startswith("- **R1** `base`"))
    assert "seed 0: not run yet" in note and "seed 1: trained" in note


def test_a_control_the_study_did_not_run_shows_the_tables_run_minus_it_on_paired_seeds(tmp_path):
    """Table 5's λ = 0 row (study.toml extra_points) is never judged; it carries base − control per paired seed,
    and only once two seeds pair (one seed has no spread)."""
    from dlapps.study.report import write_study_report
    from dlapps.study.run import reference_rows, study_plans

    out = tmp_path / "study"
    _fake_sweep(out / "2c_dann", {"": {0: 0.75, 1: 0.76, 2: 0.74}, "lambda-multiplier=0.0": {0: 0.50}})
    plans = study_plans(quick=False)
    counts = write_study_report(out, plans, reference_rows(), 3, False, [])
    row = lambda md: next(ln for ln in md.splitlines() if ln.startswith("| λ = 0") and "Target MNIST-M" in ln
                          and "Class Accuracy" in ln)
    assert "the table's run − this" not in row((out / "report.md").read_text())
    _fake_sweep(out / "2c_dann", {"lambda-multiplier=0.0": {1: 0.52, 2: 0.51}})
    again = write_study_report(out, plans, reference_rows(), 3, False, [])
    tgt = row((out / "report.md").read_text())
    # per seed: 0.25, 0.24, 0.23 -> mean 0.24, sd 0.01
    assert "not in the study; the table's run − this: +0.2400 ± 0.0100 (3 paired seeds), 95 % CI [+0.2152, +0.2648]" in tgt
    assert counts == again  # never counted
