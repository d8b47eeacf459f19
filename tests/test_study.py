"""The study: presets, the lab's DANN step against a minimal implementation, the reference file and
`dlapps study` on embedded data."""

from __future__ import annotations

import json
from pathlib import Path
import math

import numpy as np
import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from dlapps import DlappsError
from dlapps.adapt import DannConfig
from dlapps.adapt.dann import dann_step
from dlapps.adapt.data import _to_rgb28
from dlapps.adapt.networks import build_dann
from dlapps.adapt.schedules import lambda_at, lr_at
from dlapps.cli import main
from dlapps.runner.presets import preset_config, preset_options
from dlapps.runner.runs import RunOptions
from dlapps.study.run import StudyConfig, entries, reference_rows, run_study, sweep_path


# ------------------------------------------------------------------- the lab's DANN, written plainly
class _Reverse(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, lam):  # type: ignore[override]
        ctx.lam = lam
        return x.clone()

    @staticmethod
    def backward(ctx, g):  # type: ignore[override]
        return -ctx.lam * g, None


class LabDANN(nn.Module):
    """The RDFIA 2-c notebook's network as written there: conv-ReLU-pool twice with padding 2."""

    def __init__(self) -> None:
        super().__init__()
        self.f = nn.Sequential(nn.Conv2d(3, 32, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
                               nn.Conv2d(32, 48, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten())
        self.y = nn.Sequential(nn.Linear(2352, 100), nn.ReLU(), nn.Linear(100, 100), nn.ReLU(), nn.Linear(100, 10))
        self.d = nn.Sequential(nn.Linear(2352, 100), nn.ReLU(), nn.Linear(100, 1))


def test_dann_step_matches_a_minimal_implementation_of_the_lab():
    cfg = preset_config(DannConfig, "adapt dann", "study")
    ours = build_dann(cfg.arch)
    lab = LabDANN()
    with torch.no_grad():  # same initial weights, parameter by parameter in module order
        for p, q in zip(lab.parameters(), ours.parameters(), strict=True):
            p.copy_(q)
    epochs, steps_per_epoch, epoch, i = 20, 937, 3, 100
    p = (epoch * steps_per_epoch + i) / (epochs * steps_per_epoch)
    lam = lambda_at(p, cfg.lambda_schedule, cfg.lambda_start, cfg.lambda_end, cfg.lambda_gamma)
    lr = lr_at(epoch / epochs, cfg.lr, cfg.lr_alpha, cfg.lr_beta)       # per-epoch, as the lab steps it
    assert lam == pytest.approx(-1 + 2 / (1 + math.exp(-2 * p)))        # the study's formula, γ = 2
    assert lr == pytest.approx(0.01 / (1 + 10 * epoch / epochs) ** 0.75)
    g = torch.Generator().manual_seed(0)
    xs, xt = torch.randn(64, 3, 28, 28, generator=g), torch.randn(64, 3, 28, 28, generator=g)
    y = torch.randint(0, 10, (64,), generator=g)

    opt_ours = torch.optim.SGD(ours.parameters(), lr=lr, momentum=0.9)
    loss, closs, dloss, _, _ = dann_step(ours, opt_ours, xs, y, xt, lam, cfg)

    opt_lab = torch.optim.SGD(lab.parameters(), lr=lr, momentum=0.9)
    x = torch.cat([xs, xt])
    f = lab.f(x)
    class_loss = F.cross_entropy(lab.y(f[:64]), y)
    dom = torch.cat([torch.zeros(64), torch.ones(64)])  # 0 = source, 1 = target
    # the lab's head ends in a sigmoid and its loss is BCELoss on the probability (--domain-loss bce-prob)
    domain_loss = F.binary_cross_entropy(torch.sigmoid(lab.d(_Reverse.apply(f, lam))[:, 0]), dom)
    opt_lab.zero_grad()
    (class_loss + domain_loss).backward()
    grads_lab = [q.grad.clone() for q in lab.parameters()]
    opt_lab.step()

    assert closs.item() == pytest.approx(class_loss.item(), rel=1e-5)
    assert dloss.item() == pytest.approx(domain_loss.item(), rel=1e-5)
    for q_ours, g_lab in zip(ours.parameters(), grads_lab):
        assert torch.allclose(q_ours.grad, g_lab, rtol=1e-4, atol=1e-6)
    for q_ours, q_lab in zip(ours.parameters(), lab.parameters()):
        assert torch.allclose(q_ours, q_lab, rtol=1e-4, atol=1e-6)


# ------------------------------------------------------------------------------------------ presets
def test_preset_fills_defaults_and_explicit_options_win():
    cfg = preset_config(DannConfig, "adapt dann", "study", epochs=3)
    assert (cfg.arch, cfg.normalize, cfg.lr_step, cfg.lambda_gamma, cfg.domain_reduction, cfg.fit) == (
        "dann-padded", "mnist", "per-epoch", 2.0, "mean", "crop")
    # the lab's protocol, as the lab-protocol screen chose it
    assert (cfg.target, cfg.order, cfg.domain_loss, cfg.momentum) == ("mnistm-lab", "notebook", "bce-prob", 0.9)
    assert cfg.epochs == 3
    assert preset_config(DannConfig, "adapt dann", "paper").arch == "dann"
    with pytest.raises(DlappsError, match="unknown preset 'studdy'.*did you mean study"):
        preset_options("studdy", "adapt dann")


def test_every_preset_key_is_an_option_of_its_command():
    from dlapps.cli import _register_apps, cli
    from dlapps.runner.presets import presets

    _register_apps()
    for name, table in presets().items():
        for command, options in table.items():
            cmd = cli
            for part in command.split():
                cmd = cmd.commands[part]  # type: ignore[attr-defined]
            flags = {o for p in cmd.params for o in getattr(p, "opts", []) + getattr(p, "secondary_opts", [])}
            for key, value in options.items():
                assert f"--{key}" in flags or (value is False and f"--no-{key}" in flags), (name, command, key)


def test_cli_preset_is_recorded_and_explicit_option_wins(tmp_path):
    out = tmp_path / "run"
    main(["adapt", "dann", "--preset", "study", "--epochs", "1", "--limit", "256", "--data-source", "embedded",
          "--target", "mnistm", "--tsne-points", "0", "--quiet", "--out", str(out)])  # mnistm-lab needs ../shared
    cfg = json.loads((out / "config.json").read_text())
    assert cfg["preset"] == "study"
    assert cfg["options"]["arch"] == "dann-padded" and cfg["options"]["lambda_gamma"] == 2.0
    assert cfg["options"]["epochs"] == 1  # explicit beats the preset's 20


def test_unknown_preset_is_one_line(tmp_path, capsys):
    with pytest.raises(SystemExit) as e:
        main(["adapt", "dann", "--preset", "paperr", "--out", str(tmp_path / "r")])
    assert e.value.code == 2
    assert "unknown preset 'paperr'" in capsys.readouterr().err
    assert not (tmp_path / "r").exists()


# ------------------------------------------------------------------------------------- data path
def test_crop_keeps_mnistm_digits_at_the_source_size():
    # a 28x28 digit padded to 32x32 (as the MNIST-M release and dlapps' generator store it) comes back
    # exactly with --fit crop, and shrunk by resize
    digit = torch.zeros(1, 1, 28, 28, dtype=torch.uint8)
    digit[0, 0, 4:24, 10:18] = 255
    padded = F.pad(digit, (2, 2, 2, 2))
    crop = _to_rgb28(padded, "crop")
    assert torch.equal(crop[0, 0], digit[0, 0].float() / 255)
    shrunk = _to_rgb28(padded, "resize")
    assert (shrunk[0, 0] > 0.5).sum() < (crop[0, 0] > 0.5).sum()


def test_generated_mnistm_pads_digits_like_the_release():
    from dlapps.core.data import make_mnistm

    digit = torch.zeros(1, 1, 28, 28, dtype=torch.uint8)
    digit[0, 0, 10:18, 10:18] = 255
    m = make_mnistm(digit, seed=0).float()  # (1, 3, 32, 32): |patch - digit|
    inside = m[0, :, 12:20, 12:20].mean()   # the digit square, moved by the 2-px padding
    assert m.shape == (1, 3, 32, 32) and abs(inside - m[0].mean()) > 10


# ------------------------------------------------------------------------------------ the reference
def test_reference_file_parses_and_names_every_table():
    rows = reference_rows()
    tables = {r["table"] for r in rows}
    assert tables == {str(t) for t in range(1, 11)}
    t5 = {(r["row"], r["column"]): r["value"] for r in rows if r["table"] == "5"}
    assert t5[("Target MNIST-M", "Class Accuracy")] == pytest.approx(0.7481)
    assert t5[("Source MNIST", "Class Accuracy")] == pytest.approx(0.9866)
    keys = {e.key for e in entries() if e.is_table}
    assert keys == tables
    for r in rows:  # every numeric row names a metric and its point exists in the sweep that serves it
        if isinstance(r["value"], float):
            assert 0 <= r["value"] <= 6 and r["metric"], r


def test_reference_points_exist_in_their_sweeps():
    from dlapps.sweep import expand, load_spec

    rows = reference_rows()
    for e in entries():
        if not e.is_table or not e.sweep:
            continue
        names = {p.name for p in expand(load_spec(sweep_path(e.sweep)))}
        for r in rows:
            if r["table"] == e.key and r["metric"]:
                assert r["point"] in names, (e.key, r["point"], names)
        sub = e.spec.get("substitute")
        if sub:
            sub_names = {p.name for p in expand(load_spec(sweep_path(sub)))}
            assert set(e.spec.get("substitute_points", {}).values()) <= sub_names


def test_study_slice_on_embedded_data_has_every_column_and_resumes_only_what_is_missing(tmp_path):
    out = tmp_path / "study"
    cfg = StudyConfig(only=["2c"], tables=[7], quick=True, jobs=2)  # one thread per point: 2 points at once
    run_study(cfg, RunOptions(out=str(out), quiet=True))
    md = (out / "report.md").read_text()
    for col in ("study reported", "dlapps (mean ± sd)", "difference", "verdict", "prediction interval"):
        assert col in md
    # the report covers the whole study; what this call did not run says so
    assert "### Table 7" in md and "### Table 4" in md
    # Table 7 in quick mode: its two LR-step points ran, one seed each, with numbers in the table
    dann = out / "2c_dann"
    done = sorted(d.name for d in dann.iterdir() if (d / "report.md").exists())
    assert done == ["base-s0", "lr-step=per-step-s0"]
    line = next(ln for ln in md.splitlines() if ln.startswith("| Update Per Step | Target Class Acc |"))
    assert "(1 seed)" in line and "0.7732" in line
    # a partly done study: remove one point's results; a rerun runs only that point
    victim = dann / "lr-step=per-step-s0"
    before = {d.name: (d / "metrics.json").stat().st_mtime_ns for d in dann.iterdir() if (d / "metrics.json").exists()}
    (victim / "report.md").unlink()
    run_study(cfg, RunOptions(out=str(out), quiet=True))
    after = {d.name: (d / "metrics.json").stat().st_mtime_ns for d in dann.iterdir() if (d / "metrics.json").exists()}
    assert after["base-s0"] == before["base-s0"]
    assert after["lr-step=per-step-s0"] != before["lr-step=per-step-s0"]
    # the report can be rebuilt without running anything, byte for byte, and without touching the runs
    md = (out / "report.md").read_bytes()
    html = (out / "report.html").read_bytes()
    cfg_json = (out / "config.json").read_bytes()
    (out / "report.md").unlink()
    # quick and seeds come from the dir itself
    run_study(StudyConfig(report_only=True), RunOptions(out=str(out), quiet=True))
    assert (out / "report.md").read_bytes() == md and (out / "report.html").read_bytes() == html
    assert (out / "config.json").read_bytes() == cfg_json
    after2 = {d.name: (d / "metrics.json").stat().st_mtime_ns for d in dann.iterdir() if (d / "metrics.json").exists()}
    assert after2 == after


def test_study_rejects_unknown_sections_and_tables(tmp_path):
    with pytest.raises(DlappsError, match="no Table 11"):
        run_study(StudyConfig(tables=[11], quick=True), RunOptions(out=str(tmp_path / "s")))


# ------------------------------------------------------------------- the study's visualization network
@pytest.mark.shared
def test_imagenet_weights_resolve_squeezenet_from_dlapps_weights(shared_env):
    from dlapps.core.models import build_model

    lm = build_model("squeezenet1_1", "imagenet", verbose=False)
    assert "squeezenet1_1_imagenet1k_from_openvino_fp16.pt" in lm.weights
    x = np.load(shared_env / "data" / "imagenet_samples.npz")
    imgs = torch.tensor(x["images"][:8]).permute(0, 3, 1, 2).float() / 255
    mean, std = torch.tensor(lm.mean).view(1, 3, 1, 1), torch.tensor(lm.std).view(1, 3, 1, 1)
    with torch.no_grad():
        pred = lm.model((imgs - mean) / std).argmax(1)
    assert (pred == torch.tensor(x["labels"][:8])).float().mean() >= 0.5  # a real ImageNet network


def test_missing_weights_message_names_both_places(monkeypatch, tmp_path):
    from dlapps.core.models import build_model

    monkeypatch.setenv("DLAPPS_WEIGHTS", str(tmp_path))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "th"))
    with pytest.raises(DlappsError) as e:
        build_model("squeezenet1_1", "imagenet", verbose=False)
    msg = str(e.value)
    assert "TORCH_HOME" in msg and "$DLAPPS_WEIGHTS" in msg and "squeezenet1_1_imagenet1k_from_openvino_fp16.pt" in msg


def test_a_point_that_stopped_itself_is_reported_as_such(tmp_path):
    from dlapps.study.results import point_seeds
    from dlapps.sweep import load_spec

    spec = load_spec(sweep_path("2c_dann.toml"))
    run = tmp_path / "lambda-multiplier=2.0-s0"
    run.mkdir()
    (run / "metrics.json").write_text(json.dumps({"diverged": True, "complete": False, "epochs_done": 5,
                                                  "target": {"class_acc": 0.58}}))
    s = point_seeds(tmp_path, spec, False, "lambda-multiplier=2.0", "target.class_acc")
    assert s.values == {} and s.stopped == {0: 5} and s.planned == 3  # not a value: a stopped seed
    assert point_seeds(tmp_path, spec, False, "", "target.class_acc").stopped == {}


def test_study_toml_types_no_measured_number():
    """Notes say what a run cannot know (why a reading was chosen, hypotheses); what happened to a seed comes
    from its files (diagnose). So a note may cite a setting or a number the study reported, never a result: no
    decimal that is not a setting of a preset or sweep, nor a study's number, and no 'epoch N' / 'seed N'."""
    import re
    import tomllib

    src = Path(__file__).resolve().parents[1] / "src" / "dlapps"
    spec = tomllib.loads((src / "study" / "study.toml").read_text())
    allowed = set(re.findall(r"(?<![\w.])\d+\.\d+", (src / "presets.toml").read_text()))
    for f in (src / "study" / "sweeps").glob("*.toml"):
        allowed |= set(re.findall(r"(?<![\w.])\d+\.\d+", f.read_text()))
    allowed |= set(re.findall(r"(?<![\w.])\d+\.\d+", (src / "study" / "reference.csv").read_text()))

    def notes(x, key=""):
        if isinstance(x, dict):
            for k, v in x.items():
                yield from notes(v, k if k in ("note", "explain", "explain_points", "not_run") else key)
        elif isinstance(x, str) and key:
            yield x

    typed = [(n, d) for n in notes({k: spec[k] for k in ("tables", "figures")})
             for d in re.findall(r"(?<![\w.])\d+\.\d+", n) if d not in allowed]
    assert typed == []
    runs = [n for n in notes({k: spec[k] for k in ("tables", "figures")}) if re.search(r"\b(epoch|seed)s? \d", n)]
    assert runs == []


def test_study_toml_is_checked_against_its_schema():
    from dlapps.study.results import study_spec
    from dlapps.study.schema import validate

    spec = study_spec()  # the real file passes
    bad = {**spec, "tables": {**spec["tables"], "5": {**spec["tables"]["5"], "explian": {"x": "y"}}}}
    with pytest.raises(DlappsError, match="unknown key 'explian' \\(did you mean 'explain'\\?\\)"):
        validate(bad)
    claim = {k: v for k, v in spec["claims"][0].items() if k != "metric"}
    with pytest.raises(DlappsError, match="missing metric"):
        validate({**spec, "claims": [claim]})
    with pytest.raises(DlappsError, match="exactly one of table or figure"):
        validate({**spec, "claims": [{**spec["claims"][0], "figure": "dcgan"}]})


def test_beyond_the_study_lists_each_method_from_its_published_runs_or_says_it_has_not_run(tmp_path):
    import json

    from dlapps.study.beyond import beyond_part

    spec = {"m": {"title": "Beyond", "caption": "same data", "methods": {"DANN": "a.toml", "VADA": "b.toml"},
                  "notes": {"VADA": "Shu et al. (2018)"}}}
    for seed, acc in ((0, 0.9), (1, 0.8)):
        d = tmp_path / "beyond" / "a" / f"base-s{seed}"
        d.mkdir(parents=True)
        (d / "config.json").write_text("{}")
        (d / "report.md").write_text("done")
        (d / "metrics.json").write_text(json.dumps({
            "target": {"class_acc": acc}, "source": {"class_acc": 0.99}, "complete": True,
            "selected": {"by": "im", "gap_to_oracle": 0.01}, "timing": {"ms_per_step": 40.0, "total_s": 600.0}}))
    md = "\n".join(beyond_part(tmp_path, spec))
    assert "| DANN | 0, 1 | 0.8500 ± 0.0707 | 0.9900 ± 0.0000 | im | 0.0100 ± 0.0000 | 40.0 ± 0.0 | 10.0 ± 0.0 |" in md
    assert "| VADA | not run yet | `dlapps sweep experiments/b.toml --out study-results/beyond/b` |" in md
    assert "- **VADA**: Shu et al. (2018)." in md
    assert "The goal" not in md  # none declared
    # a declared goal: not met by 2 seeds at 0.85, the closest named with its seeds; met once 3 seeds clear it
    spec["m"] |= {"goal": {"target.class_acc": 0.86, "source.class_acc": 0.98}, "goal_seeds": 3}
    md = "\n".join(beyond_part(tmp_path, spec))
    assert ("**The goal** (declared before the runs): target.class_acc ≥ 0.86 and source.class_acc ≥ 0.98, mean "
            "over 3 seeds. Not met by any published method yet; the closest on target.class_acc: DANN, "
            "target.class_acc 0.8500, source.class_acc 0.9900 over 2 of 3 seeds.") in md
    d = tmp_path / "beyond" / "a" / "base-s2"
    d.mkdir(parents=True)
    (d / "config.json").write_text("{}")
    (d / "report.md").write_text("done")
    (d / "metrics.json").write_text(json.dumps({"target": {"class_acc": 0.95}, "source": {"class_acc": 0.99},
                                                "complete": True}))
    assert "mean over 3 seeds. Met by DANN (3 seeds)." in "\n".join(beyond_part(tmp_path, spec))


def test_beyond_the_study_plots_accuracy_against_training_time_with_a_chain_starting_where_its_start_ended(tmp_path):
    """The curve's clock is the training time, and a chained run (pseudo-labels from a DANN run) starts where its
    start run ended, so the figure shows what the whole chain cost; nothing published, no figure."""
    import json

    from dlapps.study.beyond import accuracy_time_figure, beyond_part, training_curve

    methods = {"DANN": "a.toml", "DANN + pseudo-labels": "b.toml"}
    assert accuracy_time_figure(tmp_path, methods) is None
    dann = tmp_path / "beyond" / "a" / "base-s0"
    pl = tmp_path / "beyond" / "b" / "base-s0"
    for d, cfg, m in (
            (dann, {"app": "adapt", "options": {}},
             {"history": [{"train_s": 60.0, "target.class_acc": 0.6}, {"train_s": 120.0, "target_class_acc": 0.7}]}),
            (pl, {"app": "adapt", "options": {"start": "study-results/beyond/a/base-s0"}},
             {"rounds": [{"seconds": 30.0, "target_acc": 0.8}, {"seconds": 30.0, "target.class_acc": 0.85}]})):
        d.mkdir(parents=True)
        (d / "config.json").write_text(json.dumps(cfg))
        (d / "report.md").write_text("done")
        (d / "metrics.json").write_text(json.dumps({**m, "complete": True, "target": {"class_acc": 0.9},
                                                    "source": {"class_acc": 0.99}}))
    assert training_curve(dann, tmp_path) == ([1.0, 3.0], [0.6, 0.7])  # old and new history names alike
    assert training_curve(pl, tmp_path) == ([3.5, 4.0], [0.8, 0.85])   # from the DANN run's 3 minutes on
    md = "\n".join(beyond_part(tmp_path, {"m": {"title": "Beyond", "caption": "c", "methods": methods}}))
    assert "![Beyond: target accuracy against training time](figures/beyond_accuracy_time.png)" in md
    assert (tmp_path / "figures" / "beyond_accuracy_time.png").stat().st_size > 0


def test_beyond_the_study_shows_how_a_methods_settings_were_chosen_and_whether_its_runs_use_them(tmp_path):
    """The selection sweep's points with its own metrics as they land, the declared validator's pick beside the
    oracle's once every point has run, and a method whose published runs are not the picked point is flagged."""
    import json

    from dlapps.study.beyond import beyond_part
    from dlapps.study.schema import BeyondSpec

    sel = tmp_path / "beyond" / "sel"
    planned = {f"eps={e}-s0": {"command": ["adapt", "dann"], "eps": e, "epochs": 10} for e in (1.0, 3.5)}
    sel.mkdir(parents=True)
    (sel / "config.json").write_text(json.dumps({"app": "sweep", "options": {"spec": {
        "grid": {"eps": [1.0, 3.5]}, "metrics": ["target.class_acc", "selected.epoch"], "select_by": "im"},
        "points": planned}}))

    def finish(d, m):
        d.mkdir(parents=True)
        (d / "config.json").write_text(json.dumps({"app": "adapt", "options": {}}))
        (d / "report.md").write_text("done")
        (d / "metrics.json").write_text(json.dumps({**m, "complete": True}))

    finish(sel / "eps=1.0-s0", {"target": {"class_acc": 0.889}, "selected": {"epoch": 10}})
    spec = {"m": {"title": "Beyond", "caption": "c", "methods": {"VADA": "vada.toml"},
                  "settings": {"VADA": "sel.toml"}}}
    md = "\n".join(beyond_part(tmp_path, spec))
    assert "1 of 2 points have run; the point im scores best is chosen" in md
    assert "| `eps=1.0` | 1 | 0.889 | 10 |" in md and "| `eps=3.5` | not run yet |" in md
    assert "The choice is made when every point has run (`dlapps sweep experiments/sel.toml" in md

    finish(sel / "eps=3.5-s0", {"target": {"class_acc": 0.9}, "selected": {"epoch": 7}})
    (sel / "metrics.json").write_text(json.dumps({
        "complete": True, "selected_by": "im", "selected_point": "eps=1.0", "selected_target_acc": 0.889,
        "selection": [{"validator": "oracle", "point": "eps=3.5", "target_acc": 0.9}]}))
    md = "\n".join(beyond_part(tmp_path, spec))
    assert "**Chosen by im**: `eps=1.0`, target test accuracy 0.889; the oracle's pick (reads the test labels): " \
           "`eps=3.5` at 0.9 (im's pick is 0.0110 below it)." in md
    (sel / "metrics.json").write_text(json.dumps({  # the validator and the oracle agree: no gap to print
        "complete": True, "selected_by": "im", "selected_point": "eps=3.5", "selected_target_acc": 0.9,
        "selection": [{"validator": "oracle", "point": "eps=3.5", "target_acc": 0.9}]}))
    assert "`eps=3.5` at 0.9 (the same point)." in "\n".join(beyond_part(tmp_path, spec))
    (sel / "metrics.json").write_text(json.dumps({
        "complete": True, "selected_by": "im", "selected_point": "eps=1.0", "selected_target_acc": 0.889,
        "selection": [{"validator": "oracle", "point": "eps=3.5", "target_acc": 0.9}]}))
    vada = tmp_path / "beyond" / "vada"
    vada.mkdir(parents=True)
    for eps, verdict in ((3.5, "**VADA's published runs do not use these options** (eps differ)"),
                         (1.0, "VADA's published runs use these options.")):
        (vada / "config.json").write_text(json.dumps({"options": {"points": {"base-s0": {"eps": eps}}}}))
        assert verdict in "\n".join(beyond_part(tmp_path, spec))
    with pytest.raises(DlappsError, match="settings names 'VDA', not one of the methods .*did you mean 'VADA'"):
        BeyondSpec(title="t", caption="c", methods={"VADA": "v.toml"}, settings={"VDA": "s.toml"})


def test_the_report_compares_runs_published_twice_with_the_same_settings_and_seed(tmp_path):
    """A screen's run and the study's run of the same settings agree on every epoch both trained (an option the
    older run did not record reads as its default, a field the command cannot set is never compared; stopping early
    is no difference); a changed number is shown
    where it first differs; a run with another setting is no pair."""
    import json

    from dlapps.study.reproducibility import pairs, reproducibility_part

    hist = [{"epoch": 1, "train_s": 70.0, "target.class_acc": 0.55, "train.class_loss": 0.23},
            {"epoch": 2, "train_s": 81.0, "target.class_acc": 0.59, "train.class_loss": 0.05}]

    def run(where, options, history, seed=0):
        d = tmp_path / where
        d.mkdir(parents=True)
        (d / "config.json").write_text(json.dumps({"app": "adapt", "command": "dann", "seed": seed, "threads": 1,
                                                   "options": {"seed": seed, "epochs": 20, **options}}))
        (d / "report.md").write_text("done")
        (d / "metrics.json").write_text(json.dumps({"complete": True, "history": history}))

    run("diagnostics/screen/base-s0", {"stop_after": 1, "tsne_points": 0, "out": "x"}, hist[:1])
    # the newer run records options added since (at their defaults) and a field `adapt dann` has no option for
    run("2c_dann/base-s0", {"vat_eps": 1.0, "ent_target": 0.0, "init": "", "tsne_points": 500, "dirtt_beta": 0.01},
        hist)
    run("2c_dann/lambda-multiplier=3.0-s0", {"lambda_multiplier": 3.0}, hist)
    run("diagnostics/screen/lambda-multiplier=3.0-s0", {"lambda_multiplier": 3.0},
        [{**hist[0], "train_s": 99.0}, {**hist[1], "target.class_acc": 0.6}])
    found = {(a.path.as_posix(), b.path.as_posix()): (n, v) for a, b, n, v in pairs(tmp_path)}
    assert found == {("2c_dann/base-s0", "diagnostics/screen/base-s0"): (1, "identical"),
                     ("2c_dann/lambda-multiplier=3.0-s0", "diagnostics/screen/lambda-multiplier=3.0-s0"):
                         (2, "differ from epoch 2 on (target.class_acc: 0.59 vs 0.6)")}
    md = "\n".join(reproducibility_part(tmp_path))
    assert "1 of 2 pairs agree bit for bit" in md
    assert "| `2c_dann/base-s0` | `diagnostics/screen/base-s0` | 1 | identical |" in md


def test_beyond_the_study_shows_a_sweep_kept_as_a_reading_with_why_and_nothing_before_it_is_published(tmp_path):
    import json

    from dlapps.study.beyond import beyond_part

    spec = {"m": {"title": "Beyond", "caption": "c", "methods": {"VADA": "v.toml"},
                  "readings": {"old": "its head won, so the selection restarted"}}}
    assert "reading kept" not in "\n".join(beyond_part(tmp_path, spec))
    d = tmp_path / "beyond" / "old"
    (d / "p-s0").mkdir(parents=True)
    (d / "config.json").write_text(json.dumps({"options": {"spec": {"metrics": ["target.class_acc"]}}}))
    (d / "p-s0" / "config.json").write_text("{}")
    (d / "p-s0" / "report.md").write_text("done")
    (d / "p-s0" / "metrics.json").write_text(json.dumps({"complete": True, "target": {"class_acc": 0.61,
                                                                                       "domain_acc": 0.998}}))
    md = "\n".join(beyond_part(tmp_path, spec))
    assert "**A reading kept, not counted** (`beyond/old/`): its head won, so the selection restarted" in md
    assert "| `p-s0` | 0.61 | 0.998 |" in md


def test_beyond_the_study_says_what_a_step_costs_from_the_benchmarks_figures_beside_the_runs(tmp_path):
    import json

    from dlapps.study.beyond import beyond_part

    spec = {"m": {"title": "Beyond", "caption": "c", "methods": {"VADA": "v.toml"}}}
    assert "What a step costs" not in "\n".join(beyond_part(tmp_path, spec))
    (tmp_path / "beyond").mkdir()
    (tmp_path / "beyond" / "step_costs.json").write_text(json.dumps({
        "command": "python benchmarks/bench_beyond.py", "commit": "abc1234", "date": "2026-12-07T22:30:22", "threads": 1,
        "figures": {"DANN_ms_per_step": 40.0, "VADA_ms_per_step": 120.0, "VADA_vs_dann": 3.0, "network": "dann-bn",
                    "VADA_shu-small_ms_per_step": 2000.0, "VADA_shu-small_vs_dann": 50.0, "batch_per_domain": 64,
                    "authors_steps": 80000, "authors_schedule_hours": {"dann-bn": 2.7, "shu-small": 44.4}}}))
    md = "\n".join(beyond_part(tmp_path, spec))
    assert ("(`python benchmarks/bench_beyond.py` at `abc1234`, 2026-12-07, 1 thread, 64 images per domain a step, on "
            "dann-bn unless named): DANN 40.0 ms (the reference); VADA 120.0 ms (×3.00); VADA on shu-small 2000.0 ms "
            "(×50.00). The authors train VADA for 80,000 steps: 2.7 h on dann-bn, 44.4 h on shu-small") in md
