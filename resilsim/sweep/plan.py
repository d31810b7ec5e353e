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

from ..errors import ResilsimError, ScenarioError
from ..metrics import SLO_METRICS
from ..scenario import Scenario, dump_scenario, load_scenario
from .run import init_worker, pool_size, sweep
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

    def table(self) -> pd.DataFrame:
        """One row per strategy: the answer (None when no value in ``over`` meets the SLO)."""
        return pd.DataFrame({"strategy": list(self.answers), self.vary: list(self.answers.values())})

    def __str__(self) -> str:
        want = "least" if self.direction == "min" else "most"
        slo = ", ".join(f"{k} {v}" for k, v in self.slo.items())
        lines = [f"{want} {self.vary} in [{self.over[0]}, {self.over[1]}] meeting {slo} (95% CI bound):"]
        for s, v in self.answers.items():
            lines.append(f"  {s}: {v if v is not None else 'none in range'}")
            if v is None and self.best.get(s):
                reached = "; ".join(f"best {m} {b:.4g} at {self.vary} = {at:g}" for m, (b, at) in self.best[s].items())
                lines.append(f"    {reached}")
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
            raise ScenarioError(f"SLO {metric}{cond!r} must look like >=0.999 or <=2", path="slo")
        out[metric] = (m.group(1), threshold)
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
         executor=None, workers: int | None = None, progress: bool = False, coarse: int = COARSE,
         precision: dict | None = None, max_replications: int = 40) -> Plan:
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
    (``">=0.999"``, ``"<=2"``; seconds for latencies). Every value is
    simulated on the same seeds (common random numbers across values).
    ``precision`` maps metrics to the 95 % interval half-width wanted
    (``{"success_rate": 0.005}``): a value whose interval of any strategy is
    wider gets more replications (doubling, up to ``max_replications``); the
    evidence's ``n`` says how many each value needed.
    ``executor``/``workers`` as for :func:`resilsim.sweep` (default: a
    process pool on every core, reused for every round).
    """
    if direction not in ("min", "max"):
        raise ScenarioError(f"direction must be 'min' or 'max', not {direction!r}", path="direction")
    conds = parse_slo(slo or {"success_rate": ">=0.999"})
    base = scenario if isinstance(scenario, Scenario) else load_scenario(scenario)
    lo, hi = _range(over)
    integer = isinstance(lo, int) and isinstance(hi, int)
    tol = tol if tol is not None else (1 if integer else (hi - lo) / 64)
    step = 1 if integer else tol
    targets = _precision(precision)
    if isinstance(max_replications, bool) or not isinstance(max_replications, int) or max_replications < replications:
        raise ScenarioError(f"max_replications must be a whole number of at least replications ({replications}), "
                            f"got {max_replications!r}", path="max_replications")

    own = executor is None
    # Rounds have at most coarse values × max_replications runs each.
    ex = ProcessPoolExecutor(max_workers=pool_size(workers, coarse * max_replications),
                             initializer=init_worker) if own else executor
    verdicts: dict = {}  # value -> {strategy: aggregated row with "meets"}
    frames: dict = {}    # value -> its sweep rows, one frame per batch of replications
    done: dict = {}      # value -> replications run so far

    def run(values: list, reps: range):
        # One sweep per batch: its points run side by side, replication r of each on the same seed.
        df = sweep(base, {vary: values}, replications=reps, seed=seed, executor=ex, progress=progress,
                   common_seeds=True)
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
        if own:
            ex.shutdown(cancel_futures=True)
    tried = sorted(verdicts)
    answers, intervals, notes = {}, {}, {}
    for name in base.strategies:
        meets = [_ok(verdicts, v, name) for v in tried]
        intervals[name] = _runs(tried, meets)
        answers[name] = _headline(tried, meets, direction)
        notes[name] = _note(intervals[name], answers[name], direction)
    evidence = pd.DataFrame([r | {vary: v} for v, by in sorted(verdicts.items()) for r in by.values()])
    keep = [vary, "strategy", "n", "few_replications", "meets"] + [c for m in conds for c in (m, f"{m}_ci_low", f"{m}_ci_high")]
    evidence = evidence[[c for c in keep if c in evidence.columns]] if len(evidence) else evidence
    runs = [f for v in sorted(frames) for f in frames[v]]
    return Plan(vary, tuple(over), direction, {k: f"{op}{t:g}" for k, (op, t) in conds.items()}, answers,
                evidence, pd.concat(runs, ignore_index=True) if runs else pd.DataFrame(), intervals, notes,
                _best(evidence, conds, vary))


def _range(over) -> tuple:
    """``over`` checked: two finite numbers, low ≤ high (ints stay ints, so the search bisects integers)."""
    try:
        lo, hi = over
    except (TypeError, ValueError):
        lo = hi = None
    if not all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in (lo, hi)) \
            or lo > hi:
        raise ScenarioError(f"over must be two finite numbers (low, high) with low <= high, got {over!r}",
                            path="over")
    return lo, hi


def _precision(precision: dict | None) -> dict:
    """``{metric: half-width}`` checked: known metrics, positive finite widths."""
    from ..metrics import METRICS
    out = {}
    for metric, width in (precision or {}).items():
        if metric not in METRICS:
            raise ScenarioError(f"precision for an unknown metric {metric!r}; use one of {', '.join(METRICS)}",
                                path="precision")
        if isinstance(width, bool) or not isinstance(width, (int, float)) or not 0 < width < float("inf"):
            raise ScenarioError(f"precision for {metric} must be a positive half-width, got {width!r}",
                                path="precision")
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

def save_plan(plan, out, scenario=None, seed=None, replications=None) -> Path:
    """Write ``plan`` (a :class:`resilsim.sweep.Plan`) as ``plan.json`` into the directory ``out``; return its path.

    With ``scenario`` its YAML goes beside it as ``scenario.yaml``, so
    ``resilsim report out`` shows the scenario, strategies and answer.
    JSON only: the report reads it back without evaluating anything.
    """
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    ev = plan.evidence.astype(object).where(plan.evidence.notna(), None) if len(plan.evidence) else plan.evidence
    d = {"vary": plan.vary, "over": list(plan.over), "direction": plan.direction, "slo": plan.slo,
         "answers": plan.answers, "evidence": ev.to_dict("records"), "seed": seed, "replications": replications,
         "intervals": {k: [list(iv) for iv in v] for k, v in plan.intervals.items()}, "notes": plan.notes,
         "best": {k: {m: list(b) for m, b in v.items()} for k, v in plan.best.items()}}
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
                    {k: {m: tuple(b) for m, b in v.items()} for k, v in d.get("best", {}).items()})
    except (ValueError, KeyError, TypeError) as e:
        raise ResilsimError(f"{p}: not a plan written by `resilsim plan --out` ({type(e).__name__}: {e})") from None
