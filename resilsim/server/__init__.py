"""Server-side decisions, pure: rate limiters, quotas, what refusals tell clients, fault schedules, incidents, service-time distributions."""
from .faults import FaultSchedule, Incident
from .hints import RetryAfterHint
from .incidents import LIBRARY as INCIDENT_LIBRARY
from .latency import Constant, Exponential, LogNormal, Mixture
from .limiters import FixedWindow, Scoped, SlidingWindowCounter, SlidingWindowLog, TokenBucket
from .quota import Admission, Auth, Credits, Quota

__all__ = ["FaultSchedule", "Incident", "INCIDENT_LIBRARY", "Constant", "Exponential", "LogNormal", "Mixture",
           "TokenBucket", "FixedWindow", "SlidingWindowLog", "SlidingWindowCounter", "Scoped",
           "Admission", "Auth", "Credits", "Quota", "RetryAfterHint"]
