"""resilsim: what will clients see during the next incident, and how much capacity is needed?

A discrete-event simulation (SimPy) of clients calling an API that answers
with its real, documented error codes, comparing retry strategies.

    >>> import resilsim
    >>> result = resilsim.simulate(resilsim.load_scenario("scenarios/analytics-aurora-scale-up.yaml"), seed=0)
    >>> result.summary()
"""
from __future__ import annotations

import importlib
import sys
import types

__version__ = "0.1.0"

# The public names and the module each lives in. They are imported on first use (module __getattr__),
# so `import resilsim` and `resilsim --help` do not pay for pandas, pydantic and SimPy until a command
# needs them.
_HOME = {"load_catalog": ".catalog", "ResilsimError": ".errors", "ScenarioError": ".errors", "UsageError": ".errors",
         "Result": ".result",
         "Scenario": ".scenario", "Strategy": ".scenario", "load_scenario": ".scenario", "with_overrides": ".scenario",
         "simulate": ".sim", "sweep": ".sweep", "load_sweep": ".sweep", "aggregate": ".sweep", "plan": ".sweep"}

__all__ = [*_HOME, "__version__"]


def __getattr__(name: str):
    home = _HOME.get(name)
    if home is None:
        raise AttributeError(f"module 'resilsim' has no attribute {name!r}")
    value = getattr(importlib.import_module(home, __name__), name)
    globals()[name] = value  # later look-ups skip this function
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_HOME})


class _Package(types.ModuleType):
    """This package's module type: importing the subpackage ``resilsim.sweep`` binds it to the name ``sweep``
    on the package, which would hide the public function :func:`resilsim.sweep.sweep`; keep the function."""

    def __setattr__(self, name, value):
        if name == "sweep" and isinstance(value, types.ModuleType):
            value = value.sweep
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package
