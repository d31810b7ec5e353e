"""The engine's layering: the row vocabulary sits below the engine, and what reads runs never imports the engine."""
import ast
from pathlib import Path

import pytest

PKG = Path(__file__).resolve().parents[2] / "resilsim"


def _imports(module: str) -> set[str]:
    """Every module ``resilsim.<module>`` imports, at any level of its code (functions included), absolute."""
    path = PKG / (module.replace(".", "/") + ".py")
    base = ["resilsim", *module.split(".")[:-1]]
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            prefix = base[: len(base) - node.level + 1] if node.level else []
            out.add(".".join(prefix + ([node.module] if node.module else [])))
    return out


def test_records_imports_nothing_of_the_package():
    assert not {m for m in _imports("records") if m.startswith("resilsim")}


@pytest.mark.parametrize("module", ["result", "invariants", "sim.recorder"])
def test_readers_and_recorder_take_the_vocabulary_from_records(module):
    # result and invariants read runs; importing resilsim.sim.* from them would run sim/__init__ and so
    # sim/run.py, which imports result: a loop.
    imports = _imports(module)
    assert "resilsim.records" in imports
    if module != "sim.recorder":
        assert not {m for m in imports if m.startswith("resilsim.sim")}
