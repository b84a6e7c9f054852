"""notebooks/network_initialization.ipynb is stored without outputs and executes cleanly."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import nbclient
import nbformat
import pytest

NOTEBOOK = Path(__file__).resolve().parents[1] / "notebooks" / "network_initialization.ipynb"


def _install_kernelspec(root: Path) -> None:
    """A "python3" kernel that runs this interpreter (where rectinumba is installed).

    Directories on JUPYTER_PATH come first in jupyter's kernel search, so a user's or the
    system's own "python3" kernel (possibly another Python) cannot shadow this one.
    """
    spec = root / "kernels" / "python3"
    spec.mkdir(parents=True)
    (spec / "kernel.json").write_text(json.dumps({
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "Python 3 (rectinumba tests)",
        "language": "python",
    }))


def _text(cell) -> str:
    return "".join(o.get("text", "") for o in cell.outputs if o.output_type == "stream")


def test_notebook_is_stored_without_outputs():
    nb = nbformat.read(NOTEBOOK, as_version=4)
    nbformat.validate(nb)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert len(code) >= 10
    assert all(c.outputs == [] and c.execution_count is None for c in code)


def test_notebook_figures_have_legends_and_labelled_axes():
    """Issue 14 item 7: every cell that draws has a legend and x and y labels (with units)."""
    nb = nbformat.read(NOTEBOOK, as_version=4)
    drawing = [c.source for c in nb.cells if c.cell_type == "code"
               and re.search(r"\.(plot|scatter|imshow|matshow)\(", c.source)]  # fmt: skip
    assert len(drawing) >= 2
    for source in drawing:
        assert ".legend(" in source, source
        assert "set_xlabel(" in source and "set_ylabel(" in source, source
        assert re.search(r"set_xlabel\(\"time \(", source), source  # the time unit is stated


@pytest.mark.slow
def test_notebook_executes(tmp_path, monkeypatch):
    _install_kernelspec(tmp_path / "jupyter")
    monkeypatch.setenv("JUPYTER_PATH", str(tmp_path / "jupyter"))
    monkeypatch.setenv("MPLBACKEND", "Agg")
    work = tmp_path / "work"
    work.mkdir()
    nb = nbformat.read(NOTEBOOK, as_version=4)
    client = nbclient.NotebookClient(
        nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(work)}}
    )
    client.execute()  # raises CellExecutionError naming the failing cell

    code = [c for c in nb.cells if c.cell_type == "code"]
    assert all(not any(o.output_type == "error" for o in c.outputs) for c in code)
    text = "\n".join(_text(c) for c in code)
    assert re.findall(r"Number of neurons in network: (\d+)", text) == ["5", "5"]
    assert "Network nodes: ['tanh']" in text and "Network nodes: ['lif']" in text
    assert "n_in = 3, n_out = 2" in text
    assert "lif -> output weights: (2, 5)" in text
    assert "output: (4000, 2) v: (4000, 5)" in text
    n_spikes = int(re.search(r"^(\d+) spikes$", text, flags=re.M)[1])
    per_neuron = [int(n) for n in re.search(r"spikes per neuron: \[([\d ]+)\]", text)[1].split()]
    assert len(per_neuron) == 5 and min(per_neuron) > 0 and sum(per_neuron) == n_spikes
    # no stray reprs of matplotlib objects (a cell ending in ax.set_ylabel(...) shows "Text(...)")
    shown = [o["data"].get("text/plain", "") for c in code for o in c.outputs
             if o.output_type == "execute_result"]  # fmt: skip
    stray = [t for t in shown if re.match(r"\[?<?(matplotlib|Text\(|Axes|Figure|Line2D)", t)]
    assert not stray, stray
    images = [o for c in code for o in c.outputs if "image/png" in o.get("data", {})]
    assert len(images) >= 2  # the rate network's v and the spiking network's raster/outputs
