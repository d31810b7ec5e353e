"""The package's structure: layers run one way, no import circle, SimPy only in sim/, no private name crossing.

Every import is read from the source (functions included, since a lazy import
is still a dependency), and importing ``resilsim.a.b`` counts as importing
``resilsim.a`` too (its ``__init__`` runs first), which is how a circle through
a package's ``__init__`` hides from a plain module graph.
"""
import ast
from pathlib import Path

import pytest

PKG = Path(__file__).resolve().parents[1] / "resilsim"

#: Rooms from the bottom up (DESIGN.md): a room may import its own rank and lower ranks only.
LAYERS = [
    {"records", "errors", "files", "metrics", "rng", "histogram", "theory", "yamlsafe", "cpu"},
    {"catalog"},
    {"policies", "server"},
    {"scenario"},
    {"sim", "result", "invariants", "fit"},
    {"sweep", "run_folder"},
    {"plots", "chart_pool"},
    {"report", "widgets"},
    {"cli", "__main__"},
]
RANK = {room: i for i, rooms in enumerate(LAYERS) for room in rooms}


def _modules() -> dict[str, Path]:
    out = {}
    for f in PKG.rglob("*.py"):
        parts = list(f.relative_to(PKG.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = f
    return out


MODULES = _modules()


def _resolve(name: str) -> str | None:
    while name and name not in MODULES:
        name = name.rpartition(".")[0]
    return name or None


def _imports(module: str) -> list[tuple[str, list[str]]]:
    """(imported module, names taken from it) for every import in ``module``'s source, absolute."""
    path = MODULES[module]
    base = module.split(".") if path.name == "__init__.py" else module.split(".")[:-1]
    out = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            out += [(a.name, []) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            prefix = ".".join(base[: len(base) - node.level + 1] + ([node.module] if node.module else [])) \
                if node.level else node.module
            for a in node.names:
                # `from . import metrics` imports the module resilsim.metrics, not a name of the package
                sub = f"{prefix}.{a.name}"
                out.append((sub, []) if sub in MODULES else (prefix, [a.name]))
    return out


def _ancestors(module: str) -> set[str]:
    parts = module.split(".")
    return {".".join(parts[:i]) for i in range(1, len(parts))}


def _graph() -> dict[str, set[str]]:
    graph = {m: set() for m in MODULES}
    for m in MODULES:
        mine = _ancestors(m) | {m}  # packages already running when m runs
        for name, _ in _imports(m):
            target = _resolve(name) if name.startswith("resilsim") else None
            if target is None:
                continue
            # The target runs, and before it every package above it that is not already running.
            graph[m] |= ({target} | _ancestors(target)) - mine
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    index, low, stack, on, comps = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                comps.append(sorted(comp))

    for v in graph:
        if v not in index:
            visit(v)
    return comps


def _room(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def test_no_import_circle():
    graph = _graph()
    # The package's __init__ imports the public API of every room; rooms never import it.
    graph = {m: {t for t in ts if t != "resilsim"} for m, ts in graph.items()}
    assert _cycles(graph) == []


def test_layers_run_one_way():
    wrong = []
    for m in MODULES:
        room = _room(m)
        if room == "__init__":
            continue
        for name, _ in _imports(m):
            target = _resolve(name) if name.startswith("resilsim") else None
            if target is None or target == "resilsim":
                continue
            other = _room(target)
            if RANK[other] > RANK[room]:
                wrong.append(f"{m} imports {target}")
    assert wrong == []


def test_every_room_has_a_layer():
    rooms = {_room(m) for m in MODULES} - {"__init__"}
    assert rooms <= set(RANK), rooms - set(RANK)


def test_only_sim_imports_simpy():
    users = {m for m in MODULES for name, _ in _imports(m) if name == "simpy" or name.startswith("simpy.")}
    assert users and all(m.startswith("resilsim.sim") for m in users), users


def test_no_private_name_crosses_a_module():
    crossing = [f"{m} takes {n} from {name}" for m in MODULES for name, names in _imports(m)
                if name.startswith("resilsim") and _resolve(name) != m
                for n in names if n.startswith("_") and not n.startswith("__")]
    assert crossing == []


@pytest.mark.parametrize("module", sorted(m for m in MODULES if m.count(".") == 1 and not m.endswith("__main__")))
def test_rooms_import_cleanly_on_their_own(module):
    # A fresh interpreter per room would be the strict check; importing each here catches a room that only
    # works after another has been imported.
    import importlib
    importlib.import_module(module)
