"""``resilsim fit``: from an access log to a scenario's arrivals, latency and background errors.

The log is a CSV file with a header naming ``timestamp`` (seconds), ``latency``
(seconds) and ``status`` (HTTP) and/or ``code`` (the API's error code; empty,
``OK`` or ``0`` for a success). :func:`fit_log` returns what it fitted:

- the arrival curve: requests per second in bins of ``bin_s`` seconds (a
  ``clients.arrival.curve`` file);
- the latency distribution: exponential, log-normal, Weibull and normal fitted
  by maximum likelihood (normal and log-normal in closed form, Weibull by
  bisection on its shape), each with its Kolmogorov-Smirnov distance to the
  samples; the closest is proposed;
- per-code error rates (``faults.background``), or per HTTP status when the
  log has no code column.

Nothing in the file is evaluated: its text is read by the scenario's bounded
reader and every field is parsed as a number or kept as a code name.
"""
from __future__ import annotations

import csv
import io
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .errors import ScenarioError, UsageError

#: Codes that mean success in a ``code`` column.
_OK = {"", "ok", "0", "success"}


@dataclass(frozen=True)
class Fitted:
    """One latency distribution fitted to the samples: its scenario ``latency`` block and its KS distance (0..1)."""

    name: str
    params: dict
    ks: float

    def latency(self) -> dict:
        """The scenario's ``latency:`` mapping for this fit."""
        return {self.name: self.params}


@dataclass(frozen=True)
class LogFit:
    """What :func:`fit_log` found: ``curve`` (bin start seconds, requests per second), latency fits best first,
    error rates per code (``by_code``) or per HTTP status (``by_status``), and the log's size."""

    requests: int
    span_s: float
    bin_s: float
    curve_t: np.ndarray
    curve_rps: np.ndarray
    fits: list
    by_code: dict = field(default_factory=dict)
    by_status: dict = field(default_factory=dict)

    @property
    def best(self) -> Fitted:
        """The fit with the smallest KS distance."""
        return self.fits[0]

    def curve_csv(self) -> str:
        """The arrival curve as a ``time,rate`` CSV file's text."""
        return "time,rate\n" + "".join(f"{t:g},{r:.6g}\n" for t, r in zip(self.curve_t, self.curve_rps))

    def fragment(self, curve_file: str, operation: str = "op") -> str:
        """A scenario YAML fragment (arrivals, the best latency, background errors), with the fit as comments."""
        import yaml
        lines = [f"# fitted from {self.requests} requests over {self.span_s:g} s",
                 f"# arrival curve: {len(self.curve_t)} bins of {self.bin_s:g} s, "
                 f"{self.curve_rps.min():.3g} to {self.curve_rps.max():.3g} requests/s "
                 f"(mean {self.requests / max(self.span_s, 1e-9):.3g})",
                 "# latency fits (Kolmogorov-Smirnov distance, smaller is closer): "
                 + ", ".join(f"{f.name} {f.ks:.4f}" for f in self.fits)]
        body = {"duration": _round_up(self.span_s),
                "clients": {"arrival": {"curve": {"file": curve_file}}},
                "service": {"operations": {operation: {"latency": self.best.latency()}}}}
        if self.by_code:
            body["faults"] = {"background": {k: round(v, 6) for k, v in self.by_code.items()}}
        for status, rate in self.by_status.items():
            lines.append(f"# HTTP {status}: {rate:.4%} of requests (name the API's code for it in faults.background)")
        return "\n".join(lines) + "\n" + yaml.safe_dump(body, sort_keys=False, default_flow_style=None)


def _round_up(x: float) -> float:
    return float(math.ceil(x)) if x > 0 else 1.0


def read_log(path) -> tuple[np.ndarray, np.ndarray, list | None, list | None]:
    """``(timestamps s, latencies s, codes or None, statuses or None)`` of an access log CSV; one
    ScenarioError naming the file and what was expected when it cannot be used."""
    from .scenario.load import read_text
    p = Path(path)
    text = read_text(p)
    expected = "a CSV header with timestamp, latency and status or code columns"
    rows = csv.reader(io.StringIO(text))
    header = next(rows, None)
    if header is None:
        raise ScenarioError(f"no rows; expected {expected}", source=str(p))
    cols = {h.strip().lower(): i for i, h in enumerate(header)}
    if "timestamp" not in cols or "latency" not in cols or not ({"status", "code"} & set(cols)):
        raise ScenarioError(f"header is {','.join(header)!r}; expected {expected}", source=str(p))
    ts, lat, codes, statuses = [], [], [], []
    ci, si = cols.get("code"), cols.get("status")
    for line, row in enumerate(rows, 2):
        if not row or all(not c.strip() for c in row):
            continue
        if len(row) < len(header):
            raise ScenarioError(f"line {line} has {len(row)} columns; expected {len(header)} ({','.join(header)})",
                                source=str(p))
        for name, out in (("timestamp", ts), ("latency", lat)):
            v = row[cols[name]].strip()
            try:
                x = float(v)
            except ValueError:
                raise ScenarioError(f"line {line}: {name} {v!r} is not a number of seconds", source=str(p)) from None
            if not math.isfinite(x):
                raise ScenarioError(f"line {line}: {name} {v!r} is not a finite number of seconds", source=str(p))
            out.append(x)
        if lat[-1] < 0:
            raise ScenarioError(f"line {line}: latency {lat[-1]:g} is negative; expected seconds ≥ 0", source=str(p))
        if ci is not None:
            codes.append(row[ci].strip())
        if si is not None:
            v = row[si].strip()
            try:
                statuses.append(int(v))
            except ValueError:
                raise ScenarioError(f"line {line}: status {v!r} is not an HTTP status code", source=str(p)) from None
    if not ts:
        raise ScenarioError(f"no requests after the header; expected {expected}", source=str(p))
    return np.array(ts), np.array(lat), codes if ci is not None else None, statuses if si is not None else None


def ks_distance(x: np.ndarray, cdf) -> float:
    """Kolmogorov-Smirnov distance between the samples ``x`` and a distribution's ``cdf`` (vectorised)."""
    x = np.sort(x)
    n = len(x)
    f = cdf(x)
    i = np.arange(1, n + 1)
    return float(max((i / n - f).max(), (f - (i - 1) / n).max()))


def _erf(z):
    return np.vectorize(math.erf, otypes=[float])(z)


def fit_latency(x: np.ndarray) -> list[Fitted]:
    """Exponential, log-normal, Weibull and normal fits of latencies ``x`` (seconds), closest (smallest KS) first."""
    out = []
    mean = float(x.mean())
    if mean > 0:
        out.append(Fitted("exponential", {"mean": _sig(mean)}, ks_distance(x, lambda v: 1 - np.exp(-v / mean))))
    sd = float(x.std())
    if sd > 0:
        out.append(Fitted("normal", {"mean": _sig(mean), "sd": _sig(sd)},
                          ks_distance(x, lambda v: 0.5 * (1 + _erf((v - mean) / (sd * math.sqrt(2)))))))
    pos = x[x > 0]
    if len(pos) >= 2 and pos.std() > 0:
        logs = np.log(pos)
        mu, s = float(logs.mean()), float(logs.std())
        out.append(Fitted("lognormal", {"median": _sig(math.exp(mu)), "sigma": _sig(s)},
                          ks_distance(x, lambda v: np.where(
                              v > 0, 0.5 * (1 + _erf((np.log(np.maximum(v, 1e-300)) - mu) / (s * math.sqrt(2)))), 0.0))))
        k, lam = _weibull_mle(pos)
        out.append(Fitted("weibull", {"shape": _sig(k), "scale": _sig(lam)},
                          ks_distance(x, lambda v: 1 - np.exp(-np.power(np.maximum(v, 0) / lam, k)))))
    return sorted(out, key=lambda f: f.ks)


def _sig(v: float) -> float:
    return float(f"{v:.6g}")


def _weibull_mle(x: np.ndarray) -> tuple[float, float]:
    # The shape k solves Σx^k·ln x / Σx^k − 1/k = mean(ln x): increasing in k, so bisection finds it.
    y = x / x.max()  # scale-free: x^k without overflow
    ly = np.log(y)
    mean_ly = ly.mean()

    def g(k):
        w = np.power(y, k)
        return (w * ly).sum() / w.sum() - 1 / k - mean_ly

    lo, hi = 1e-3, 1e3
    for _ in range(200):
        mid = math.sqrt(lo * hi)
        if g(mid) > 0:
            hi = mid
        else:
            lo = mid
    k = math.sqrt(lo * hi)
    lam = x.max() * float(np.power(np.power(y, k).mean(), 1 / k))
    return k, lam


def fit_log(path, bin_s: float = 60.0) -> LogFit:
    """Fit the access log at ``path`` (see the module's docstring); ``bin_s``: the arrival curve's bin, seconds."""
    if not bin_s > 0:
        raise UsageError(f"must be a positive number of seconds, got {bin_s!r}", option="--bin")
    ts, lat, codes, statuses = read_log(path)
    t = np.sort(ts) - ts.min()
    span = float(t[-1])
    nbins = max(1, int(math.ceil(span / bin_s))) if span > 0 else 1
    counts = np.bincount(np.minimum((t / bin_s).astype(np.int64), nbins - 1), minlength=nbins)
    edges = np.arange(nbins) * bin_s
    widths = np.minimum(edges + bin_s, max(span, bin_s)) - edges
    rps = counts / np.where(widths > 0, widths, bin_s)
    n = len(ts)
    by_code, by_status = {}, {}
    if codes is not None:
        names, k = np.unique([c for c in codes if c.lower() not in _OK], return_counts=True)
        by_code = {str(a): float(b) / n for a, b in zip(names, k)}
    elif statuses is not None:
        names, k = np.unique([s for s in statuses if not 200 <= s < 400], return_counts=True)
        by_status = {int(a): float(b) / n for a, b in zip(names, k)}
    return LogFit(n, span, float(bin_s), edges, rps, fit_latency(lat), by_code, by_status)
