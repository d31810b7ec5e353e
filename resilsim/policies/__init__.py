"""Client-side policies, pure: backoff schedules, stop conditions, retry policies and presets.

Nothing here imports SimPy or reads the clock: every object takes ``now`` or
the facts of an attempt, and an rng where it draws, so the same object runs in
the simulator and in a real client.
"""
from .presets import PRESETS, preset
from .adapters import (MissingLibraryError, SimulatedHTTPError, SimulatedTimeout, from_botocore, from_stamina,
                       from_tenacity, from_urllib3)
from .protocols import GuardLike, RetryOnLike, StopLike, WaitLike
from .retry import (
    CodePlan,
    Decision,
    RetryPolicy,
    Rule,
    by_advice,
    decide,
    on_codes,
    on_status,
    retry_after,
)
from .stops import attempts, deadline, elapsed, never
from .waits import exponential, fixed, jitter, linear, none

__all__ = [
    "WaitLike", "StopLike", "RetryOnLike", "GuardLike",
    "PRESETS", "preset", "CodePlan", "Decision", "RetryPolicy", "Rule", "by_advice", "decide",
    "on_codes", "on_status", "retry_after", "attempts", "deadline", "elapsed", "never",
    "exponential", "fixed", "jitter", "linear", "none",
    "from_urllib3", "from_tenacity", "from_stamina", "from_botocore", "MissingLibraryError",
    "SimulatedHTTPError", "SimulatedTimeout",
]
