"""Every shell and Python block of README.md and docs/*.md runs, on scenarios squeezed into 60 simulated seconds.

Blocks run in order, one scratch folder per document (a copy of ``scenarios/`` shortened as
tests.conftest.shortened does, sweep definitions' durations cut alike); a document's Python blocks
share one interpreter, as in a notebook. ``resilsim`` in a shell block is this interpreter's
``python -m resilsim``. A block preceded by ``<!-- not run: REASON -->`` is skipped. Documents whose
blocks take longer than a few seconds (sweeps and plans) run under ``-m slow``; in the default run
every ``resilsim`` command of every document is parsed by the CLI's own parser (its words as the shell
splits them: an unquoted ``>=`` is a redirection there) and every Python block is compiled.
"""
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from resilsim.cli import _parser

from .conftest import SCENARIOS, shortened

ROOT = Path(__file__).resolve().parents[1]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
SHORT = 60.0  # simulated seconds per run
#: Documents whose blocks take minutes on two cores (sweeps and plans): run with -m slow.
SLOW = {"README.md", "sweeps.md", "published.md"}
FENCE = re.compile(r"(?P<marker><!--\s*not run:[^>]*-->\s*\n)?```(?P<lang>\w+)\n(?P<code>.*?)```", re.S)


def blocks(path: Path) -> list[tuple[str, str]]:
    """(language, code) of every fenced sh/bash/python block of ``path`` not marked as not run."""
    return [(m["lang"], m["code"]) for m in FENCE.finditer(path.read_text(encoding="utf-8"))
            if m["lang"] in ("sh", "bash", "python") and not m["marker"]]


def scratch(tmp: Path) -> Path:
    """A folder with shortened copies of every scenario and sweep definition."""
    (tmp / "scenarios" / "sweeps").mkdir(parents=True)
    for path in SCENARIOS:
        (tmp / "scenarios" / path.name).write_text(yaml.safe_dump(shortened(path, SHORT), sort_keys=False))
    for path in (ROOT / "scenarios" / "sweeps").glob("*.yaml"):
        d = yaml.safe_load(path.read_text())
        if "duration" in (d.get("overrides") or {}):
            d["overrides"]["duration"] = SHORT
        (tmp / "scenarios" / "sweeps" / path.name).write_text(yaml.safe_dump(d, sort_keys=False))
    # Published experiments (docs/published.md) as shipped: already short (10 s), and their figures are
    # the documented ones only at the published length.
    published = ROOT / "scenarios" / "published"
    shutil.copytree(published, tmp / "scenarios" / "published")
    return tmp


def test_the_marker_and_fences_are_found():
    readme = blocks(ROOT / "README.md")
    assert any("resilsim plan" in code for _, code in readme)
    assert not any("make demo" in code for _, code in readme)  # marked not run


def commands(code: str) -> list[list[str]]:
    """The words of every ``resilsim`` command of a shell block, as the shell splits them (comments dropped)."""
    out = []
    for line in code.replace("\\\n", " ").splitlines():
        lex = shlex.shlex(line, posix=True, punctuation_chars=True)
        lex.whitespace_split, lex.commenters = True, "#"
        command: list[str] = []
        for word in [*lex, ";"]:  # `a; b` and `a && b` are two commands
            if word in (";", "&&"):
                if command[:1] == ["resilsim"]:
                    out.append(command[1:])
                command = []
            else:
                command.append(word)
    return out


@pytest.mark.parametrize("doc", DOCS, ids=lambda d: d.name)
def test_doc_commands_parse_and_python_compiles(doc):
    parser = _parser()
    for lang, code in blocks(doc):
        if lang == "python":
            compile(code, doc.name, "exec")
            continue
        for words in commands(code):
            assert not {">", "<", ">=", "<=", "|", "&"} & set(words), f"{doc.name}: unquoted shell operator: {words}"
            try:
                parser.parse_args(words)
            except SystemExit as e:
                if e.code == 0:  # --help and --version print and leave: they parsed
                    continue
                pytest.fail(f"{doc.name}: `resilsim {' '.join(words)}` does not parse (exit {e.code})")


@pytest.mark.parametrize("doc", [pytest.param(d, marks=pytest.mark.slow) if d.name in SLOW else d
                                 for d in DOCS if blocks(d)], ids=lambda d: d.name)
def test_doc_blocks_run(doc, tmp_path):
    where = scratch(tmp_path)
    env = {"PYTHONPATH": str(ROOT), "MPLBACKEND": "Agg", "PYTHONHASHSEED": "0", "PATH": "/usr/bin:/bin",
           "HOME": str(tmp_path)}
    python = []
    for lang, code in blocks(doc):
        if lang == "python":
            python.append(code)
            continue
        script = f'set -euo pipefail\nresilsim() {{ "{sys.executable}" -m resilsim "$@"; }}\n' + code
        done = subprocess.run(["bash", "-c", script], cwd=where, env=env, capture_output=True, text=True,
                              timeout=120)
        assert done.returncode == 0, f"{doc.name}: shell block failed:\n{code}\n{done.stderr[-2000:]}"
        assert not list(where.glob("=*")), f"{doc.name}: an unquoted >= or <= wrote a file:\n{code}"
    if python:
        program = "\n".join(f"exec(compile({c!r}, {f'{doc.name} python block {i + 1}'!r}, 'exec'), ns)"
                            for i, c in enumerate(python))
        done = subprocess.run([sys.executable, "-c", "ns = {}\n" + program], cwd=where, env=env,
                              capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, f"{doc.name}: a Python block failed:\n{done.stderr[-3000:]}"
