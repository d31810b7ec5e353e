"""The scenario: what is simulated, as a validated, frozen pydantic model.

Load one with :func:`load_scenario` from a YAML file, a YAML string or a dict;
change it with :func:`with_overrides` (dotted paths, as ``--set`` on the
command line), which returns a new scenario and never touches the caller's.

- :mod:`.schema`: the models, each field with its unit and its check;
- :mod:`.load`: YAML reading, overrides, error messages with lines, catalog checks.

The objects a strategy spec becomes are built by :mod:`resilsim.policies.build`.
"""
from __future__ import annotations

from ..policies import build as _build
from ..policies.build import Strategy, build_policy, library_presets, preset_source
from .load import (MAX_FILE_BYTES, apply_overrides, dump_scenario, given_fields, is_field_path, load_scenario,
                   parse_yaml, read_text, with_overrides)
from .schema import (Arrival, Clients, Faults, GuardsSpec, IncidentSpec, Limits, Operation, Poisson, RetrySpec,
                     Scenario, Service, StrategySpec)


def build_strategy(spec: "StrategySpec | str | dict", name: str = "custom", clients: Clients | None = None) -> Strategy:
    """The :class:`Strategy` a ``strategies.NAME`` entry describes: a preset name, a dict or a :class:`StrategySpec`.

    A name or dict is validated as a scenario's strategy is (a
    ``pydantic.ValidationError`` when it is not one); then
    :func:`resilsim.policies.build.build_strategy` builds it.
    """
    if not isinstance(spec, StrategySpec):
        spec = StrategySpec.model_validate({"retry": spec} if isinstance(spec, str) else spec)
    return _build.build_strategy(spec, name, clients)


__all__ = ["Scenario", "load_scenario", "with_overrides", "apply_overrides", "dump_scenario", "given_fields",
           "is_field_path", "parse_yaml", "read_text", "MAX_FILE_BYTES", "build_strategy", "build_policy",
           "library_presets", "preset_source", "Strategy", "Arrival", "Clients", "Faults", "GuardsSpec",
           "IncidentSpec", "Limits", "Operation", "Poisson", "RetrySpec", "Service", "StrategySpec"]
