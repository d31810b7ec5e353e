"""Charts, matplotlib: each function takes tidy data and ``ax=None``, draws, and returns the Axes.

No ``plt.show()``, no global style changes: styles are set per call, and
strategies differ by line style as well as colour so a grey-scale print
still reads.
"""
from __future__ import annotations

import itertools

import numpy as np

LINESTYLES = ("-", "--", "-.", ":", (0, (5, 1, 1, 1)), (0, (1, 1)), (0, (3, 1, 1, 1, 1, 1)), (0, (8, 2)))


def _axes(ax):
    if ax is None:
        import matplotlib.pyplot as plt
        _, ax = plt.subplots(figsize=(8, 4), layout="constrained")
    return ax


def _styles(names):
    return dict(zip(names, itertools.cycle(LINESTYLES)))


def _caption(ax, result):
    s = result.scenario
    ax.set_title(f"{s.name} · seed {result.seed}", fontsize=9, loc="left", color="0.3")


def _shade_incidents(ax, windows):
    for i, (start, end, label) in enumerate(windows):
        ax.axvspan(start, end, color="0.85", zorder=0, label="incident" if i == 0 else None)
        ax.text(start, 1.0, f" {label}", transform=ax.get_xaxis_transform(), fontsize=7, va="top", color="0.35")


def _smooth(y: np.ndarray, width: int) -> np.ndarray:
    if width <= 1:
        return y
    kernel = np.ones(width) / width
    mask = ~np.isnan(y)
    num = np.convolve(np.where(mask, y, 0.0), kernel, mode="same")
    den = np.convolve(mask.astype(float), kernel, mode="same")
    with np.errstate(invalid="ignore", divide="ignore"):
        return num / den


def success_over_time(result, *, ax=None, smooth: float = 10.0):
    """Success rate of requests by arrival time, per strategy, incidents shaded; ``smooth`` seconds of moving mean."""
    ax = _axes(ax)
    tl = result.timeline
    width = max(1, int(round(smooth / result.scenario.bin)))
    for name, ls in _styles(result.strategies).items():
        t = tl[tl["strategy"] == name]
        ax.plot(t["time"], _smooth(t["success_rate"].to_numpy(float), width), ls=ls, label=name, lw=1.4)
    _shade_incidents(ax, result.windows)
    ax.set_xlabel("time (s)")
    ax.set_ylabel("request success rate")
    ax.set_ylim(-0.02, 1.02)
    ax.legend(fontsize=8, loc="lower left")
    _caption(ax, result)
    return ax


def latency_cdf(result, *, ax=None, log: bool = True):
    """Empirical CDF of successful requests' latency (seconds), per strategy."""
    ax = _axes(ax)
    req = result.measured()
    for name, ls in _styles(result.strategies).items():
        lat = req[(req["strategy"] == name) & (req["outcome"] == "success")]["latency"].to_numpy()
        if len(lat):
            ax.ecdf(lat, ls=ls, label=name)
    if log:
        ax.set_xscale("log")
    ax.set_xlabel("latency of successful requests (s)")
    ax.set_ylabel("fraction of requests")
    ax.legend(fontsize=8, loc="lower right")
    _caption(ax, result)
    return ax


def load_over_time(result, *, ax=None, smooth: float = 5.0):
    """Offered requests and attempts per second over time per strategy: the retry load the service sees."""
    ax = _axes(ax)
    tl = result.timeline
    width = max(1, int(round(smooth / result.scenario.bin)))
    first = tl[tl["strategy"] == next(iter(result.strategies))]
    ax.plot(first["time"], _smooth(first["offered_rps"].to_numpy(float), width), color="k", lw=2,
            label="offered requests")
    for name, ls in _styles(result.strategies).items():
        t = tl[tl["strategy"] == name]
        ax.plot(t["time"], _smooth(t["attempts_rps"].to_numpy(float), width), ls=ls, label=f"attempts: {name}")
    svc = result.scenario.service
    for rl in svc.rate_limits():
        # Only a global limiter over all operations is one line on this chart.
        if rl.per == "global" and not rl.operations and not rl.per_operation:
            rate = rl.token_bucket.rate if rl.token_bucket else (
                (rl.fixed_window or rl.sliding_log or rl.sliding_counter).limit
                / (rl.fixed_window or rl.sliding_log or rl.sliding_counter).window)
            ax.axhline(rate, color="0.4", ls=":", lw=1, label="rate limit")
    _shade_incidents(ax, result.windows)
    ax.set_xlabel("time (s)")
    ax.set_ylabel("per second")
    ax.legend(fontsize=8, loc="upper right")
    _caption(ax, result)
    return ax


def save_charts(result, out) -> list:
    """Write the standard charts of a result as PNGs into ``out``; return the paths."""
    from pathlib import Path

    import matplotlib
    from matplotlib.figure import Figure

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    with matplotlib.rc_context({"figure.dpi": 110}):
        for name, fn in (("success_over_time", success_over_time), ("latency_cdf", latency_cdf),
                         ("load_over_time", load_over_time)):
            fig = Figure(figsize=(8, 4), layout="constrained")
            fn(result, ax=fig.add_subplot())
            p = out / f"{name}.png"
            fig.savefig(p)
            paths.append(p)
    return paths
