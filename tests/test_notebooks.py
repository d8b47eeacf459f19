"""The lab notebooks: committed without outputs, and each runs end to end on embedded data (a failing
cell fails the test). They use the Python API, so this also checks that API from a user's seat."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

NOTEBOOKS = sorted((Path(__file__).resolve().parents[1] / "notebooks").glob("*.ipynb"))


def test_there_is_one_notebook_per_lab_without_outputs():
    assert [p.name for p in NOTEBOOKS] == ["2a-transfer.ipynb", "2b-visualize.ipynb", "2c-adapt.ipynb",
                                           "2de-generate.ipynb"]
    for p in NOTEBOOKS:
        nb = json.loads(p.read_text())
        code = [c for c in nb["cells"] if c["cell_type"] == "code"]
        assert code and all(not c["outputs"] and c["execution_count"] is None for c in code), \
            f"{p.name} has committed outputs: clear them (Jupyter: Edit > Clear Outputs of All Cells)"
        src = "".join("".join(c["source"]) for c in code)
        assert "subprocess" not in src and "!dlapps" not in src  # the Python API, not shell calls


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_runs_end_to_end_on_embedded_data(path: Path, tmp_path: Path, mnist_cnn,
                                                  monkeypatch: pytest.MonkeyPatch):
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    # embedded data even where ../shared is configured; the session's cache (the MNIST CNN trained once)
    assert "DLAPPS_DATA" not in os.environ and os.environ.get("DLAPPS_OFFLINE") == "1"
    monkeypatch.setenv("DLAPPS_NOTEBOOK_QUICK", "1")  # every cell runs; the training loops are shorter
    nb = nbformat.read(path, as_version=4)
    client = nbclient.NotebookClient(nb, timeout=600, kernel_name="python3",
                                     resources={"metadata": {"path": str(tmp_path)}})
    client.execute()  # raises CellExecutionError, naming the cell, when a cell fails
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])]
    assert not [o for o in outputs if o.get("output_type") == "error"]
    html = [o["data"]["text/html"] for o in outputs if "text/html" in o.get("data", {})]
    assert html, "a notebook shows at least one result or table inline"
    assert list((tmp_path / "runs").iterdir()), "each experiment wrote its run dir"
