"""The HTML report in a real headless browser (Chromium through Playwright): it loads without console
errors, every figure decodes, and the summary box is visible without scrolling. Skipped where no
Chromium or no Playwright is installed (``apt-get install chromium``; ``pip install playwright``)."""

from __future__ import annotations

import shutil

import pytest

from dlapps.runner.runs import RunOptions

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="no Chromium installed (apt-get install chromium)")


def test_report_loads_decodes_every_figure_and_shows_the_summary_first(tmp_path):
    sync_api = pytest.importorskip("playwright.sync_api")
    from dlapps.runner.report import build_report
    from dlapps.visualize import ClassVizConfig, FoolConfig, run_classviz, run_fool

    runs = [run_fool(FoolConfig(model="mnist_cnn", weights="random", data="mnist", n=4, target="3", max_iters=5,
                                data_source="embedded"), RunOptions(out=str(tmp_path / "fool"), quiet=True)).run_dir,
            run_classviz(ClassVizConfig(model="mnist_cnn", weights="random", targets=["1", "2", "3"], iters=5,
                                        jitter=1, frame_every=1), RunOptions(out=str(tmp_path / "viz"), quiet=True)).run_dir]
    _, html = build_report(runs, tmp_path, title="browser check")
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"])
        page = browser.new_page(viewport={"width": 1280, "height": 800})
        errors: list[str] = []
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(html.as_uri())
        page.wait_for_load_state("load")
        box = page.locator(".glance").bounding_box()
        assert box is not None and box["y"] + box["height"] <= 800, "the summary box is below the first screen"
        n_images = page.evaluate("document.images.length")
        assert n_images == 5  # fooling figure; class visualization: final images + one progress strip per class
        # lazy images decode once scrolled into view: scroll through, then every one must have decoded
        page.evaluate("window.scrollTo(0, document.body.scrollHeight)")
        page.wait_for_function("Array.from(document.images).every(i => i.complete)", timeout=15000)
        broken = page.evaluate("Array.from(document.images).filter(i => !(i.naturalWidth > 0)).length")
        links = page.evaluate("Array.from(document.querySelectorAll('.glance a')).map(a => a.getAttribute('href'))")
        targets = [page.evaluate(f"document.getElementById('{h[1:]}') !== null") for h in links]
        browser.close()
    assert broken == 0 and not errors, (broken, errors)
    assert links and all(targets), "every summary link leads to its section"
