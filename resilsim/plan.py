"""Capacity planning: the least capacity (or the most load) that meets an SLO, per strategy.

    >>> p = resilsim.plan("scenarios/counters-rate-limited.yaml", vary="service.workers", over=(1, 32),
    ...                   slo={"success_rate": ">=0.999", "p99_s": "<=2"}, replications=5)
    >>> p.answers          # {"none": 9, "docs": 7, ...}
    >>> p.evidence         # every value tried: mean, CI bounds and whether it met the SLO

A value meets the SLO when the pessimistic 95% confidence bound of every
metric does (the lower bound for ``>=``, the upper for ``<=``), so the answer
holds with the replications' uncertainty taken into account. The search is a
bisection, so the varied parameter must act monotonically on the SLO metrics.
Every value is simulated on the same seeds (common random numbers).
"""
from __future__ import annotations

import html
import re
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field

import pandas as pd

from .errors import ScenarioError
from .metrics import SLO_METRICS
from .scenario import Scenario, load_scenario
from .sweep import _init_worker, aggregate, sweep

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

    def table(self) -> pd.DataFrame:
        """One row per strategy: the answer (None when no value in ``over`` meets the SLO)."""
        return pd.DataFrame({"strategy": list(self.answers), self.vary: list(self.answers.values())})

    def __str__(self) -> str:
        want = "least" if self.direction == "min" else "most"
        slo = ", ".join(f"{k} {v}" for k, v in self.slo.items())
        lines = [f"{want} {self.vary} in [{self.over[0]}, {self.over[1]}] meeting {slo} (95% CI bound):"]
        for s, v in self.answers.items():
            lines.append(f"  {s}: {v if v is not None else 'none in range'}")
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
        if not m:
            raise ScenarioError(f"SLO {metric}{cond!r} must look like >=0.999 or <=2", path="slo")
        out[metric] = (m.group(1), float(m.group(2)))
    if not out:
        raise ScenarioError("give at least one SLO, e.g. success_rate>=0.999", path="slo")
    return out


def _split_slo(s: str):
    m = re.match(r"^\s*([A-Za-z0-9_]+)\s*((?:>=|<=|>|<).*)$", s)
    if not m:
        raise ScenarioError(f"SLO {s!r} must look like success_rate>=0.999 or p99_s<=2", path="--slo")
    return m.group(1), m.group(2)


def _meets(row, slo: dict) -> bool:
    for metric, (op, thr) in slo.items():
        if metric not in row:
            raise ScenarioError(f"unknown SLO metric {metric!r}; use one of {', '.join(SLO_METRICS)}", path="slo")
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
         executor=None, workers: int | None = None, progress: bool = False) -> Plan:
    """Per strategy, the smallest (``direction="min"``) or largest (``"max"``) value of ``vary`` in ``over`` meeting ``slo``.

    ``over`` = (lo, hi); ints bisect over integers, floats until the bracket
    is narrower than ``tol`` (default 1/64 of the range). ``slo`` maps summary
    metrics to conditions (``">=0.999"``, ``"<=2"``; seconds for latencies).
    ``executor``/``workers`` as for :func:`resilsim.sweep` (default: a process
    pool on every core, reused for every value tried).
    """
    if direction not in ("min", "max"):
        raise ScenarioError(f"direction must be 'min' or 'max', not {direction!r}", path="direction")
    conds = parse_slo(slo or {"success_rate": ">=0.999"})
    base = scenario if isinstance(scenario, Scenario) else load_scenario(scenario)
    lo, hi = over
    integer = isinstance(lo, int) and isinstance(hi, int)
    if lo > hi:
        raise ScenarioError(f"over must be (low, high) with low <= high, got {over}", path="over")
    tol = tol if tol is not None else (1 if integer else (hi - lo) / 64)

    own = executor is None
    ex = ProcessPoolExecutor(max_workers=workers, initializer=_init_worker) if own else executor
    cache: dict = {}
    runs = []

    def evaluate(v):
        if v not in cache:
            df = sweep(base, {vary: [v]}, replications=replications, seed=seed, executor=ex, progress=progress)
            runs.append(df)
            agg = aggregate(df)
            cache[v] = {r["strategy"]: dict(r) | {"meets": _meets(r, conds)} for r in agg.to_dict("records")}
        return cache[v]

    try:
        answers = {}
        for name in base.strategies:
            ok = lambda v: evaluate(v).get(name, {}).get("meets", False)  # noqa: E731
            answers[name] = _bisect(ok, lo, hi, integer, tol, direction)
    finally:
        if own:
            ex.shutdown(cancel_futures=True)
    evidence = pd.DataFrame([r | {vary: v} for v, by in sorted(cache.items()) for r in by.values()])
    keep = [vary, "strategy", "n", "meets"] + [c for m in conds for c in (m, f"{m}_ci_low", f"{m}_ci_high")]
    evidence = evidence[[c for c in keep if c in evidence.columns]] if len(evidence) else evidence
    return Plan(vary, tuple(over), direction, {k: f"{op}{t:g}" for k, (op, t) in conds.items()}, answers,
                evidence, pd.concat(runs, ignore_index=True) if runs else pd.DataFrame())


def _bisect(ok, lo, hi, integer: bool, tol: float, direction: str):
    """The boundary of a monotone predicate on [lo, hi]; None when no value qualifies."""
    if direction == "min":
        if not ok(hi):
            return None
        if ok(lo):
            return lo
        bad, good = lo, hi  # invariant: not ok(bad), ok(good)
    else:
        if not ok(lo):
            return None
        if ok(hi):
            return hi
        bad, good = hi, lo
    while abs(good - bad) > (1 if integer else tol):
        mid = (bad + good) // 2 if integer else (bad + good) / 2
        if ok(mid):
            good = mid
        else:
            bad = mid
    return good
