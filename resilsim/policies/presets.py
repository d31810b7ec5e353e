"""Named retry policies: the naive ones people run and the ones the docs prescribe.

Each doc preset does what its seed document says and nothing more. Where a
document gives no number (how many retries, what base), the preset says
which number resilsim chose and why, next to the value.
"""
from __future__ import annotations

from .library import Anything, LibraryPolicy
from .retry import RetryPolicy, Rule, retry_after
from .stops import attempts, never
from .waits import exponential, none as no_wait

#: The documents give no retry limit for "Retry"; resilsim's doc presets stop
#: after 3 attempts, the Google SRE book's default ("Handling Overload", ch. 21).
DOC_ATTEMPTS = 3


def none() -> RetryPolicy:
    """No retries: every failure ends the request."""
    return RetryPolicy(stop=attempts(1), name="none")


def immediate(n: int = 3) -> RetryPolicy:
    """The naive loop: every failure, timeouts included, is retried at once, up to ``n`` attempts in all.

    It honours nothing: not the catalog's advice ("never" codes are retried
    too), not Retry-After, no quota-reset waits, no token refresh.
    """
    return LibraryPolicy(wait=no_wait(), stop=attempts(n), retry_on=Anything(), retry_timeouts=True,
                         name="immediate")


def analytics_docs(retry_client_timeouts: bool = False) -> RetryPolicy:
    """The Analytics Service's resolutions, code by code (source document 000), 3 attempts at most.

    "Retry" → retry at once; "Retry with exponential backoff" → 1 s, then
    2 s (no jitter: the doc names none); "Wait and retry after the rate
    limit window resets" → wait for Retry-After when the server sends one,
    else back off 1 s, 2 s; "wait for quota reset" → wait for the reset
    when the server says when, else fail; "Obtain a fresh JWT token" →
    refresh once; "Wait for the lock to be released" → as the rate limit.
    All else: never. A client-side timeout has no code in the document, so
    it is not retried unless ``retry_client_timeouts`` (an assumption).
    """
    return RetryPolicy(
        rules=(
            Rule(advice=frozenset({"retry"}), wait=no_wait(), stop=attempts(DOC_ATTEMPTS)),
            Rule(advice=frozenset({"backoff"}), wait=exponential(base=1.0), stop=attempts(DOC_ATTEMPTS)),
            Rule(advice=frozenset({"after_window", "after_lock"}),
                 wait=retry_after(exponential(base=1.0)), stop=attempts(DOC_ATTEMPTS)),
            Rule(advice=frozenset({"after_reset", "reauth"}), wait=no_wait(), stop=attempts(DOC_ATTEMPTS)),
        ),
        retry_timeouts=retry_client_timeouts,
        name="analytics-docs",
    )


def nanostream_docs() -> RetryPolicy:
    """nanoStream (source document 001): only processing errors (104XXX) are retried, "later"; all else never.

    "Later" has no number in the doc: resilsim backs off 1 s, 2 s (3 attempts).
    """
    return RetryPolicy(
        rules=(Rule(codes=frozenset({"104XXX"}), wait=exponential(base=1.0), stop=attempts(DOC_ATTEMPTS)),),
        retry_timeouts=False,
        name="nanostream-docs",
    )


def counters_docs() -> RetryPolicy:
    """The counter API's retry table (source document 003), row by row.

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
        retry_timeouts=False,
        name="counters-docs",
    )


PRESETS = {
    "none": none,
    "immediate": immediate,
    "analytics-docs": analytics_docs,
    "nanostream-docs": nanostream_docs,
    "counters-docs": counters_docs,
}


#: Where each doc preset's rules come from (the seed documents, /work/shared/seeds/README.md).
SOURCES = {
    "none": "no retries",
    "immediate": "the naive retry loop (no document)",
    "analytics-docs": "Analytics Service error reference, resolutions per code (source document 000)",
    "nanostream-docs": "nanoStream Analytics API error codes, 104XXX processing errors (source document 001)",
    "counters-docs": "Counter API retry table (source document 003)",
}


def preset_rows() -> list[dict]:
    """One row per doc preset, in the columns of :func:`resilsim.policies.library.preset_rows`."""
    rows = []
    for name, factory in PRESETS.items():
        policy = factory()
        params = "; ".join(f"{k}={v}" for k, v in policy.describe().items() if k != "retry" and v is not None)
        if policy.rules:
            params = " | ".join(_describe_rule(r) for r in policy.rules) + f"; retry_timeouts={policy.retry_timeouts}"
        rows.append({"preset": name, "kind": "doc", "library": "", "version": "", "source": SOURCES[name],
                     "parameters": params})
    return rows


def _describe_rule(rule: Rule) -> str:
    """``codes/advice → wait, stop`` for one rule, flat, for the presets table."""
    what = ",".join(sorted(rule.codes | rule.advice | {str(h) for h in rule.http}))
    how = {**rule.wait.describe(), **rule.stop.describe()}
    return what + " → " + ", ".join(f"{k}={v}" for k, v in how.items())


def preset(name: str) -> RetryPolicy:
    """The named preset policy; ``KeyError`` naming the known ones otherwise."""
    try:
        return PRESETS[name]()
    except KeyError:
        raise KeyError(f"unknown retry preset {name!r}; known: {', '.join(PRESETS)}") from None
