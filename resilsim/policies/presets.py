"""Named retry policies: the naive ones people run and the ones the docs prescribe.

Each doc preset does what its seed document says and nothing more. Where a
document gives no number (how many retries, what base), the preset says
which number resilsim chose and why, next to the value.
"""
from __future__ import annotations

from .retry import RetryPolicy, Rule, by_advice, retry_after
from .stops import attempts, never
from .waits import exponential, none as no_wait

#: The documents give no retry limit for "Retry"; resilsim's doc presets stop
#: after 3 attempts, the Google SRE book's default ("Handling Overload", ch. 21).
DOC_ATTEMPTS = 3


def none() -> RetryPolicy:
    """No retries: every failure ends the request."""
    return RetryPolicy(stop=attempts(1), name="none")


def immediate(n: int = 3) -> RetryPolicy:
    """Retry at once, up to ``n`` attempts in all, whatever the advice allows (the naive loop)."""
    return RetryPolicy(wait=no_wait(), stop=attempts(n), retry_on=by_advice(), name="immediate")


def analytics_docs() -> RetryPolicy:
    """The Analytics Service's resolutions, code by code (seed 000).

    "Retry" → retry at once; "Retry with exponential backoff" → 1 s, 2 s, 4 s
    (no jitter: the doc names none); "Wait and retry after the rate limit
    window resets" → wait for Retry-After; "wait for quota reset" → wait for
    the reset; "Obtain a fresh JWT token" → refresh once; "Wait for the lock
    to be released" → wait for Retry-After, else back off. All else: never.
    """
    return RetryPolicy(
        rules=(
            Rule(advice=frozenset({"retry"}), wait=no_wait(), stop=attempts(DOC_ATTEMPTS)),
            Rule(advice=frozenset({"backoff"}), wait=exponential(base=1.0), stop=attempts(DOC_ATTEMPTS)),
            Rule(advice=frozenset({"after_window", "after_lock"}),
                 wait=retry_after(exponential(base=1.0)), stop=attempts(DOC_ATTEMPTS)),
            Rule(advice=frozenset({"after_reset", "reauth"}), wait=no_wait(), stop=attempts(DOC_ATTEMPTS)),
        ),
        name="analytics-docs",
    )


def nanostream_docs() -> RetryPolicy:
    """nanoStream (seed 001): only processing errors (104XXX) are retried, "later"; all else never.

    "Later" has no number in the doc: resilsim backs off 1 s, 2 s (3 attempts).
    """
    return RetryPolicy(
        rules=(Rule(codes=frozenset({"104XXX"}), wait=exponential(base=1.0), stop=attempts(DOC_ATTEMPTS)),),
        name="nanostream-docs",
    )


def counters_docs() -> RetryPolicy:
    """The counter API's retry table (seed 003), row by row.

    Unknown (-1000): "limited retries with exponential backoff" → 1 s, 2 s
    (3 attempts: the doc's "limited" has no number). 429: "Backoff 1s, 2s,
    4s, 8s.. max 30s", with no limit in the doc: only the request's deadline
    ends it. NotFound, InvalidData, InvalidMode, UnknownCounterType: never;
    the codes the table does not list are not retried either.
    """
    return RetryPolicy(
        rules=(
            Rule(codes=frozenset({"-1000"}), wait=exponential(base=1.0, cap=30.0), stop=attempts(DOC_ATTEMPTS)),
            Rule(codes=frozenset({"HTTP_429"}), wait=exponential(base=1.0, cap=30.0), stop=never()),
        ),
        name="counters-docs",
    )


PRESETS = {
    "none": none,
    "immediate": immediate,
    "analytics-docs": analytics_docs,
    "nanostream-docs": nanostream_docs,
    "counters-docs": counters_docs,
}


def preset(name: str) -> RetryPolicy:
    """The named preset policy; ``KeyError`` naming the known ones otherwise."""
    try:
        return PRESETS[name]()
    except KeyError:
        raise KeyError(f"unknown retry preset {name!r}; known: {', '.join(PRESETS)}") from None
