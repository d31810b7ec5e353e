"""Reading untrusted YAML, bounded: every scenario, catalog, sweep definition and ``--set`` value comes here.

A file is read up to a byte cap (never trusting its reported size: ``/dev/zero``
reports 0), then parsed safely with caps on nesting depth and on expanded
size (an alias bomb), with repeated keys refused. Problems are raised as
:class:`YamlInputError` with one sentence and, where known, the line; the
scenario and catalog loaders put their file's name in front.
"""
from __future__ import annotations

from pathlib import Path

import yaml

#: Largest file read as a scenario, catalog or sweep definition (bytes): a hand-written one is a few KiB.
MAX_FILE_BYTES = 1_000_000
#: Values a document may expand to (aliases counted as the whole node they point at).
MAX_NODES = 100_000
#: Nesting levels a document may have.
MAX_DEPTH = 50


class YamlInputError(ValueError):
    """Input that cannot be read or parsed: ``reason`` is one sentence, ``line`` is 1-based or None.

    ``capped`` is True when a size, depth or alias cap refused it (never retried as plain text).
    """

    def __init__(self, reason: str, line: int | None = None, capped: bool = False):
        self.reason, self.line, self.capped = reason, line, capped
        super().__init__(reason)


class _CapExceeded(yaml.YAMLError):
    """A document beyond :data:`MAX_NODES` or :data:`MAX_DEPTH`."""


def read_text(path: Path, what: str = "scenario", max_bytes: int = MAX_FILE_BYTES) -> str:
    """The UTF-8 text of ``path``, read at most ``max_bytes`` + 1 bytes; :class:`YamlInputError` when it is
    missing, a folder, longer than ``max_bytes`` bytes or not UTF-8 text. ``what`` names the kind of file."""
    try:
        with open(path, "rb") as f:
            raw = f.read(max_bytes + 1)
    except FileNotFoundError:
        raise YamlInputError("no such file") from None
    except IsADirectoryError:
        raise YamlInputError(f"is a directory, not a {what} file") from None
    except OSError as e:
        raise YamlInputError(f"cannot read the file ({e.strerror or e})") from None
    if len(raw) > max_bytes:
        raise YamlInputError(f"is longer than {max_bytes:,} bytes, the most a {what} file may be", capped=True)
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise YamlInputError("is not a UTF-8 text file (binary?)") from None


class _BoundedLoader(yaml.SafeLoader):
    """safe_load with caps on expanded size (a 'billion laughs' alias bomb) and on nesting depth.

    Each composed node's weight is the number of nodes it expands to, an
    alias counting as the whole node it points at, so a bomb is refused
    before anything is constructed.
    """

    def __init__(self, stream):
        super().__init__(stream)
        self._weights: dict[int, int] = {}
        self._depth = 0

    def compose_node(self, parent, index):
        self._depth += 1
        if self._depth > MAX_DEPTH:
            raise _CapExceeded(f"nested deeper than {MAX_DEPTH} levels")
        try:
            node = super().compose_node(parent, index)
        finally:
            self._depth -= 1
        key = id(node)
        if key not in self._weights:
            if isinstance(node, yaml.MappingNode):
                w = 1 + sum(self._weights.get(id(k), 1) + self._weights.get(id(v), 1) for k, v in node.value)
            elif isinstance(node, yaml.SequenceNode):
                w = 1 + sum(self._weights.get(id(v), 1) for v in node.value)
            else:
                w = 1
            if w > MAX_NODES:
                raise _CapExceeded(f"expands to more than {MAX_NODES} values (an alias bomb?)")
            self._weights[key] = w
        return node

    def construct_mapping(self, node, deep=False):
        # A repeated key silently replaces the first in PyYAML; refuse it instead. Keys are compared as
        # constructed, so -1000 and -1000.0 (or 1 and true) are one key too.
        seen: dict = {}
        for k, _ in node.value:
            if isinstance(k, yaml.ScalarNode) and k.tag != "tag:yaml.org,2002:merge":  # `<<` is merged, not a key
                value = self.construct_object(k)
                try:
                    hash(value)
                except TypeError:
                    continue
                if value in seen:
                    first = seen[value]
                    same = first == k.value
                    raise yaml.constructor.ConstructorError(
                        None, None, f"duplicate key {k.value!r}" if same else
                        f"duplicate key {k.value!r} (the same key as {first!r})", k.start_mark)
                seen[value] = k.value
        return super().construct_mapping(node, deep=deep)


def parse(text: str, what: str = "scenario") -> object:
    """The Python data of the YAML ``text`` (safe: no tags evaluated; duplicate keys, alias bombs and deep
    nesting refused); :class:`YamlInputError` says what is wrong and where. ``what`` names the kind of document."""
    try:
        loader = _BoundedLoader(text)
        try:
            return loader.get_single_data()
        finally:
            loader.dispose()
    except _CapExceeded as e:
        raise YamlInputError(f"is not valid YAML ({e})", capped=True) from None
    except yaml.MarkedYAMLError as e:
        line = e.problem_mark.line + 1 if e.problem_mark else None
        if "could not determine a constructor for the tag" in str(e.problem):
            tag = str(e.problem).rsplit(" ", 1)[-1].replace("tag:yaml.org,2002:", "!!")
            raise YamlInputError(f"uses the tag {tag}, which is not allowed ({what}s are plain YAML; "
                                 "nothing in them is evaluated)", line) from None
        raise YamlInputError(f"is not valid YAML ({e.problem})", line) from None
    except yaml.reader.ReaderError as e:
        raise YamlInputError(f"is not valid YAML (character #x{e.character:04x} at position {e.position} "
                             "is not allowed)") from None
    except yaml.YAMLError as e:
        # PyYAML's messages can span lines; the user gets one.
        raise YamlInputError(f"is not valid YAML ({' '.join(str(e).split())})") from None
    except RecursionError:
        raise YamlInputError(f"is not valid YAML (nested deeper than {MAX_DEPTH} levels)", capped=True) from None


def parse_shipped(text: str, what: str = "catalog") -> object:
    """The Python data of a YAML document shipped inside the package (the built-in catalogs): as :func:`parse`
    gives it, read by libyaml's C parser where PyYAML has it (13.5 KB of catalog: 0.014 -> 0.0015 s CPU),
    else as :func:`parse`. No caps (the text is the package's own): tests/catalog checks that both read every
    shipped catalog the same, so a duplicate key or other refusal of :func:`parse` shows there."""
    loader_class = getattr(yaml, "CSafeLoader", None)
    if loader_class is None:
        return parse(text, what)
    loader = loader_class(text)
    try:
        return loader.get_single_data()
    finally:
        loader.dispose()


def parse_value(raw: str, max_bytes: int = 10_000) -> object:
    """One command-line value (``--set``, ``--grid``) as YAML: ``3`` → 3, ``[1, 2]`` → a list; text that is
    not YAML stays text. Values longer than ``max_bytes``, alias bombs and deep nesting raise
    :class:`YamlInputError` (``capped``)."""
    if len(raw) > max_bytes:
        raise YamlInputError(f"is longer than {max_bytes:,} characters, the most a command-line value may be",
                             capped=True)
    if not raw.strip():
        return raw
    try:
        return parse(raw, "value")
    except YamlInputError as e:
        if e.capped:
            raise
        return raw
