"""resilsim: what will clients see during the next incident, and how much capacity is needed?

A discrete-event simulation (SimPy) of clients calling an API that answers
with its real, documented error codes, comparing retry strategies.

    >>> import resilsim
    >>> result = resilsim.simulate(resilsim.load_scenario("scenarios/analytics-aurora-scale-up.yaml"), seed=0)
    >>> result.summary()
"""
from .errors import ResilsimError, ScenarioError
from .result import Result
from .scenario import Scenario, Strategy, load_scenario, with_overrides
from .sim import simulate
from .sweep import aggregate, load_sweep, plan, sweep  # parameter sweeps and capacity planning

__version__ = "0.1.0"
__all__ = ["ResilsimError", "ScenarioError", "Result", "Scenario", "Strategy", "load_scenario", "with_overrides",
           "simulate", "sweep", "load_sweep", "aggregate", "plan", "__version__"]
