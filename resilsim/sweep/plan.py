"""Capacity planning: the least capacity (or the most load) that meets an SLO, per strategy.

    >>> p = resilsim.plan("scenarios/counters-rate-limited.yaml", vary="service.workers", over=(1, 32),
    ...                   slo={"success_rate": ">=0.999", "p99_s": "<=2"}, replications=5)
    >>> p.answers          # {"none": 9, "docs": 7, ...}
    >>> p.evidence         # every value tried: mean, CI bounds and whether it met the SLO

A value meets the SLO when the pessimistic 95% confidence bound of every
metric does (the lower bound for ``>=``, the upper for ``<=``), so the answer
holds with the replications' uncertainty taken into account. The search scans the
range, then bisects where a verdict changes; the answer is read off the
values tried, so it agrees with the evidence shown beside it, and passing
values away from it are named (the metric was not monotone there).
Every value is simulated on the same seeds (common random numbers).
"""
from __future__ import annotations

import html
import json
import math
import re
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import ResilsimError, UsageError
from ..metrics import SERVICE_METRICS, SLO_METRICS, split_service_column
from ..result import window_of
from ..scenario import Scenario, dump_scenario, given_fields, load_scenario
from ..sim.workers import init_worker, pool_size
from .grid import as_grid, check_grid
from .run import sweep
from .stats import aggregate

#: Values tried in the first scan of a plan's range.
COARSE = 9

_SLO = re.compile(r"^\s*(>=|<=|>|<)\s*([-+0-9.eE]+)\s*$")


@dataclass
class Plan:
    """What :func:`plan` returns: the answer per strategy and the evidence behind it."""

    vary: str
    over: tuple
    direction: str
    slo: dict
    answers: dict
    evidence: pd.DataFrame
    runs: pd.DataFrame = field(repr=False, default_factory=pd.DataFrame)
    #: Per strategy, every run of consecutive tried values meeting the SLO, as (first, last).
    intervals: dict = field(default_factory=dict)
    #: Per strategy, "" or a sentence naming passing values outside the answer's run (not monotone).
    notes: dict = field(default_factory=dict)
    #: Per strategy and SLO metric, (best mean reached, value of ``vary`` where): why no value met it.
    best: dict = field(default_factory=dict)
    #: What the metrics measure, in words (see :func:`resilsim.result.window_of`).
    window: str = ""
    #: Per strategy without an answer: sentences naming a limit that caps the success rate below the SLO.
    limits: dict = field(default_factory=dict)

    def table(self) -> pd.DataFrame:
        """One row per strategy: the answer (None when no value in ``over`` meets the SLO)."""
        return pd.DataFrame({"strategy": list(self.answers), self.vary: list(self.answers.values())})

    def __str__(self) -> str:
        want = "least" if self.direction == "min" else "most"
        slo = ", ".join(f"{k} {v}" for k, v in self.slo.items())
        over = f" over {self.window}" if self.window else ""
        lines = [f"{want} {self.vary} in [{self.over[0]}, {self.over[1]}] meeting {slo}{over} (95% CI bound):"]
        for s, v in self.answers.items():
            lines.append(f"  {s}: {v if v is not None else 'none in range'}")
            if v is None and self.best.get(s):
                reached = "; ".join(f"best {m} {b:.4g} at {self.vary} = {at:g}" for m, (b, at) in self.best[s].items())
                lines.append(f"    {reached}")
            for sentence in self.limits.get(s, []):
                lines.append(f"    why not: {sentence}")
            if self.notes.get(s):
                lines.append(f"    note: {self.notes[s]}")
        lines.append(f"evidence: {len(self.evidence)} (value, strategy) points, {self.runs['run_id'].nunique() if len(self.runs) else 0} runs")
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        head = html.escape(str(self).splitlines()[0])
        return (f"<p><b>{head}</b></p>" + self.table().to_html(index=False) +
                "<details><summary>evidence</summary>" + self.evidence.to_html(index=False) + "</details>")


def parse_slo(slo: dict | list) -> dict:
    """``{"success_rate": ">=0.999"}`` or ``["success_rate>=0.999"]`` → {metric: (op, threshold)}."""
    items = slo.items() if isinstance(slo, dict) else [_split_slo(s) for s in slo]
    out = {}
    for metric, cond in items:
        m = _SLO.match(str(cond))
        try:
            threshold = float(m.group(2)) if m else math.nan
        except ValueError:
            threshold = math.nan
        if not math.isfinite(threshold):
            raise UsageError(f"SLO {metric}{cond!r} must look like >=0.999 or <=2", option="slo")
        out[metric] = (m.group(1), threshold)
    if not out:
        raise UsageError("give at least one SLO, e.g. success_rate>=0.999", option="slo")
    return out


def _split_slo(s: str):
    m = re.match(r"^\s*([A-Za-z0-9_.\-]+?)\s*((?:>=|<=|>|<).*)$", s)
    if not m:
        raise UsageError(f"SLO {s!r} must look like success_rate>=0.999 or p99_s<=2", option="--slo")
    return m.group(1), m.group(2)


def check_slo_metrics(slo: dict, scenario) -> None:
    """Refuse, in one sentence (:class:`UsageError`), an SLO metric that is neither a summary metric of
    :data:`resilsim.metrics.SLO_METRICS` nor ``svc.NAME.METRIC`` for a service of ``scenario`` and a metric of
    :data:`resilsim.metrics.SERVICE_METRICS`."""
    for metric in slo:
        parts = split_service_column(metric)
        if parts is None:
            if metric not in SLO_METRICS:
                raise UsageError(f"unknown SLO metric {metric!r}; use one of {', '.join(SLO_METRICS)}, or "
                                 "svc.SERVICE.METRIC for a service behind the API", option="slo")
            continue
        service, name = parts
        if service not in scenario.services:
            known = ", ".join(scenario.services) or "none"
            raise UsageError(f"SLO metric {metric!r} names no service of scenario {scenario.name!r} "
                             f"(its services behind the API: {known})", option="slo")
        if name not in SERVICE_METRICS:
            raise UsageError(f"SLO metric {metric!r}: {name!r} is not a per-service metric; use one of "
                             f"{', '.join(SERVICE_METRICS)}", option="slo")


def _meets(row, slo: dict) -> bool:
    for metric, (op, thr) in slo.items():
        if metric not in row:
            raise UsageError(f"unknown SLO metric {metric!r}; use one of {', '.join(SLO_METRICS)}", option="slo")
        if op.startswith(">"):
            v = row.get(f"{metric}_ci_low")
            v = row[metric] if v is None or pd.isna(v) else v
        else:
            v = row.get(f"{metric}_ci_high")
            v = row[metric] if v is None or pd.isna(v) else v
        if pd.isna(v) or not {">=": v >= thr, "<=": v <= thr, ">": v > thr, "<": v < thr}[op]:
            return False
    return True


def plan(scenario, vary: str = "service.workers", over: tuple = (1, 64), slo: dict | list | None = None,
         replications: int = 5, direction: str = "min", seed: int = 0, tol: float | None = None,
         executor=None, workers: int | None = None, progress: bool = False, coarse: int = COARSE,
         precision: dict | None = None, max_replications: int = 40, window=None) -> Plan:
    """Per strategy, the smallest (``direction="min"``) or largest (``"max"``) value of ``vary`` in ``over`` meeting ``slo``.

    ``over`` = (lo, hi). The search scans ``coarse`` evenly spaced values
    (every integer when the range holds fewer), then bisects every gap where
    a strategy's verdict changes, down to neighbouring integers or to ``tol``
    (default 1/64 of the range) for floats. The answer is read off the tried
    values, so it never contradicts the evidence: for ``"min"``, the least
    tried value from which every tried value up to ``hi`` meets the SLO
    (None when ``hi`` fails); for ``"max"`` the mirror image. Other passing
    values are reported in :attr:`Plan.notes` as a metric that is not
    monotone there. ``slo`` maps summary metrics to conditions
    (``">=0.999"``, ``"<=2"``; seconds for latencies), or a service's metric
    as ``svc.NAME.METRIC`` (:data:`resilsim.metrics.SERVICE_METRICS`:
    ``svc.aurora.success_rate``, ``svc.aurora.p99_s``, ...; measured over
    the same window). Every value is
    simulated on the same seeds (common random numbers across values).
    ``precision`` maps metrics to the 95 % interval half-width wanted
    (``{"success_rate": 0.005}``): a value whose interval of any strategy is
    wider gets more replications (doubling, up to ``max_replications``); the
    evidence's ``n`` says how many each value needed.
    ``executor``/``workers`` as for :func:`resilsim.sweep` (default: a
    process pool on every core, reused for every round). ``window`` is what
    the metrics measure, as for :func:`resilsim.sweep`: plan on the run after
    the warm-up (default), an incident (``"incident:aurora-scale-up"``,
    ``"incident:all"``) or ``(start, end)`` seconds. A strategy that meets
    the SLO nowhere gets, in :attr:`Plan.limits`, the limits that cap its
    success rate below the SLO where they can be computed (see :func:`binding_limits`).
    """
    if direction not in ("min", "max"):
        raise UsageError(f"direction must be 'min' or 'max', not {direction!r}", option="direction")
    conds = parse_slo(slo or {"success_rate": ">=0.999"})
    base = scenario if isinstance(scenario, Scenario) else load_scenario(scenario)
    check_slo_metrics(conds, base)
    lo, hi = _range(over)
    label = window_of(base, window).label
    integer = isinstance(lo, int) and isinstance(hi, int)
    tol = tol if tol is not None else (1 if integer else (hi - lo) / 64)
    step = 1 if integer else tol
    targets = _precision(precision)
    check_slo_metrics({m: None for m in targets if split_service_column(m)}, base)  # their services exist
    if isinstance(max_replications, bool) or not isinstance(max_replications, int) or max_replications < replications:
        raise UsageError(f"max_replications must be a whole number of at least replications ({replications}), "
                            f"got {max_replications!r}", option="max_replications")

    check_grid(given_fields(base), as_grid({vary: [lo, hi]}))  # a bad key fails before any bar or run
    own = executor is None
    # Rounds have at most coarse values × max_replications runs each.
    ex = ProcessPoolExecutor(max_workers=pool_size(workers, coarse * max_replications),
                             initializer=init_worker) if own else executor
    bar = _bar(progress)
    verdicts: dict = {}  # value -> {strategy: aggregated row with "meets"}
    frames: dict = {}    # value -> its sweep rows, one frame per batch of replications
    done: dict = {}      # value -> replications run so far

    def run(values: list, reps: range):
        # One sweep per batch: its points run side by side, replication r of each on the same seed.
        df = sweep(base, {vary: values}, replications=reps, seed=seed, executor=ex, progress=False,
                   common_seeds=True, window=window)
        if bar is not None:
            bar.update(len(df["run_id"].unique()) if len(df) else 0)
        for v in values:
            frames.setdefault(v, []).append(df[df[vary] == v])
            done[v] = reps.stop

    def judge(values: list):
        for v in values:
            rows = pd.concat(frames[v], ignore_index=True).assign(point=0)
            verdicts[v] = {r["strategy"]: dict(r) | {"meets": _meets(r, conds)} for r in aggregate(rows).to_dict("records")}

    def evaluate(values):
        new = sorted({v for v in values if v not in verdicts})
        if not new:
            return
        run(new, range(replications))
        judge(new)
        while targets:  # more replications where an interval is wider than asked, doubling up to the cap
            loose = [v for v in new if done[v] < max_replications and not _precise(verdicts[v], targets)]
            if not loose:
                break
            for start in sorted({done[v] for v in loose}):
                batch = [v for v in loose if done[v] == start]
                run(batch, range(start, min(2 * start, max_replications)))
            judge(loose)

    try:
        evaluate(_coarse_values(lo, hi, integer, coarse))
        while True:  # bisect every gap where some strategy's verdict changes
            tried = sorted(verdicts)
            mids = {_mid(a, b, integer) for a, b in zip(tried, tried[1:]) if b - a > step
                    for name in base.strategies if _ok(verdicts, a, name) != _ok(verdicts, b, name)}
            if not mids:
                break
            evaluate(mids)
    finally:
        if bar is not None:
            bar.close()
        if own:
            ex.shutdown(cancel_futures=True)
    tried = sorted(verdicts)
    answers, intervals, notes = {}, {}, {}
    for name in base.strategies:
        meets = [_ok(verdicts, v, name) for v in tried]
        intervals[name] = _runs(tried, meets)
        answers[name] = _headline(tried, meets, direction)
        unsure = [v for v, m in zip(tried, meets) if not m and _meets_on_mean(verdicts[v].get(name, {}), conds)]
        notes[name] = "; ".join(filter(None, (_note(intervals[name], answers[name], direction),
                                             _unsure_note(unsure))))
    evidence = pd.DataFrame([r | {vary: v} for v, by in sorted(verdicts.items()) for r in by.values()])
    keep = [vary, "strategy", "n", "few_replications", "meets"] + [c for m in conds for c in (m, f"{m}_ci_low", f"{m}_ci_high")]
    evidence = evidence[[c for c in keep if c in evidence.columns]] if len(evidence) else evidence
    runs = [f for v in sorted(frames) for f in frames[v]]
    best = _best(evidence, conds, vary)
    limits = {}
    if "success_rate" in conds and conds["success_rate"][0].startswith(">"):
        for name, v in answers.items():
            reached, at = best.get(name, {}).get("success_rate", (None, hi if direction == "min" else lo))
            found = binding_limits(load_scenario(base, overrides={vary: at}), name, window,
                                   conds["success_rate"][1], reached) if v is None else []
            if found:
                limits[name] = [f"at {vary} = {at:g}, {f}" for f in found]
    return Plan(vary, tuple(over), direction, {k: f"{op}{t:g}" for k, (op, t) in conds.items()}, answers,
                evidence, pd.concat(runs, ignore_index=True) if runs else pd.DataFrame(), intervals, notes,
                best, label, limits)


def _bar(progress: bool):
    """A tqdm bar counting the plan's runs (its total grows as the search refines), or None."""
    if not progress:
        return None
    from tqdm.auto import tqdm
    return tqdm(unit="run", desc="plan")


#: The least slack between a computed success bound and the success a simulation reached (see binding_limits).
BOUND_SLACK = 0.005


class _Least:
    """An rng whose every draw is 0: jittered waits at their least, for the most attempts a deadline allows."""

    def random(self, *shape):
        return 0.0


def binding_limits(scenario, strategy: str, window=None, target: float = 1.0,
                   reached: float | None = None) -> list[str]:
    """Sentences naming each limit that caps ``strategy``'s success rate over ``window`` below ``target``.

    Computed where the arithmetic allows (resilsim.theory), each bound an
    upper limit up to how the incident and the load spread over the window:

    - the attempt cap (or the deadline against the backoff schedule, when it
      allows fewer attempts) against an incident's failure rate: success
      ≤ 1 − pⁿ on the requests the incident hits, n the most attempts a
      request can make (waits at their least, attempts answering at once),
      p the share of attempts failing (incident and background codes);
      outside the incidents the window's requests are taken to succeed;
    - a global, per-tenant or per-client rate limit, or a quota, against the
      offered load: success ≤ admitted per second ÷ offered per second.

    An empty list when no computed bound is below ``target``. With
    ``reached`` (the best success rate the simulation reached), nothing is
    reported when it meets ``target`` (the interval, not a limit, is what
    failed), and a bound that ``reached`` exceeds by more than a tenth of the
    bound's distance to ``target`` (at least ``BOUND_SLACK``) is left out:
    the simulation got past it, so its assumptions do not hold there (e.g.
    attempts queued during an incident served after it).
    """
    from ..catalog import load_catalog
    from ..policies.build import build_strategy
    from .. import theory

    s = scenario
    w = window_of(s, window)
    length = w.end - w.start
    if reached is not None and reached >= target:
        return []  # the mean meets it: what stops this strategy is the interval, not a limit

    def binds(bound: float) -> bool:
        return bound < target and (reached is None or reached <= bound + max(BOUND_SLACK, (target - bound) / 10))
    out = []
    spec = s.strategies[strategy]
    st = build_strategy(spec, strategy, s.clients)
    _, deadline = st.client_limits(s.clients)
    catalog = load_catalog(s.api)
    background = sum(s.faults.background.values())
    ops = s.service.operations
    total_weight = sum(o.weight for o in ops.values())
    for inc in s.faults.incidents:
        a, b = max(w.start, inc.start), min(w.end, inc.start + inc.duration)
        rates = inc.all_rates()
        if b <= a or not rates or inc.service is not None:  # no bound from an incident on a service
            continue
        hit = [n for n, o in ops.items() if (not inc.operations or n in inc.operations)
               and (not inc.dependency or inc.dependency in o.uses or not any(x.uses for x in ops.values()))]
        affected = sum(ops[n].weight for n in hit) / total_weight
        p = 1 - (1 - min(1.0, sum(rates.values()))) * (1 - background)
        code = catalog[max(rates, key=rates.get)]
        n, stopped = attempts_allowed(st, code, deadline)
        bound = theory.incident_success_bound(p, n, affected)
        why = {"deadline": f"the deadline of {deadline} s fits at most {n} attempts of the backoff schedule",
               "failed": f"1 attempt (the strategy does not retry {code.code})"}.get(
                   stopped, f"{n} attempt{'s' if n > 1 else ''} (the strategy's stop)")
        frac = (b - a) / length
        if binds(frac * bound + (1 - frac)):
            on = "" if affected >= 1 else f" on the {affected:.0%} of requests its operations serve"
            during = "during the incident" if frac >= 1 - 1e-9 else f"over the window ({frac:.0%} of it in the incident)"
            share = "" if frac >= 1 - 1e-9 else f"{frac:.2f} × "  # the part of the window the incident covers
            out.append(f"{why} against {p:.0%} of attempts failing in incident {inc.name or f'at {inc.start:g} s'} "
                       f"cap success {during} at about {frac * bound + (1 - frac):.4g} "
                       f"(1 − {share}{p:.2g}^{n}{on}), below the SLO's {target:g}")
    offered = _offered_rate(s, w)
    if offered is None:
        return out  # no fixed offered rate (a rate curve, a trace, closed-loop users): no rate-limit cap to state
    for rl in s.service.rate_limits():
        if rl.operations or rl.per_operation:
            continue
        kind = rl.kinds()[0]
        spec_rl = getattr(rl, kind)
        per_s = spec_rl.rate if kind == "token_bucket" else spec_rl.limit / spec_rl.window
        scopes = _scopes(s, rl.per)
        limit = per_s * scopes
        share_ok = theory.admitted_share(limit, offered)
        if binds(share_ok):
            who = "" if rl.per == "global" else f" ({per_s:g}/s per {rl.per} × {scopes} {rl.per}s)"
            out.append(f"the rate limit of {limit:g} attempts/s{who} against {offered:g} requests/s offered caps "
                       f"success at {share_ok:.4g}, below the SLO's {target:g}")
    q = s.service.quota
    if q is not None and all(v is not None for v in q.tiers.values()):
        tenants = s.clients.tenants or {"default": 1}
        per_s = sum(q.tiers.get(t, 0) * k for t, k in tenants.items()) / q.period
        share_ok = theory.admitted_share(per_s, offered)
        if binds(share_ok):
            out.append(f"the quota ({per_s:.4g} requests/s over a {q.period:g} s period, all tenants) against "
                       f"{offered:g} requests/s offered caps success at {share_ok:.4g}, below the SLO's {target:g}")
    return out


def attempts_allowed(strategy, code, deadline: float | None) -> tuple[int, str]:
    """The most attempts a request of ``strategy`` (a built :class:`resilsim.policies.build.Strategy`) makes
    when every attempt answers ``code`` (an ErrorCode), and why it stops.

    Waits are at their least (every jitter draw 0) and attempts answer at
    once, so the count is the most the policy allows within ``deadline``
    seconds (None: no deadline). The reason is ``"retries_exhausted"`` (the
    policy's stop), ``"deadline"`` or ``"failed"`` (the strategy does not retry the code); at most 1000.
    """
    n, elapsed, prev = 1, 0.0, 0.0
    limit = deadline if deadline is not None else float("inf")
    while True:
        d = strategy.policy.decide(code, attempt=n, elapsed=elapsed, previous_wait=prev, deadline=limit,
                                   rng=_Least())
        if not d.retry:
            return n, d.outcome
        if n >= 1000:
            return n, "retries_exhausted"
        elapsed, prev, n = elapsed + d.wait, d.wait, n + 1


def _scopes(s, per: str) -> int:
    """How many limiters a rate limit scoped ``per`` global, tenant or client has."""
    tenants = sum((s.clients.tenants or {"default": 1}).values())
    return {"global": 1, "tenant": tenants, "client": tenants * s.clients.clients_per_tenant}[per]


def _offered_rate(s, w) -> float:
    """Mean requests per second arriving in window ``w`` (the Poisson rate, with its changes, time-weighted); None
    without Poisson arrivals, or with closed-loop users (whose rate follows the service)."""
    a = s.clients.arrival
    p = a.poisson if a is not None else None
    if p is None or s.clients.closed is not None:
        return None
    total = p.rate * (w.end - w.start)
    for c in p.changes:
        overlap = max(0.0, min(w.end, c.start + c.duration) - max(w.start, c.start))
        total += (c.rate - p.rate) * overlap
    return total / (w.end - w.start)


def _range(over) -> tuple:
    """``over`` checked: two finite numbers, low ≤ high (ints stay ints, so the search bisects integers)."""
    try:
        lo, hi = over
    except (TypeError, ValueError):
        lo = hi = None
    if not all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in (lo, hi)) \
            or lo > hi:
        raise UsageError(f"over must be two finite numbers (low, high) with low <= high, got {over!r}",
                            option="over")
    return lo, hi


def _precision(precision: dict | None) -> dict:
    """``{metric: half-width}`` checked: known metrics, positive finite widths."""
    from ..metrics import METRICS
    out = {}
    for metric, width in (precision or {}).items():
        svc = split_service_column(metric)
        if metric not in METRICS and (svc is None or svc[1] not in SERVICE_METRICS):
            raise UsageError(f"precision for an unknown metric {metric!r}; use one of {', '.join(METRICS)}, "
                             "or svc.SERVICE.METRIC for a service behind the API", option="precision")
        if isinstance(width, bool) or not isinstance(width, (int, float)) or not 0 < width < float("inf"):
            raise UsageError(f"precision for {metric} must be a positive half-width, got {width!r}",
                                option="precision")
        out[metric] = float(width)
    return out


def _precise(by_strategy: dict, targets: dict) -> bool:
    """Whether every strategy's 95 % interval of every target metric is no wider than asked (half-width)."""
    for row in by_strategy.values():
        for metric, width in targets.items():
            half = (row.get(f"{metric}_ci_high", float("nan")) - row.get(f"{metric}_ci_low", float("nan"))) / 2
            if not half <= width:  # NaN (one replication) is not precise
                return False
    return True


def _coarse_values(lo, hi, integer: bool, n: int) -> list:
    """``n`` evenly spaced values of [lo, hi] (ends included); every integer when the range holds fewer."""
    if integer:
        if hi - lo + 1 <= n:
            return list(range(lo, hi + 1))
        return sorted({int(round(v)) for v in np.linspace(lo, hi, n)})
    return [float(v) for v in np.linspace(lo, hi, n)] if hi > lo else [float(lo)]


def _mid(a, b, integer: bool):
    return (a + b) // 2 if integer else (a + b) / 2


def _ok(verdicts: dict, value, name: str) -> bool:
    return bool(verdicts[value].get(name, {}).get("meets", False))


def _runs(values: list, meets: list) -> list[tuple]:
    """The maximal runs of consecutive tried values that meet the SLO, as (first, last)."""
    out, start = [], None
    for i, (v, m) in enumerate(zip(values, meets)):
        if m and start is None:
            start = v
        if m and (i + 1 == len(values) or not meets[i + 1]):
            out.append((start, v))
            start = None
    return out


def _headline(values: list, meets: list, direction: str):
    """The least value from which every tried value up to the top meets (``min``), or the mirror (``max``)."""
    seq = list(zip(values, meets))
    if direction == "min":
        seq.reverse()
    answer = None
    for v, m in seq:
        if not m:
            break
        answer = v
    return answer


def _note(intervals: list, answer, direction: str) -> str:
    """A sentence when passing values lie outside the headline's run: the metric is not monotone there."""
    others = [iv for iv in intervals if answer is None or not (iv[0] <= answer <= iv[1])]
    if not others:
        return ""
    shown = ", ".join(f"{a:g}" if a == b else f"{a:g}–{b:g}" for a, b in others)
    where = "above" if direction == "min" else "below"
    return (f"also meets the SLO at {shown}, but not at every value {where} it: "
            "the metric is not monotone in this range")


def _meets_on_mean(row: dict, slo: dict) -> bool:
    """Whether the means of ``row`` meet ``slo`` (the verdict itself takes the pessimistic interval bound)."""
    if not row:
        return False
    return all(metric in row and not pd.isna(row[metric])
               and {">=": row[metric] >= thr, "<=": row[metric] <= thr, ">": row[metric] > thr,
                    "<": row[metric] < thr}[op] for metric, (op, thr) in slo.items())


def _unsure_note(values: list) -> str:
    """A sentence naming tried values whose means meet the SLO but whose 95% intervals do not."""
    if not values:
        return ""
    shown = ", ".join(f"{v:g}" for v in values[:6]) + (f" and {len(values) - 6} more" if len(values) > 6 else "")
    return (f"at {shown} the mean meets the SLO but its 95% interval does not: too few replications to tell "
            "(add replications or --precision)")


def _best(evidence: pd.DataFrame, conds: dict, vary: str) -> dict:
    """Per strategy and SLO metric: the best mean reached and the value of ``vary`` where (for 'why not')."""
    out: dict = {}
    if evidence.empty:
        return out
    for name, g in evidence.groupby("strategy", sort=False):
        for metric, (op, _) in conds.items():
            if metric not in g or g[metric].isna().all():
                continue
            i = g[metric].idxmax() if op.startswith(">") else g[metric].idxmin()
            out.setdefault(name, {})[metric] = (float(g.at[i, metric]), g.at[i, vary])
    return out


# ---------------------------------------------------------------- plan.json

def save_plan(plan, out, scenario=None, seed=None, replications=None, command: str | None = None) -> Path:
    """Write ``plan`` (a :class:`resilsim.sweep.Plan`) as ``plan.json`` into the directory ``out``; return its path.

    With ``scenario`` its YAML goes beside it as ``scenario.yaml``, so
    ``resilsim report out`` shows the scenario, strategies and answer.
    ``command`` is the shell command that reproduces the plan (the report
    shows it); the time it was saved (UTC) is kept as ``made``.
    JSON only: the report reads it back without evaluating anything.
    """
    from datetime import datetime, timezone

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    ev = plan.evidence.astype(object).where(plan.evidence.notna(), None) if len(plan.evidence) else plan.evidence
    d = {"vary": plan.vary, "over": list(plan.over), "direction": plan.direction, "slo": plan.slo,
         "answers": plan.answers, "evidence": ev.to_dict("records"), "seed": seed, "replications": replications,
         "intervals": {k: [list(iv) for iv in v] for k, v in plan.intervals.items()}, "notes": plan.notes,
         "best": {k: {m: list(b) for m, b in v.items()} for k, v in plan.best.items()},
         "window": plan.window, "limits": plan.limits, "command": command,
         "made": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")}
    p = out / "plan.json"
    p.write_text(json.dumps(d, indent=1, default=_json_default), encoding="utf-8")
    if scenario is not None:
        (out / "scenario.yaml").write_text(dump_scenario(scenario), encoding="utf-8")
    return p


def _json_default(v):
    # numpy scalars in answers and evidence
    return v.item() if hasattr(v, "item") else str(v)


def load_plan(path) -> Plan | None:
    """The :class:`Plan` that :func:`save_plan` wrote into the directory ``path`` (None when there is none)."""
    p = Path(path) / "plan.json"
    if not p.exists():
        return None
    try:
        d = json.loads(p.read_text())
        return Plan(d["vary"], tuple(d["over"]), d.get("direction", "min"), d["slo"], d["answers"],
                    pd.DataFrame(d.get("evidence", [])), pd.DataFrame(),
                    {k: [tuple(iv) for iv in v] for k, v in d.get("intervals", {}).items()}, d.get("notes", {}),
                    {k: {m: tuple(b) for m, b in v.items()} for k, v in d.get("best", {}).items()},
                    d.get("window", ""), d.get("limits", {}))
    except (ValueError, KeyError, TypeError) as e:
        raise ResilsimError(f"{p}: not a plan written by `resilsim plan --out` ({type(e).__name__}: {e})") from None
