"""TensorBoard logging (events equal metrics.json history), the notebook-facing RunResult, and the
report's summary box, table of contents and lazy figures."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from dlapps.runner.runs import RunOptions


def _events(tb_dir: Path) -> dict[str, list[tuple[int, float]]]:
    ea_mod = pytest.importorskip("tensorboard.backend.event_processing.event_accumulator")
    ea = ea_mod.EventAccumulator(str(tb_dir), size_guidance={ea_mod.SCALARS: 0, ea_mod.IMAGES: 0})
    ea.Reload()
    return {tag: [(e.step, e.value) for e in ea.Scalars(tag)] for tag in ea.Tags()["scalars"]}


def test_dann_tensorboard_events_hold_every_history_scalar(tmp_path):
    pytest.importorskip("tensorboard")
    from dlapps.adapt import DannConfig, run_dann

    r = run_dann(DannConfig(epochs=2, data_source="embedded", tsne_points=40, limit=600),
                 RunOptions(out=str(tmp_path / "d"), quiet=True, tensorboard=True))
    ev = _events(r.run_dir / "tb")
    history = r.metrics["history"]
    keys = [k for k, v in history[0].items() if isinstance(v, (int, float))]
    for k in keys:
        got = ev[f"epoch/{k}"]
        assert [s for s, _ in got] == [1, 2]
        assert [v for _, v in got] == pytest.approx([h[k] for h in history], rel=1e-6, abs=1e-6), k
    steps = ev["step/loss"]
    assert len(steps) >= 2 and steps[0][0] == 0 and {"step/lambda", "step/lr", "step/domain_loss"} <= set(ev)
    assert list((r.run_dir / "tb").rglob("projector_config.pbtxt"))  # the t-SNE features, for the projector


def test_tensorboard_is_off_unless_asked(tmp_path, monkeypatch):
    from dlapps.visualize import ClassVizConfig, run_classviz

    monkeypatch.delenv("DLAPPS_TENSORBOARD", raising=False)
    r = run_classviz(ClassVizConfig(model="mnist_cnn", weights="random", targets=["3"], iters=3, jitter=1),
                     RunOptions(out=str(tmp_path / "c"), quiet=True))
    assert not (r.run_dir / "tb").exists()


def test_run_result_for_notebooks(tmp_path):
    from dlapps.transfer import InspectConfig, run_inspect

    r = run_inspect(InspectConfig(model="alexnet"), RunOptions(out=str(tmp_path / "i"), quiet=True))
    t = r.table("layers")
    assert int(t["params"].sum()) == r.metrics["total_params"] == 61_100_840
    assert r.tables == ["layers"] and r.table().equals(t)
    html = r._repr_html_()
    assert "parameters" in html and "61,100,840" in html and str(r.run_dir) in html
    with pytest.raises(Exception, match="no table 'nope'"):
        r.table("nope")


def test_report_opens_with_a_summary_box_and_has_lazy_figures_and_a_toc(tmp_path):
    from dlapps.runner.report import build_report
    from dlapps.visualize import FoolConfig, run_fool

    runs = []
    for k in range(2):
        runs.append(run_fool(FoolConfig(model="mnist_cnn", weights="random", data="mnist", n=2, target="3",
                                        max_iters=5, data_source="embedded"),
                             RunOptions(out=str(tmp_path / f"f{k}"), quiet=True)).run_dir)
    md, html = build_report(runs, tmp_path, title="two runs")
    text = html.read_text()
    body = text[text.index("<body>"):]
    assert body.index('class="glance"') < body.index("<h2")  # the box comes before the first section
    assert "success rate" in text and 'href="#run-f0"' in text and 'id="run-f1"' in text
    assert "Contents" in text and re.search(r'<img loading="lazy" decoding="async" [^>]*src="data:image/png', text)
    single_md, _ = build_report([runs[0]])
    assert "At a glance" in single_md.read_text() and "Contents" not in single_md.read_text()


def test_gan_headlines_name_the_fid_floor_and_the_speck_rate_where_it_is_measured():
    """A GAN run's summary box shows what its floor compared and, for single-channel data, the speck rate
    beside the real images' own rate; CIFAR-10 (3 channels) has no speck rate to show."""
    from dlapps.runner.report import headlines

    published = Path(__file__).resolve().parents[1] / "study-results"
    mnist = dict((label, (value, ctx)) for label, value, ctx in headlines(published / "2de_dcgan" / "base-s0"))
    assert mnist["speck rate"][0] == "0.0797" and "real test images 0.0151" in mnist["speck rate"][1]
    assert "real training vs real test" in mnist["classifier-FID"][1]
    cifar = dict((label, (value, ctx)) for label, value, ctx in
                 headlines(published / "2de_dcgan" / "data=cifar10,epochs=10-s0"))
    assert "speck rate" not in cifar and "halves" in cifar["classifier-FID"][1]
