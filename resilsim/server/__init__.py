"""Server-side decisions, pure: rate limiters, fault schedules, service-time distributions."""
from .faults import FaultSchedule, Incident
from .latency import Constant, Exponential, LogNormal, Mixture
from .limiters import TokenBucket

__all__ = ["FaultSchedule", "Incident", "Constant", "Exponential", "LogNormal", "Mixture", "TokenBucket"]
