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
    # A last cell, added to this in-memory copy only, reports the kernel's CPU seconds (its own and its
    # finished children's): the budget is counted in CPU time, which neighbours' load on the machine does not
    # stretch as it stretches wall time (the same notebook took 12 s alone and 21 s beside a full test run).
    nb.cells.append(nbformat.v4.new_code_cell(_CPU_CELL))
    client.execute()
    errors = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs if o.output_type == "error"]
    assert not errors
    spent = _cpu_seconds(nb.cells[-1])
    wall = sum(_seconds(c) for c in nb.cells if c.cell_type == "code")
    assert spent < BUDGET_S, (f"{path.name}: its kernel used {spent:.1f} s of CPU ({wall:.1f} s wall); "
                              f"a tutorial notebook stays under {BUDGET_S} s")


#: CPU seconds a notebook's kernel may use, start-up and imports included, so `make test` stays quick.
BUDGET_S = 20.0

_CPU_CELL = ("import resource as _r\n"
             "print('cpu_s', sum(getattr(_r.getrusage(w), f) for w in (_r.RUSAGE_SELF, _r.RUSAGE_CHILDREN) "
             "for f in ('ru_utime', 'ru_stime')))")


def _cpu_seconds(cell) -> float:
    """The kernel's CPU seconds, printed by the cell :data:`_CPU_CELL`."""
    text = "".join(o.get("text", "") for o in cell.outputs if o.output_type == "stream")
    return float(text.split("cpu_s", 1)[1].split()[0])


def _seconds(cell) -> float:
    """Seconds a cell ran, from nbclient's timing metadata (0 when not recorded)."""
    from datetime import datetime
    timing = cell.metadata.get("execution", {})
    start, end = timing.get("iopub.execute_input"), timing.get("shell.execute_reply")
    if not (start and end):
        return 0.0
    return (datetime.fromisoformat(end.replace("Z", "+00:00")) - datetime.fromisoformat(start.replace("Z", "+00:00"))
            ).total_seconds()
