"""The scenario file's JSON Schema and reference page, generated from the models in :mod:`.schema`.

``resilsim schema`` prints :func:`json_schema` (editors validate and complete
YAML with it); docs/scenario-reference.md is :func:`reference_markdown`, and a
test checks the committed page equals it, so neither can drift from the models.
"""
from __future__ import annotations

import json
import typing
from pathlib import Path

from pydantic import BaseModel

from .schema import Scenario, complete_models

complete_models()  # the fields' annotations, walked below, resolved

#: Where the schema lives in the repository, as the shipped scenarios' first line names it.
SCHEMA_FILE = "scenario.schema.json"
#: The first line of every shipped scenario: yaml-language-server reads it to validate and complete.
MODELINE = "# yaml-language-server: $schema={path}"

#: Fields holding error codes: YAML may give a numeric code (104000, -2000) as a number.
_CODE_KEYS = ("code", "codes", "failures", "background", "rates", "violations")


def json_schema() -> dict:
    """The JSON Schema (draft 2020-12) of a scenario file, from :class:`resilsim.Scenario`.

    Numeric error codes are allowed where the loader turns them into strings.
    """
    schema = Scenario.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "resilsim scenario"
    for model in [schema, *schema.get("$defs", {}).values()]:
        for key, prop in model.get("properties", {}).items():
            if key in _CODE_KEYS:
                _numbers_as_codes(prop)
    _library_optional(schema)
    _string_short(schema, "RetryAfterSpec", "send")
    return schema


def _numbers_as_codes(prop: dict) -> None:
    """Let a code (a string or a list's items) also be an integer."""
    for node in [prop, *prop.get("anyOf", [])]:
        if node.get("type") == "string":
            node["type"] = ["string", "integer"]
        elif node.get("type") == "array" and node.get("items", {}).get("type") == "string":
            node["items"]["type"] = ["string", "integer"]


def _string_short(schema: dict, name: str, field: str) -> None:
    """A model whose loader takes a bare string as short for ``{field: string}`` (``retry_after: header``)."""
    spec = schema["$defs"][name]
    short = {"type": "string", "enum": spec["properties"][field]["enum"]}
    schema["$defs"][name] = {"anyOf": [short, spec], "title": spec.get("title", name),
                             "description": spec.get("description", "")}


def _library_optional(schema: dict) -> None:
    """An incident with ``use:`` takes its duration (and code) from the library: required only without it."""
    spec = schema["$defs"]["IncidentSpec"]
    from ..server.incidents import LIBRARY
    supplied = set.intersection(*(set(v[1]) for v in LIBRARY.values()))
    needed = [k for k in spec.get("required", []) if k in supplied]
    spec["required"] = [k for k in spec.get("required", []) if k not in supplied]
    if needed:
        spec["anyOf"] = [{"required": ["use"]}, {"required": needed}]


# ---------------------------------------------------------------- the reference page

#: Words in a field's description that give its unit (first match wins).
_UNITS = (("per second", "1/s"), ("requests/s", "1/s"), ("seconds", "s"), ("probability", "0–1"),
          ("fraction", "0–1"))


def _unit(description: str) -> str:
    text = description.lower()
    return next((u for word, u in _UNITS if word in text), "")


def _type_name(annotation) -> str:
    """A short readable type: number, integer, text, one of a | b, list of ..., map of ...: ..."""
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin is typing.Annotated:
        return _type_name(args[0])
    if origin in (typing.Union, getattr(__import__("types"), "UnionType", None)):
        parts = [_type_name(a) for a in args if a is not type(None)]
        return " or ".join(dict.fromkeys(parts)) + (" or null" if type(None) in args else "")
    if origin is typing.Literal:
        return "one of " + " | ".join(str(a) for a in args)
    if origin in (list, tuple):
        return f"list of {_type_name(args[0])}" if args else "list"
    if origin is dict:
        return f"map of {_type_name(args[0])}: {_type_name(args[1])}"
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return f"[{annotation.__name__}](#{annotation.__name__.lower()})"
    return {float: "number", int: "integer", str: "text", bool: "true/false"}.get(annotation, str(annotation))


def _models(model: type[BaseModel], seen: dict) -> None:
    """Every model reachable from ``model``, in the order a reader meets them."""
    if model in seen:
        return
    seen[model] = None
    for f in model.model_fields.values():
        for inner in _inner(f.annotation):
            _models(inner, seen)


def _inner(annotation):
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        yield annotation
    for a in typing.get_args(annotation):
        yield from _inner(a)


def field_unit(key: str) -> str:
    """The unit of the scenario field at dotted ``key`` (``clients.arrival.poisson.rate`` → ``"1/s"``).

    Read from the field's description as the reference page reads it; ``"count"`` for a whole number
    without one, ``""`` when the key names no field (a map's own keys, such as a strategy's name, are
    stepped over).
    """
    models, field = [Scenario], None
    for part in key.split("."):
        found = next((m.model_fields[part] for m in models if part in m.model_fields), None)
        if found is None:
            continue  # a map's key (strategies.NAME): the models stay those of its values
        field = found
        models = list(_inner(found.annotation))
    if field is None:
        return ""
    unit = _unit(field.description or "")
    if unit:
        return unit
    whole = int in set(_leaves(field.annotation)) and float not in set(_leaves(field.annotation))
    return "count" if whole else ""


def _leaves(annotation):
    args = typing.get_args(annotation)
    if not args:
        yield annotation
    for a in args:
        yield from _leaves(a)


def axis_label(key: str) -> str:
    """An axis label for the swept or planned scenario field ``key``: the key with its unit, e.g.
    ``clients.arrival.poisson.rate (1/s)`` (the key alone when it has no unit)."""
    unit = field_unit(key)
    return f"{key} ({unit})" if unit else key


def _examples(root: Path) -> dict:
    """Dotted model path → (value, file): the first value each field takes in the shipped scenarios."""
    import yaml
    found: dict = {}

    def walk(model, data, path, file):
        if not isinstance(data, dict):
            return
        for key, value in data.items():
            f = model.model_fields.get(key) if model else None
            if f is None:
                continue
            found.setdefault((model.__name__, key), (value, file))
            for inner in _inner(f.annotation):
                items = value.values() if isinstance(value, dict) and typing.get_origin(f.annotation) is dict \
                    else value if isinstance(value, list) else [value]
                for item in items:
                    walk(inner, item, f"{path}.{key}", file)

    for p in sorted(root.glob("*.yaml")):
        walk(Scenario, yaml.safe_load(p.read_text()), "", p.name)
    return found


def _cell(value) -> str:
    text = json.dumps(value, ensure_ascii=False) if not isinstance(value, str) else value
    text = text if len(text) <= 60 else text[:57] + "..."
    return f"`{text}`".replace("|", "\\|")


def reference_markdown(scenarios: Path | str) -> str:
    """docs/scenario-reference.md: every field of every scenario model with type, unit, default and an example.

    ``scenarios``: the folder of shipped scenarios the examples are taken from.
    """
    from pydantic_core import PydanticUndefined
    examples = _examples(Path(scenarios))
    models: dict = {}
    _models(Scenario, models)
    lines = ["# Scenario file reference", "",
             "Generated by `python -m resilsim.scenario.reference` from the scenario models "
             "(resilsim/scenario/schema.py); do not edit by hand. Every duration is in seconds. The same models "
             f"give the JSON Schema (`resilsim schema > {SCHEMA_FILE}`) that editors use to validate and "
             "complete scenario files. Examples come from the shipped scenarios (file named) where one sets the "
             "field; *required* fields have no default.", ""]
    for model in models:
        lines += [f"## {model.__name__}", ""]
        doc = _summary(model)
        if doc:
            lines += [doc, ""]
        lines += ["| field | type | unit | default | example | meaning |", "|---|---|---|---|---|---|"]
        for name, f in model.model_fields.items():
            desc = (f.description or _summary(next(iter(_inner(f.annotation)), None))).replace("|", "\\|")
            if f.is_required():
                default = "*required*"
            elif f.default_factory is not None:
                default = _cell(_plain(f.default_factory()))
            else:
                default = _cell(_plain(f.default)) if f.default is not PydanticUndefined else ""
            ex = examples.get((model.__name__, name))
            example = f"{_cell(ex[0])} ({ex[1]})" if ex else "—"
            kind = _type_name(f.annotation).replace("|", "\\|")
            lines.append(f"| `{name}` | {kind} | {_unit(desc)} | {default} | {example} | {desc} |")
        lines.append("")
    return "\n".join(lines)


def _summary(model) -> str:
    """The first paragraph of a model's own docstring, on one line ("" for none or pydantic's)."""
    doc = (model.__dict__.get("__doc__") or "") if model is not None else ""
    return " ".join(doc.strip().split("\n\n")[0].split())


def _plain(value):
    """A default as YAML would write it: models as dicts of their set fields."""
    if isinstance(value, BaseModel):
        return value.model_dump(exclude_defaults=True, mode="json")
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


if __name__ == "__main__":  # python -m resilsim.scenario.reference: rewrite the page and the schema file
    root = Path(__file__).resolve().parents[2]
    (root / "docs" / "scenario-reference.md").write_text(reference_markdown(root / "scenarios"))
    (root / SCHEMA_FILE).write_text(json.dumps(json_schema(), indent=2, ensure_ascii=False) + "\n")
