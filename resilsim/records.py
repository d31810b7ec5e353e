"""The row vocabulary and the typed record a run returns.

The engine (:mod:`resilsim.sim`) writes attempt and request rows as small
integers; :mod:`resilsim.result` and :mod:`resilsim.invariants` read them
back. Both sides take the numbers from here, so neither imports the other.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace

# Where an attempt's answer came from: which protection or fault answered it. A value is its index here.
SOURCES = ("service", "limiter", "capacity", "queue_timeout", "background", "incident", "client_timeout",
           # API-side protections (resilsim.server): quota, credits or a tier lock; an invalid request; an
           # expired token; the processing timeout; load shedding.
           "quota", "request", "auth", "processing_timeout", "shed",
           # A hedged copy the client stopped waiting for because another copy answered first.
           "cancelled",
           # A downstream call of the operation finally failed (services:, resilsim.sim.calls).
           "dependency")
(SRC_SERVICE, SRC_LIMITER, SRC_CAPACITY, SRC_QUEUE_TIMEOUT, SRC_BACKGROUND, SRC_INCIDENT, SRC_CLIENT_TIMEOUT,
 SRC_QUOTA, SRC_REQUEST, SRC_AUTH, SRC_PROCESSING_TIMEOUT, SRC_SHED, SRC_CANCELLED,
 SRC_DEPENDENCY) = range(len(SOURCES))

# How a request ended. A value is its index here. ``failed``: its last attempt failed and it was never
# retried (the error is not retried, or the strategy allowed no retry: ``none``); ``retries_exhausted``:
# it was retried at least once, then the retry policy's stop (attempts, time) or retry probability refused
# another; ``deadline``: the next retry would start after the request's deadline; ``shed``: a client guard
# (breaker, budget) refused it; ``incomplete``: still open when the run ended. Earlier versions called
# both of the stop's cases ``gave_up`` (docs/strategies.md, "How a request ends").
OUTCOMES = ("success", "failed", "retries_exhausted", "deadline", "shed", "incomplete")
OUT_SUCCESS, OUT_FAILED, OUT_RETRIES_EXHAUSTED, OUT_DEADLINE, OUT_SHED, OUT_INCOMPLETE = range(len(OUTCOMES))
#: Each outcome's index by its name (a retry decision names how its request ends: "failed", "deadline", ...).
OUT_BY_NAME = {name: i for i, name in enumerate(OUTCOMES)}
#: Outcome names of earlier versions, and the names that replaced them (inputs naming one get a sentence).
RENAMED_OUTCOMES = {"gave_up": "retries_exhausted (or failed, when the request was never retried)"}

# Code column values below zero: not an error code (codes ≥ 0 index the run's code table).
CODE_OK = -1
CODE_TIMEOUT = -2
CODE_CANCELLED = -3  # a hedged copy cancelled when another copy won (no answer of its own)


#: A call's status in a run's call logs (``RunRecord.call_logs``, :mod:`resilsim.sim.calllog`): failed after its
#: retries, succeeded, not sent (the caller's deadline had passed), skipped (its ``probability`` said no).
CALL_FAILED, CALL_OK, CALL_NOT_SENT, CALL_SKIPPED = range(4)


@dataclass(frozen=True, slots=True)
class RunRecord:
    """What the engine hands back for one run (one scenario × one strategy × one seed).

    Read by :class:`resilsim.result.Result` (tables, summary, timeline) and
    :func:`resilsim.invariants.check_run`. Times are simulated seconds unless
    the name says wall.
    """

    #: the strategy run (a :class:`resilsim.scenario.Strategy`)
    strategy: object
    #: the rows (a :class:`resilsim.sim.recorder.Recorder`) or, summary-only, the counts
    #: (a :class:`resilsim.sim.recorder.SummaryRecorder`); its columns are numbered as above
    recorder: object
    #: operation names, in the order of the operation column's values
    operations: list
    #: the fault schedule's incident windows (``FaultSchedule.windows()``)
    windows: list
    #: the service's workers
    workers: int
    #: the queue length, busy workers and client-guard state sampled at each time bin's start
    #: (a :class:`resilsim.sim.sampler.Sampler`)
    sampler: object
    #: seconds of service time spent in all, on attempts the client had abandoned, and on refusals
    busy_s: float
    wasted_s: float
    reject_s: float
    #: attempts the service refused on arrival (rate limit, quota, auth, a full queue, load shedding)
    refusals: int
    #: the simulated time the run ended at
    end_time: float
    #: the clients' own counters: attempts sent, requests ended (the invariants check rows against them)
    attempts_sent: int
    requests_done: int
    #: whole-run guard and hedging counts (``shed_first``, ``shed_retry``, ``hedges``, ``hedge_wins``,
    #: ``hedges_refused``, ``held``, ``held_s`` in seconds, ``held_deadline``); empty without guards or hedging
    guard_counts: dict
    #: why the run stopped early at a scenario limit (a sentence), or None when it ran to its end
    truncated: str | None
    #: where it stopped early, or None
    stopped_at: float | None
    #: wall-clock seconds the run took
    wall_s: float
    #: served attempts of non-idempotent requests beyond each one's first served attempt (whole run); None when
    #: every operation is idempotent
    duplicate_effects: int | None = None
    #: with a network (``scenario.network``): answered attempts and their seconds in all by where they went
    #: (``net_answered``, ``net_network_s``, ``net_queue_s``, ``net_service_s``); empty without one
    network: dict = field(default_factory=dict)
    #: with ``scenario.services``: per service behind the API, its attempts by send bin
    #: (``resilsim.sim.calls.CallGraph.bins``); empty without services
    service_bins: dict = field(default_factory=dict)
    #: with ``scenario.services``: per call edge, its calls' rows (``resilsim.sim.calls.CallGraph.logs``); empty
    #: without services
    call_logs: tuple = ()
    #: with ``scenario.services``: per service behind the API, its attempts' queue waits
    #: (``resilsim.sim.calls.CallGraph.waits``); empty without services
    call_waits: dict = field(default_factory=dict)
    #: with ``scenario.services``: per service, the API first, the (start, end) seconds of each attempt its workers
    #: served (``resilsim.sim.calls.CallGraph.busy``); empty without services
    call_busy: dict = field(default_factory=dict)

    def portable(self, **changes) -> "RunRecord":
        """This record as it can leave a worker process (pickled back to its caller): the sampler's arrays
        (:meth:`resilsim.sim.sampler.Sampler.samples`) without the simulation it watched, which does not pickle;
        ``changes`` replace other fields as :func:`dataclasses.replace` does (``strategy=None``: the caller has it)."""
        return replace(self, sampler=self.sampler.samples(), **changes)
