"""Reading a scenario: YAML (bounded, safe), dotted overrides, validation, and errors with their lines.

:func:`load_scenario` turns a file, a YAML string or a dict into a frozen
:class:`~resilsim.scenario.schema.Scenario`, or raises one
:class:`~resilsim.errors.ScenarioError` naming the file, the field, its line
and what is allowed. The checks that need the API's catalog (every code a
scenario names) and the policies (every strategy can stop) run here, after
the schema's own.
"""
from __future__ import annotations

import copy
import difflib
import os
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from .. import yamlsafe
from ..errors import ScenarioError
from ..yamlsafe import MAX_FILE_BYTES  # noqa: F401 - part of resilsim.scenario's API
from ..policies.build import build_policy, library_presets, preset_source
from .data import DataError, read_curve as _curve_of, read_samples as _samples_of, read_trace as _trace_of
from .schema import RetrySpec, Scenario, complete_models



def load_scenario(source: str | os.PathLike | dict | Scenario, *, overrides: dict | list | None = None) -> Scenario:
    """Load and validate a scenario from a YAML file path, a YAML string or a dict.

    ``overrides`` are dotted paths (``{"service.workers": 16}`` or
    ``["service.workers=16"]``) applied before validation. Raises
    :class:`ScenarioError` with the file, the field path and what is allowed.
    """
    if isinstance(source, Scenario):
        data, label, text = source.model_dump(mode="python", exclude_none=False), None, None
        data = given_fields(source)
    elif isinstance(source, dict):
        data, label, text = copy.deepcopy(source), None, None
    else:
        path_like = isinstance(source, os.PathLike) or (isinstance(source, str) and "\n" not in source
                                                         and source.endswith((".yaml", ".yml")))
        if path_like:
            label = str(source)
            text = read_text(Path(source))
        else:
            label, text = "<string>", str(source)
        data = parse_yaml(text, label)
    if overrides:
        data = apply_overrides(data, overrides, source=label)
    written = _resolve_data_files(data, Path(label).parent if text is not None and label != "<string>" else None)
    scenario = _validate(data, label, text)
    _check_data_files(scenario, written, label, text)
    _check_codes(scenario, label, text)
    _check_stops(scenario, label, text)
    if scenario.services:
        _check_call_stops(scenario, label, text)
        _check_edge_loss(scenario, label, text)
        _warn_call_deadlines(scenario, label, text)
    _check_strategy_limits(scenario, label, text)
    return scenario


def given_fields(s: Scenario) -> dict:
    """The fields of ``s`` that were given (defaults left out), as plain Python data: what a file would hold."""
    return s.model_dump(mode="python", exclude_unset=True)


def read_text(path: Path) -> str:
    """The UTF-8 text of a scenario-sized file, or one ScenarioError naming it (missing, a folder, too big, binary)."""
    try:
        return yamlsafe.read_text(Path(path), "scenario")
    except yamlsafe.YamlInputError as e:
        raise ScenarioError(e.reason, source=str(path)) from None


def parse_yaml(text: str, label: str) -> dict:
    """A YAML mapping from ``text`` (safe, duplicate keys, tags, alias bombs and deep nesting refused); ``label`` names it in errors."""
    try:
        data = yamlsafe.parse(text, "scenario")
    except yamlsafe.YamlInputError as e:
        raise ScenarioError(e.reason, source=label, line=e.line) from None
    if data is None:
        raise ScenarioError("is empty; a scenario needs at least api, duration, service and clients", source=label)
    if not isinstance(data, dict):
        raise ScenarioError(f"must be a mapping of fields, not a {type(data).__name__}", source=label)
    return data


def apply_overrides(data: dict, overrides: dict | list, *, source: str | None = None) -> dict:
    """Return a copy of ``data`` with dotted-path overrides applied (values parsed as YAML scalars)."""
    data = copy.deepcopy(data)
    items = overrides.items() if isinstance(overrides, dict) else [_split(o, source) for o in overrides]
    for key, value in items:
        parts = key.split(".")
        node = data
        for i, part in enumerate(parts[:-1]):
            if isinstance(node, list):
                node = _list_item(node, part, key, source)
                continue
            if not isinstance(node, dict):
                raise ScenarioError(f"cannot set {key!r}: {'.'.join(parts[:i])} is not a mapping", source=source)
            node = node.setdefault(part, {})
        last = parts[-1]
        if isinstance(node, list):
            idx = int(_list_item(node, last, key, source) is not None and last)
            node[idx] = value
        elif isinstance(node, dict):
            node[last] = value
        else:
            raise ScenarioError(f"cannot set {key!r}: its parent is not a mapping", source=source)
    return data


def _list_item(node: list, part: str, key: str, source):
    if not part.isdigit() or int(part) >= len(node):
        raise ScenarioError(f"cannot set {key!r}: {part!r} is not an index below {len(node)}", source=source)
    return node[int(part)]


def _split(item: str, source) -> tuple[str, Any]:
    if "=" not in item:
        raise ScenarioError(f"override {item!r} must look like dotted.key=value", source=source)
    key, raw = item.split("=", 1)
    try:
        return key.strip(), yamlsafe.parse_value(raw)
    except yamlsafe.YamlInputError as e:
        raise ScenarioError(f"the value {e.reason}", source=source, path=key.strip()) from None


def is_field_path(data: dict, key: str) -> bool:
    """Whether the dotted ``key`` names a field of a scenario given as ``data`` (a list index where data has a list).

    A field the file does not give counts when the schema has it, so a sweep
    may vary ``service.queue.limit`` in a scenario that leaves it at its default.
    """
    complete_models()
    node, m = data, Scenario
    for part in key.split("."):
        if isinstance(node, list):
            if not part.isdigit() or int(part) >= len(node):
                return False
            node = node[int(part)]
            m = None
            continue
        if isinstance(node, dict) and part in node:
            node = node[part]
            m = _field_model(m, part)
            continue
        # Not given in the file: fine if the schema has such a field.
        fm = getattr(m, "model_fields", None) if m is not None else None
        if fm is None or part not in fm:
            return False
        node = None
        m = _field_model(m, part)
    return True


def _field_model(m, part):
    complete_models()
    fm = getattr(m, "model_fields", None) if m is not None else None
    if not fm or part not in fm:
        return None
    try:
        return _inner_model(fm[part].annotation)
    except Exception:  # noqa: BLE001 - best effort: unknown nesting means "accept"
        return None


def with_overrides(scenario: Scenario, overrides: dict | list) -> Scenario:
    """A new scenario with dotted-path overrides applied; ``scenario`` is unchanged."""
    return load_scenario(given_fields(scenario), overrides=overrides)


def _validate(data: dict, label, text) -> Scenario:
    try:
        return Scenario.model_validate(data)
    except ValidationError as e:
        # An unknown key explains the rest best; otherwise the deepest error names
        # the real field (a union such as strategies.X.retry reports every member).
        errs = e.errors()
        err = max(errs, key=lambda x: (x["type"] == "extra_forbidden", len(x["loc"])))
        loc = tuple(err["loc"])
        path = _loc_path(loc)
        msg = _message(err, data)
        raise ScenarioError(msg, source=label, path=path or None, line=_line_of(text, loc)) from None


def _loc_path(loc) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif str(part) in ("RetrySpec", "str") or str(part).startswith(("function-after[", "list[")):
            # pydantic's names for union members, not fields
            continue
        else:
            out += ("." if out else "") + str(part)
    return out


def _message(err: dict, data: dict) -> str:
    kind = err["type"]
    if kind == "extra_forbidden":
        key = str(err["loc"][-1])
        parent = _model_at(err["loc"][:-1])
        known = list(parent.model_fields) if parent else []
        close = difflib.get_close_matches(key, known, n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        return f"unknown field {key!r}{hint} (allowed: {', '.join(known)})" if known else f"unknown field {key!r}"
    if kind == "missing":
        return "is required"
    got = err.get("input")
    text = err["msg"]
    if text.startswith("Value error, "):
        text = text[len("Value error, "):]
    if isinstance(got, (dict, list)):
        return text
    shown = repr(got)
    return f"{text} (got {shown if len(shown) <= 40 else shown[:37] + '...'})"


def _model_at(loc) -> type[BaseModel] | None:
    """The pydantic model class at a location, for listing allowed keys."""
    complete_models()
    model: Any = Scenario
    for part in loc:
        if model is None:
            return None
        if isinstance(part, int):
            continue
        if part in ("RetrySpec",):
            model = RetrySpec
            continue
        field = model.model_fields.get(str(part)) if isinstance(model, type) and issubclass(model, BaseModel) else None
        if field is None:
            # a dict value (operations.NAME, strategies.NAME): the dict's value model
            model = _dict_value_model(model, part)
            continue
        model = _inner_model(field.annotation)
    return model if isinstance(model, type) and issubclass(model, BaseModel) else None


def _inner_model(annotation):
    import typing
    args = typing.get_args(annotation)
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    if typing.get_origin(annotation) is dict:
        return ("dict", args[1])
    for a in args:
        m = _inner_model(a)
        if m is not None and m != (None):
            return m
    return None


def _dict_value_model(model, part):
    if isinstance(model, tuple) and model[0] == "dict":
        inner = model[1]
        return inner if isinstance(inner, type) and issubclass(inner, BaseModel) else None
    return None


def _line_of(text: str | None, loc) -> int | None:
    """The 1-based line of ``loc`` in the YAML ``text`` (the deepest key found), via compose marks."""
    if not text:
        return None
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError:
        return None
    line = None
    for part in loc:
        if isinstance(node, yaml.MappingNode):
            for k, v in node.value:
                if k.value == str(part):
                    line = k.start_mark.line + 1
                    node = v
                    break
            else:
                if part in ("RetrySpec", "str"):
                    continue
                return line
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
            node = node.value[part]
            line = node.start_mark.line + 1
        else:
            return line
    return line


def _data_fields(data) -> list[tuple]:
    """Where a scenario (a dict, as parsed) names a data file: the key paths of each ``file`` field."""
    out = []
    if not isinstance(data, dict):
        return out
    arrival = (data.get("clients") or {}).get("arrival") if isinstance(data.get("clients"), dict) else None
    if isinstance(arrival, dict):
        out += [("clients", "arrival", k, "file") for k in ("curve", "replay") if isinstance(arrival.get(k), dict)]
    ops = (data.get("service") or {}).get("operations") if isinstance(data.get("service"), dict) else None
    if isinstance(ops, dict):
        for name, op in ops.items():
            lat = op.get("latency") if isinstance(op, dict) else None
            if isinstance(lat, dict) and isinstance(lat.get("empirical"), dict):
                out.append(("service", "operations", name, "latency", "empirical", "file"))
    # Other latency-like distributions: network hops and closed-loop users' think time.
    net = _get(data, ("network", "latency"))
    if isinstance(net, dict):
        out += [("network", "latency", k, "empirical", "file") for k in ("request", "response", "round_trip")
                if isinstance(_get(net, (k, "empirical")), dict)]
    if isinstance(_get(data, ("clients", "closed", "think", "empirical")), dict):
        out.append(("clients", "closed", "think", "empirical", "file"))
    return out


def _get(data, keys):
    for k in keys:
        if not isinstance(data, dict) or k not in data:
            return None
        data = data[k]
    return data


def _resolve_data_files(data, base: Path | None) -> dict:
    """Make the data files a scenario file names relative to its folder, absolute (in ``data``, in place); return
    each resolved path → the path as written, for error messages."""
    written = {}
    for keys in _data_fields(data):
        value = _get(data, keys)
        if not isinstance(value, str):
            continue
        # Absolute: a run folder's copy of the scenario (and a sweep worker) must find the file from anywhere.
        resolved = value if base is None or Path(value).is_absolute() else os.path.abspath(base / value)
        _get(data, keys[:-1])[keys[-1]] = resolved
        written[resolved] = value
    return written


def read_curve(path) -> tuple:
    """``(times, rates)`` of a rate-curve file (seconds, requests per second): :func:`resilsim.scenario.data.read_curve`."""
    return _curve_of(path, read_text)


def read_trace(path):
    """Arrival timestamps of a trace file, seconds from the first: :func:`resilsim.scenario.data.read_trace`."""
    return _trace_of(path, read_text)


def read_samples(path):
    """Latency samples of a file, seconds: :func:`resilsim.scenario.data.read_samples`."""
    return _samples_of(path, read_text)


def _check_data_files(s: Scenario, written: dict, label, text) -> None:
    """Read every data file the scenario names (cached for the run): one ScenarioError at the field naming a bad
    one. An empirical latency keeps its samples (its ``distribution()`` needs them)."""
    a = s.clients.arrival
    checks = [] if a is None else [(("clients", "arrival", "curve", "file"), read_curve, a.curve),
                                   (("clients", "arrival", "replay", "file"), read_trace, a.replay)]
    for name, op in s.service.operations.items():
        checks.append((("service", "operations", name, "latency", "empirical", "file"), read_samples,
                       op.latency.empirical))
    # Latency-like distributions elsewhere: network hops, closed-loop users' think time.
    for direction, lat in (s.network.latency.specs() if s.network is not None else []):
        checks.append((("network", "latency", direction, "empirical", "file"), read_samples, lat.empirical))
    closed = s.clients.closed
    if closed is not None and closed.think is not None:
        checks.append((("clients", "closed", "think", "empirical", "file"), read_samples, closed.think.empirical))
    for keys, read, spec in checks:
        if spec is None:
            continue
        try:
            got = read(spec.file)
        except DataError as e:
            raise ScenarioError(f"{written.get(spec.file, spec.file)}: {e.detail}", source=label,
                                path=".".join(keys), line=_line_of(text, keys)) from None
        if read is read_samples:
            spec.keep(got)


def _check_codes(s: Scenario, label, text) -> None:
    """Every error code a scenario names must be in its API's catalog."""
    from ..catalog import CatalogError, load_catalog
    try:
        catalog = load_catalog(s.api)
    except CatalogError as e:
        raise ScenarioError(str(e), source=label, path="api") from None
    except (KeyError, FileNotFoundError, OSError):
        raise ScenarioError(f"unknown API {s.api!r}; use analytics, nanostream, counters or a catalog file path",
                            source=label, path="api", line=_line_of(text, ("api",))) from None
    where: list[tuple[tuple, str]] = [(("faults", "background", c), c) for c in s.faults.background]
    for i, inc in enumerate(s.faults.incidents):
        if inc.service is not None:
            continue  # a service's generic codes (checked by the schema)
        where += [(("faults", "incidents", i, "rates" if c != inc.code else "code"), c) for c in inc.all_rates()]
    for i, rl in enumerate(s.service.rate_limits()):
        if rl.code is not None:
            where.append((("service", "rate_limit", "code"), rl.code))
        elif catalog.rate_limit_code is None:
            raise ScenarioError(f"the {catalog.api} API documents no rate-limit code; give the limiter a `code:` "
                                "from its catalog", source=label, path="service.rate_limit",
                                line=_line_of(text, ("service", "rate_limit")))
    if s.service.quota is not None:
        if s.service.quota.code is not None:
            where.append((("service", "quota", "code"), s.service.quota.code))
        elif catalog.quota_code is None:
            raise ScenarioError(f"the {catalog.api} API documents no quota code; give the quota a `code:` "
                                "from its catalog", source=label, path="service.quota",
                                line=_line_of(text, ("service", "quota")))
    if s.service.processing_timeout is not None and s.service.processing_timeout.code is not None:
        where.append((("service", "processing_timeout", "code"), s.service.processing_timeout.code))
    if s.service.credits is not None:
        where.append((("service", "credits", "code"), s.service.credits.code))
    if s.service.locks is not None:
        where.append((("service", "locks", "code"), s.service.locks.code))
    for op, spec in s.service.operations.items():
        where += [(("service", "operations", op, "violations", c), c) for c in spec.violations]
    if s.clients.token_lifetime is not None and catalog.auth_code is None:
        raise ScenarioError(f"the {catalog.api} API documents no auth code for expired tokens", source=label,
                            path="clients.token_lifetime")
    for name, st in s.strategies.items():
        if isinstance(st.retry, RetrySpec) and st.retry.retry_on:
            where += [(("strategies", name, "retry", "retry_on", "codes"), c) for c in st.retry.retry_on.codes
                      if c not in ("TIMEOUT",)]
        if st.guards is not None and isinstance(st.guards.failures, list):
            where += [(("strategies", name, "guards", "failures"), c) for c in st.guards.failures if c != "TIMEOUT"]
    for op, spec in s.service.operations.items():
        where += [(("service", "operations", op, "calls", i, "on_failure"), c.on_failure)
                  for i, c in enumerate(spec.calls) if c.on_failure is not None]
    for loc, code in where:
        if code not in catalog:
            close = catalog.closest(code)
            hint = f"; closest: {', '.join(close)}" if close else ""
            raise ScenarioError(f"unknown {catalog.api} error code {code!r}{hint}", source=label,
                                path=_loc_path(loc), line=_line_of(text, loc))
    specs = [(st, ("strategies", name)) for name, st in s.strategies.items()]
    for where_svc, svc in [(("service",), s.service)] + [(("services", n), v) for n, v in s.services.items()]:
        specs += [(c, where_svc + ("operations", op, "calls", i)) for op, o in svc.operations.items()
                  for i, c in enumerate(o.calls)]
    for st, at in specs:
        given, loc = (st.retry, at + ("retry",)) if isinstance(st.retry, str) else \
            (st.retry.preset, at + ("retry", "preset"))
        if given is not None and preset_source(given) is None:
            from ..policies import PRESETS
            lib = list(library_presets())
            close = difflib.get_close_matches(given, list(PRESETS) + lib, n=3)
            raise ScenarioError(
                f"unknown retry preset {given!r}; known: {', '.join(PRESETS)}"
                + (f"; library: {', '.join(lib)}" if lib else "")
                + (f" (closest: {', '.join(close)})" if close else ""),
                source=label, path=_loc_path(loc), line=_line_of(text, loc))


def _check_stops(s: Scenario, label, text) -> None:
    """Refuse a strategy whose retries could go on for ever: no stop of its own and no client deadline."""
    if s.clients.deadline is not None:
        return
    for name, st in s.strategies.items():
        if st.deadline is None and not build_policy(st.retry, name).bounded:
            raise ScenarioError("retries could never stop; give stop.attempts, stop.elapsed or stop.deadline, "
                                "a deadline or a clients.deadline", source=label, path=f"strategies.{name}.retry",
                                line=_line_of(text, ("strategies", name, "retry")))


def _timed(s: Scenario):
    """``timed(name)``: whether every attempt the API (``"api"``) or service ``name`` serves has a finite end
    (each call into it has a timeout or deadline of its own, or propagates a timed caller's)."""
    callers = {"api": s.service, **s.services}
    memo = {"api": s.clients.timeout is not None or s.clients.deadline is not None
            or all(st.timeout is not None or st.deadline is not None for st in s.strategies.values())}

    def timed(name: str) -> bool:
        if name not in memo:
            memo[name] = all(c.timeout is not None or c.deadline is not None or (c.propagate_deadline and timed(who))
                             for who, svc in callers.items() for o in svc.operations.values() for c in o.calls
                             if c.service == name)
        return memo[name]

    return timed


def _check_call_stops(s: Scenario, label, text) -> None:
    """Refuse a call whose retries could go on for ever: no stop of its own, no deadline of its own, and no
    finite deadline from its caller (propagate_deadline, with every attempt the caller serves timed)."""
    callers = {"api": s.service, **s.services}
    timed = _timed(s)
    for who, svc in callers.items():
        at = ("service",) if who == "api" else ("services", who)
        for op, o in svc.operations.items():
            for i, c in enumerate(o.calls):
                if c.deadline is not None or (c.propagate_deadline and timed(who)):
                    continue
                if not build_policy(c.retry, c.service).bounded:
                    loc = at + ("operations", op, "calls", i, "retry")
                    raise ScenarioError("the call's retries could never stop; give stop.attempts, stop.elapsed or "
                                        "stop.deadline, a deadline, or propagate_deadline from a caller whose "
                                        "attempts have a timeout or deadline", source=label, path=_loc_path(loc),
                                        line=_line_of(text, loc))


def _check_edge_loss(s: Scenario, label, text) -> None:
    """Refuse a network incident that loses calls on an edge where some call would wait for ever: no timeout or
    deadline of its own and none propagated from a timed caller (a lost call is seen only as a timeout)."""
    timed = _timed(s)
    for i, inc in enumerate(s.faults.incidents):
        if inc.edge is None or not inc.loss:
            continue
        caller, callee = inc.edge.caller, inc.edge.callee
        svc = s.service if caller == "api" else s.services[caller]
        for op, o in svc.operations.items():
            for k, c in enumerate(o.calls):
                if c.service != callee or c.timeout is not None or c.deadline is not None or (
                        c.propagate_deadline and timed(caller)):
                    continue
                loc = ("faults", "incidents", i, "loss")
                at = "service" if caller == "api" else f"services.{caller}"
                raise ScenarioError(f"{caller}'s call to {callee} ({at}.operations.{op}.calls[{k}]) has no timeout "
                                    "or deadline, so a lost call would hold its worker for ever; give the call a "
                                    "timeout", source=label, path=_loc_path(loc), line=_line_of(text, loc))


def min_latency_s(latency) -> float:
    """The shortest service time (seconds) a ``latency:`` spec can draw: a constant's value, a mixture's faster
    value, a Pareto's scale, an empirical sample's smallest; 0 for the distributions that reach down to 0."""
    if latency.constant is not None:
        return float(latency.constant)
    if latency.mixture is not None:
        return float(min(latency.mixture.value, latency.mixture.slow))
    if latency.pareto is not None:
        return float(latency.pareto.scale)
    if latency.empirical is not None:
        return float(latency.distribution().samples.min())
    return 0.0


def _warn_call_deadlines(s: Scenario, label, text) -> None:
    """Warn (:class:`~resilsim.errors.ScenarioWarning`, not an error) about a call whose own timeout or deadline
    is shorter than its callee operation's minimum latency: every attempt of that call times out."""
    import warnings

    from ..errors import ScenarioWarning
    callers = {"api": s.service, **s.services}
    for who, svc in callers.items():
        at = ("service",) if who == "api" else ("services", who)
        for op, o in svc.operations.items():
            for i, c in enumerate(o.calls):
                least = min_latency_s(s.services[c.service].operations[c.operation].latency)
                for field in ("timeout", "deadline"):
                    limit = getattr(c, field)
                    if limit is not None and limit < least:
                        loc = at + ("operations", op, "calls", i, field)
                        line = _line_of(text, loc)
                        where = f"{label}:{line}" if label and line else (label or "<scenario>")
                        warnings.warn(f"{where}: {_loc_path(loc)}: the call's {field} ({limit:g} s) is shorter than "
                                      f"the minimum latency of {c.service}.{c.operation} ({least:g} s), so every "
                                      "call fails", ScenarioWarning, stacklevel=3)


def _check_strategy_limits(s: Scenario, label, text) -> None:
    """Refuse a strategy's own attempt timeout longer than the scenario's deadline (as clients: does for its own)."""
    for name, st in s.strategies.items():
        if st.timeout and st.deadline is None and s.clients.deadline and s.clients.deadline < st.timeout:
            raise ScenarioError(f"the attempt timeout ({st.timeout} s) is longer than clients.deadline "
                                f"({s.clients.deadline} s); give a strategy deadline or a shorter timeout",
                                source=label, path=f"strategies.{name}.timeout",
                                line=_line_of(text, ("strategies", name, "timeout")))


def dump_scenario(s: Scenario) -> str:
    """The scenario as YAML (only the fields that were given), e.g. to store beside results."""
    return yaml.safe_dump(given_fields(s), sort_keys=False)
