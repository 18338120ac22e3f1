"""The example notebook executes headless (nbclient) on a trimmed copy of the real dataset."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REAL = os.environ.get("ARTREC_DATA_HOME")
NOTEBOOK = Path(__file__).resolve().parents[1] / "examples" / "artwork_recommendation.ipynb"


@pytest.mark.slow
@pytest.mark.skipif(not REAL, reason="needs ARTREC_DATA_HOME (CI always sets it)")
def test_example_notebook_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    monkeypatch.setenv("ARTREC_EXAMPLE_WORKSPACE", str(tmp_path / "ws"))
    monkeypatch.setenv("ARTREC_EXAMPLE_N_ITEMS", "150")
    monkeypatch.setenv("MPLBACKEND", "Agg")
    nb = nbformat.read(NOTEBOOK, as_version=4)
    client = nbclient.NotebookClient(
        nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}
    )
    client.execute()
    outputs = [o for cell in nb.cells if cell.cell_type == "code" for o in cell.get("outputs", [])]
    assert not [o for o in outputs if o.get("output_type") == "error"]
    images = [o for o in outputs if "image/png" in o.get("data", {})]
    assert len(images) >= 4, "the grids and the plot are shown as images"
    text = "".join(
        str(o.get("data", {}).get("text/plain", "")) + str(o.get("text", "")) for o in outputs
    )
    assert "simulated" in text and "visrank:hybrid/cosine/sum_distance" in text
