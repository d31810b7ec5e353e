"""Execute every tutorial notebook top to bottom with nbclient; a failing cell fails the test."""
import os
import sys
from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")
pytest.importorskip("ipykernel")

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))

pytestmark = pytest.mark.notebooks


def test_notebooks_are_built_from_build_py(tmp_path):
    sys.path.insert(0, str(ROOT / "notebooks"))
    try:
        import build
    finally:
        sys.path.pop(0)
    fresh = build.build(tmp_path)
    assert [p.name for p in fresh] == [p.name for p in NOTEBOOKS]
    for p in fresh:
        assert p.read_text() == (ROOT / "notebooks" / p.name).read_text(), \
            f"{p.name} differs from notebooks/build.py's output: run python notebooks/build.py"


def test_outputs_stripped():
    for p in NOTEBOOKS:
        nb = nbformat.read(p, as_version=4)
        for cell in nb.cells:
            if cell.cell_type == "code":
                assert not cell.outputs and cell.execution_count is None, p.name


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_runs(path, monkeypatch):
    monkeypatch.setenv("MPLBACKEND", "Agg")
    nb = nbformat.read(path, as_version=4)
    assert any("parameters" in c.metadata.get("tags", []) for c in nb.cells), "needs a parameters cell"
    # The kernel is this interpreter's (the venv's), found through its kernelspec named python3.
    monkeypatch.setenv("JUPYTER_PATH", os.path.join(sys.prefix, "share", "jupyter"))
    client = nbclient.NotebookClient(nb, timeout=180, kernel_name="python3",
                                     resources={"metadata": {"path": str(ROOT / "notebooks")}})
    client.execute()
    errors = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs if o.output_type == "error"]
    assert not errors
    spent = sum(_seconds(c) for c in nb.cells if c.cell_type == "code")
    assert spent < BUDGET_S, f"{path.name}: its cells ran {spent:.1f} s; a tutorial notebook stays under {BUDGET_S} s"


#: Seconds a notebook's cells may take together (kernel start not counted), so `make test` stays quick.
BUDGET_S = 20.0


def _seconds(cell) -> float:
    """Seconds a cell ran, from nbclient's timing metadata (0 when not recorded)."""
    from datetime import datetime
    timing = cell.metadata.get("execution", {})
    start, end = timing.get("iopub.execute_input"), timing.get("shell.execute_reply")
    if not (start and end):
        return 0.0
    return (datetime.fromisoformat(end.replace("Z", "+00:00")) - datetime.fromisoformat(start.replace("Z", "+00:00"))
            ).total_seconds()
