"""Invariants every run must satisfy, checked on every run at result assembly (vectorised, cheap).

A broken invariant is a bug in resilsim, not a property of the scenario: it
raises :class:`resilsim.errors.InvariantError`, whose message is a bug
report naming the check, the first offending row, and the scenario,
strategy and seed that reproduce it. The checks (docs/reliability.md):

``ends_once``
    each request ends exactly once: the clients' count of finished requests
    equals the rows with an outcome; a finished request has an end time no
    earlier than its start; an unfinished one has none.
``attempts_add_up``
    a request's attempts are numbered 1, 2, 3, … (first attempt, then
    retries) with no gap or repeat; a finished request's ``attempts`` equals
    its attempt rows; attempts recorded ≤ attempts sent ≤ recorded + requests
    still in flight.
``time_order``
    times never go backwards: an attempt ends no earlier than it starts,
    starts no earlier than its request, a retry starts no earlier than the
    previous attempt's end, a finished request ends no earlier than its last
    attempt, nothing happens before 0 or after the run's end.
``deadline``
    no attempt starts after its request's deadline (the strategy's ``deadline``, else ``clients.deadline``).
``codes_add_up``
    a successful request has no error code and a failed one has one; a
    finished request's code is its last attempt's; a successful attempt is
    always its request's last; with :func:`check_result`, the timeline's
    counts add up to the tables' rows and the summary's outcomes to its requests.

Cost: a stable sort of the attempt rows by request and a few passes over
the columns (see docs/reliability.md for a measured figure).
"""
from __future__ import annotations

import math

import numpy as np

from .errors import InvariantError
from .records import CODE_OK, OUT_INCOMPLETE, OUT_SHED, OUT_SUCCESS, OUTCOMES, RunRecord

#: check_run checks runs of more requests than this in slices of request ids (memory: see check_run).
CHUNK_REQUESTS = 1 << 17


def _first_row(mask: np.ndarray, ids: np.ndarray | None = None, first_id: int = 0) -> str:
    i = int(np.flatnonzero(mask)[0])
    return f"{int(mask.sum())} rows, first request {(int(ids[i]) if ids is not None else i) + first_id}"


def violations(req: dict, att: dict, *, ok_code: int = CODE_OK, deadline: float | None = None,
               end_time: float | None = None, attempts_sent: int | None = None,
               requests_done: int | None = None, hedged: bool = False, first_id: int = 0) -> list[tuple[str, str]]:
    """Every broken invariant of one strategy's tables as ``(check, what is wrong)``; empty when all hold.

    ``req``: numpy columns ``start``, ``end``, ``attempts``, ``code``, ``outcome``
    (row i is request i; outcome numbered as :data:`resilsim.records.OUTCOMES`).
    ``att``: ``request``, ``attempt``, ``start``, ``end``, ``code``. ``ok_code``
    is the code value meaning success; ``deadline`` (seconds after a request's
    start) and ``end_time`` (the run's last simulated second) as in the run;
    the two counters are the clients' own, when known. ``hedged``: the
    strategy hedges, so copies of a first attempt overlap and may end in any
    order (attempts are paired by number, the overlap and last-attempt checks
    give way to "a successful request has exactly one successful attempt").
    ``first_id``: the id of ``req``'s first row, when the tables are a slice
    of the run's (request ids in ``att`` then count from it, minus ``first_id``).
    """
    def _first(mask, ids=None):
        return _first_row(mask, ids, first_id)

    out = []
    n, m = len(req["start"]), len(att["start"])
    r_start, r_end, r_att = req["start"], req["end"], req["attempts"].astype(np.int64, copy=False)
    r_code, r_out = req["code"], req["outcome"]
    finished = r_out != OUT_INCOMPLETE

    # ends_once
    out += _done_counter(requests_done, int(finished.sum()))
    with np.errstate(invalid="ignore"):
        bad = finished & ~(r_end >= r_start)
    if bad.any():
        out.append(("ends_once", f"a finished request ends before it starts or has no end time ({_first(bad)})"))
    bad = ~finished & ~np.isnan(r_end)
    if bad.any():
        out.append(("ends_once", f"an unfinished request has an end time ({_first(bad)})"))

    # attempts_add_up
    a_req = att["request"].astype(np.int64, copy=False)
    known = (a_req >= 0) & (a_req < n)
    if not known.all():
        out.append(("attempts_add_up", f"attempt rows for requests that do not exist ({_first(~known, a_req)})"))
        keep = np.flatnonzero(known)
        att = {k: v[keep] for k, v in att.items()}
        a_req, m = a_req[keep], len(keep)
    a_num, a_start, a_end, a_code = att["attempt"].astype(np.int64), att["start"], att["end"], att["code"]
    counts = np.bincount(a_req, minlength=n)
    bad = finished & (counts != r_att)
    if bad.any():
        out.append(("attempts_add_up", f"a finished request's attempts column disagrees with its attempt rows "
                                       f"({_first(bad)})"))
    # Rows are recorded in time order, so a request's stay in order; hedged copies end in any order.
    if hedged:
        order = np.lexsort((a_num, a_req))
        s_req = a_req[order]
    else:
        order, s_req = stable_order(a_req)
    s_num, s_start, s_end = a_num[order], a_start[order], a_end[order]
    first = np.ones(m, dtype=bool)
    first[1:] = s_req[1:] != s_req[:-1]
    # A request's first row is attempt 1, each later row the one before + 1 (compared as booleans: a third of the
    # time of building the expected numbers, measured at 1M rows).
    bad = np.empty(m, dtype=bool)
    bad[:1] = s_num[:1] != 1
    bad[1:] = np.where(first[1:], s_num[1:] != 1, s_num[1:] - s_num[:-1] != 1)
    if bad.any():
        out.append(("attempts_add_up", f"a request's attempts are not numbered 1, 2, 3, … ({_first(bad, s_req)})"))
    out += _sent_counter(attempts_sent, m, int((~finished).sum()), hedged)

    # time_order
    with np.errstate(invalid="ignore"):
        bad = ~(a_end >= a_start)
        if bad.any():
            out.append(("time_order", f"an attempt ends before it starts ({_first(bad, a_req)})"))
        bad = a_start < r_start[a_req]
        if bad.any():
            out.append(("time_order", f"an attempt starts before its request ({_first(bad, a_req)})"))
        # A retry waits for the previous attempt's end; a hedged copy only follows the previous copy's start.
        bad = ~first[1:] & (s_start[1:] < (s_start[:-1] if hedged else s_end[:-1]))
        if bad.any():
            out.append(("time_order", f"a retry starts before the previous attempt "
                                      f"{'started' if hedged else 'ended'} ({_first(bad, s_req[1:])})"))
        bad = finished[a_req] & (a_end > r_end[a_req])
        if bad.any():
            out.append(("time_order", f"a finished request ends before its last attempt ({_first(bad, a_req)})"))
        if n and np.nanmin(r_start) < 0 or m and a_start.min() < 0:
            out.append(("time_order", "a time before the run's start"))
        if end_time is not None:
            bad = (a_end > end_time) if m else np.zeros(0, dtype=bool)
            if bad.any() or (n and np.nanmax(np.where(finished, r_end, -np.inf), initial=-np.inf) > end_time):
                out.append(("time_order", f"a time after the run's end ({end_time:g} s)"))

    # deadline
    if deadline is not None and math.isfinite(deadline) and m:
        limit = r_start[a_req] + deadline
        bad = a_start > limit + 1e-9 * np.maximum(1.0, np.abs(limit))
        if bad.any():
            out.append(("deadline", f"an attempt starts after its request's deadline ({_first(bad, a_req)})"))

    # codes_add_up
    bad = (r_out == OUT_SUCCESS) & (r_code != ok_code)
    if bad.any():
        out.append(("codes_add_up", f"a successful request carries an error code ({_first(bad)})"))
    bad = finished & (r_out != OUT_SUCCESS) & (r_out != OUT_SHED) & (r_code == ok_code)
    if bad.any():
        out.append(("codes_add_up", f"a failed request carries no error code ({_first(bad)})"))
    if hedged:
        # The winning copy need not be the last one sent: one success per successful request, none otherwise.
        wins = np.bincount(a_req[a_code == ok_code], minlength=n)
        bad = wins != (r_out == OUT_SUCCESS)
        if bad.any():
            out.append(("codes_add_up", f"a hedged request's successful attempts do not match its outcome "
                                        f"({_first(bad)})"))
        return out
    last = finished[a_req] & (a_num == r_att[a_req])
    if int(last.sum()) != int((finished & (r_att > 0)).sum()):
        out.append(("codes_add_up", "finished requests and their last attempts do not pair up one to one"))
    bad = last & (a_code != r_code[a_req])
    if bad.any():
        out.append(("codes_add_up", f"a request's code is not its last attempt's ({_first(bad, a_req)})"))
    bad = (a_code == ok_code) & ~(last & (r_out[a_req] == OUT_SUCCESS))
    if bad.any():
        out.append(("codes_add_up", f"a successful attempt is not its request's last ({_first(bad, a_req)})"))
    return out


def stable_order(ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``np.argsort(ids, kind="stable")`` and ``ids`` in that order (``ids``: int64).

    Each row's id and row number are packed into one int64 key, ``id << bits | row``, and the keys sorted: numpy
    sorts values about three times as fast as it argsorts them (its SIMD sort: 0.5 against 1.6 ms for 130k rows,
    5.5 against 16.4 ms for 1M), and keys that are all different sort the same whatever the algorithm, so the
    order is the stable one. Ids below zero or too large to pack take ``argsort`` (tests/test_invariants.py holds
    the two to the same answer)."""
    m = len(ids)
    bits = max(m - 1, 0).bit_length()
    if m == 0 or int(ids.min()) < 0 or int(ids.max()).bit_length() + bits > 62:
        order = np.argsort(ids, kind="stable")
        return order, ids[order]
    keys = np.sort((ids.astype(np.int64, copy=False) << bits) | np.arange(m, dtype=np.int64))
    return keys & ((1 << bits) - 1), keys >> bits


def _done_counter(requests_done: int | None, finished: int) -> list[tuple[str, str]]:
    # ends_once: the clients' count of finished requests against the rows with an outcome.
    if requests_done is not None and requests_done != finished:
        return [("ends_once", f"the clients ended {requests_done} requests but {finished} rows "
                              "have an outcome (a request ended twice, or never recorded)")]
    return []


def _sent_counter(attempts_sent: int | None, m: int, in_flight: int, hedged: bool) -> list[tuple[str, str]]:
    # attempts_add_up: attempts recorded ≤ attempts sent ≤ recorded + requests still in flight.
    if attempts_sent is not None and not m <= attempts_sent <= m + in_flight * (5 if hedged else 1):
        # (a hedge has at most 4 extra copies)
        return [("attempts_add_up", f"the clients sent {attempts_sent} attempts but {m} are recorded "
                                    f"with {in_flight} requests still in flight")]
    return []


def report(problems: list[tuple[str, str]], *, scenario: str, strategy: str, seed) -> InvariantError:
    """The bug report for ``problems``: one sentence with the checks, scenario, strategy and seed."""
    what = "; ".join(f"{c}: {d}" for c, d in problems)
    return InvariantError(
        f"invariant broken, a bug in resilsim (please report it with the scenario file and this line): {what} "
        f"[scenario {scenario!r}, strategy {strategy!r}, seed {_seed_text(seed)}]",
        check=problems[0][0], scenario=scenario, strategy=strategy, seed=seed)


def _seed_text(seed) -> str:
    if isinstance(seed, np.random.SeedSequence):
        return f"SeedSequence(entropy={seed.entropy}, spawn_key={tuple(seed.spawn_key)})"
    return repr(seed)


def check_run(scenario, seed, strategy: str, run: RunRecord) -> None:
    """Check one strategy's raw run (the recorder's columns and the clients' counters); raise on a violation."""
    rec, st = run.recorder, run.strategy  # full recording: summary-only runs have no rows to check
    req, att = rec.requests.view(), rec.attempts.view()
    kw = {"ok_code": CODE_OK, "deadline": st.client_limits(scenario.clients)[1], "end_time": run.end_time,
          "hedged": st.hedge is not None}
    n, a_req = len(req["start"]), att["request"]
    if n <= CHUNK_REQUESTS or not bool(((a_req >= 0) & (a_req < n)).all()):
        problems = violations(req, att, attempts_sent=run.attempts_sent, requests_done=run.requests_done, **kw)
    else:
        # In slices of request ids, so the checks' temporary arrays (~100 bytes per attempt) stay a fraction of
        # the run's own columns (benchmarks/RESULTS.md: memory per attempt). Every check is per request,
        # except the clients' two counters, checked once with the whole run's totals.
        problems = []
        size = max(CHUNK_REQUESTS, -(-n // 8))
        for lo in range(0, n, size):
            hi = min(lo + size, n)
            rows = np.flatnonzero((a_req >= lo) & (a_req < hi))
            part = {k: v[rows] for k, v in att.items()}
            part["request"] -= lo
            del rows
            for p in violations({k: v[lo:hi] for k, v in req.items()}, part, first_id=lo, **kw):
                if p not in problems:
                    problems.append(p)
            del part
        finished = int(np.count_nonzero(req["outcome"] != OUT_INCOMPLETE))
        problems = (_done_counter(run.requests_done, finished) + problems
                    + _sent_counter(run.attempts_sent, len(a_req), n - finished, kw["hedged"]))
    if problems:
        raise report(problems, scenario=scenario.name, strategy=strategy, seed=seed)


def check_result(result) -> None:
    """Check a :class:`resilsim.Result`'s tables (every strategy), timeline and summary included.

    Raises :class:`InvariantError` on the first strategy with a broken
    invariant. Works on tables edited by hand, so it can audit a saved or
    modified result too.
    """
    s = result.scenario
    req_all, att_all = result.requests, result.attempts
    for name in result.strategies:
        r = req_all[req_all["strategy"] == name]
        a = att_all[att_all["strategy"] == name]
        stats = result.stats.get(name, {})
        problems = []
        if not np.array_equal(r["request"].to_numpy(), np.arange(len(r))):
            problems.append(("ends_once", "request ids are not 0, 1, 2, … once each"))
        ok = list(r["code"].cat.categories).index("") if "" in list(r["code"].cat.categories) else -99
        outcome = r["outcome"].astype(str).map({o: i for i, o in enumerate(OUTCOMES)}).fillna(-1).to_numpy(np.int8)
        req = {"start": r["start"].to_numpy(float), "end": r["end"].to_numpy(float),
               "attempts": r["attempts"].to_numpy(), "code": _codes(r["code"]), "outcome": outcome}
        att = {"request": a["request"].to_numpy(), "attempt": a["attempt"].to_numpy(),
               "start": a["start"].to_numpy(float), "end": a["end"].to_numpy(float), "code": _codes(a["code"])}
        deadline = (result.strategies.get(name) or {}).get("deadline_s", s.clients.deadline)
        problems += violations(req, att, ok_code=ok, deadline=deadline, end_time=stats.get("end_time"),
                               attempts_sent=stats.get("attempts_sent"), requests_done=stats.get("requests_done"),
                               hedged="hedge_delay_s" in (result.strategies.get(name) or {}))
        problems += _totals(result, name, r, a)
        if problems:
            raise report(problems, scenario=s.name, strategy=name, seed=result.seed)


def _codes(col) -> np.ndarray:
    return col.cat.codes.to_numpy() if hasattr(col, "cat") else col.to_numpy()


def _totals(result, name: str, r, a) -> list[tuple[str, str]]:
    """Counts by code and outcome add up: timeline vs tables, summary vs measured requests."""
    out = []
    width = result.scenario.bin
    tl = result.timeline[result.timeline["strategy"] == name]
    for col, n in (("offered_rps", len(r)), ("attempts_rps", len(a)),
                   ("attempt_success_rps", int((a["code"] == "").sum()))):
        total = float(tl[col].sum() * width)
        if abs(total - n) > 1e-6 * max(1, n):
            out.append(("codes_add_up", f"timeline {col} adds up to {total:g}, the tables have {n}"))
    summ = result.summary()
    if name in summ.index:
        row = summ.loc[name]
        if int(sum(row[o] for o in OUTCOMES)) != int(row["requests"]):
            out.append(("codes_add_up", "the summary's outcomes do not add up to its requests"))
    return out
