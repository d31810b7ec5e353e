"""Grids of a sweep: full factorial, zipped, sampled (random or Latin hypercube) or a list of points.

Keys are dotted paths of the scenario (as ``--set``); :func:`check_grid`
refuses a key that is not a field before any work.
"""
from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field

import numpy as np

from ..errors import ScenarioError
from ..scenario import is_field_path, load_scenario

@dataclass
class Grid:
    """A list of grid points (dicts of dotted key → value).

    Build with :meth:`product` (full factorial), :meth:`zip` (parallel lists),
    :meth:`random` or :meth:`latin` (sampled over ``{key: (lo, hi)}`` ranges).
    """

    points: list = field(default_factory=list)
    kind: str = "product"
    spec: dict = field(default_factory=dict)

    @classmethod
    def product(cls, axes: dict) -> "Grid":
        """Every combination of the values in ``axes`` ({key: [values]})."""
        keys = list(axes)
        check_size(math.prod(_count(k, axes[k]) for k in keys))  # before any value or point is made
        values = [_axis(k, axes[k]) for k in keys]
        pts = [dict(zip(keys, combo)) for combo in itertools.product(*values)]
        return cls(pts, "product", {k: list(v) for k, v in zip(keys, values)})

    @classmethod
    def zip(cls, axes: dict) -> "Grid":
        """Point i takes the i-th value of every list (all lists the same length)."""
        keys = list(axes)
        check_size(max((_count(k, axes[k]) for k in keys), default=1))
        values = [_axis(k, axes[k]) for k in keys]
        lengths = {len(v) for v in values}
        if len(lengths) > 1:
            raise ScenarioError(f"a zipped grid needs lists of one length, got lengths {sorted(lengths)}", path="grid")
        pts = [dict(zip(keys, combo)) for combo in zip(*values)]
        return cls(pts, "zip", {k: list(v) for k, v in zip(keys, values)})

    @classmethod
    def random(cls, ranges: dict, n: int, seed: int = 0) -> "Grid":
        """``n`` points drawn uniformly in ``{key: (lo, hi)}`` (ints stay ints)."""
        check_size(n)
        rng = np.random.default_rng(seed)
        u = rng.random((n, len(ranges)))
        return cls(_scale(ranges, u), "random", {"ranges": {k: list(v) for k, v in ranges.items()}, "n": n, "seed": seed})

    @classmethod
    def latin(cls, ranges: dict, n: int, seed: int = 0) -> "Grid":
        """``n`` Latin-hypercube points in ``{key: (lo, hi)}``: each range cut in n strata, each used once."""
        check_size(n)
        rng = np.random.default_rng(seed)
        d = len(ranges)
        u = (np.argsort(rng.random((d, n)), axis=1).T + rng.random((n, d))) / n
        return cls(_scale(ranges, u), "latin", {"ranges": {k: list(v) for k, v in ranges.items()}, "n": n, "seed": seed})

    def keys(self) -> list[str]:
        """The swept dotted keys."""
        return list(dict.fromkeys(k for p in self.points for k in p))


#: Runs (grid points × replications) one sweep may have: its tasks and their ids are made before it starts.
MAX_RUNS = 100_000


def check_size(points: int, replications: int = 1) -> None:
    """Refuse a sweep of ``points`` grid points × ``replications`` with no run, or more than :data:`MAX_RUNS`."""
    if points < 1:
        raise ScenarioError("has no points (a key with an empty list of values?); give at least one value per key",
                            path="grid")
    if points * replications > MAX_RUNS:
        raise ScenarioError(f"{points:,} grid points × {replications:,} replications make {points * replications:,} "
                            f"runs, more than the {MAX_RUNS:,} one sweep may have; split it into several sweeps",
                            path="grid")


def _count(key: str, values) -> int:
    """How many values one grid key has, without making them (a range of 10⁸ stays a range)."""
    try:
        n = len(values)
    except TypeError:
        n = len(_axis(key, values))
    if n < 1:
        raise ScenarioError(f"{key!r} has no values; give at least one", path="grid")
    return n


def _axis(key: str, values) -> list:
    """The values of one grid key, as a list (a key with no values is refused, as a grid without points)."""
    values = list(values)
    if not values:
        raise ScenarioError(f"{key!r} has no values; give at least one", path="grid")
    return values


def _scale(ranges: dict, u: np.ndarray) -> list[dict]:
    pts = []
    for row in u:
        p = {}
        for (k, (lo, hi)), x in zip(ranges.items(), row):
            if isinstance(lo, int) and isinstance(hi, int):
                p[k] = int(min(hi, lo + math.floor(x * (hi - lo + 1))))
            else:
                p[k] = float(lo + x * (hi - lo))
        pts.append(p)
    return pts


def as_grid(grid, zipped: bool = False) -> Grid:
    """A :class:`Grid` from a Grid, a dict of lists (factorial, or zipped) or a list of point dicts."""
    if isinstance(grid, Grid):
        return grid
    if grid is None:
        return Grid([{}], "product", {})
    if isinstance(grid, dict):
        axes = {k: (v if isinstance(v, (list, tuple)) else [v]) for k, v in grid.items()}
        return Grid.zip(axes) if zipped else Grid.product(axes)
    if isinstance(grid, (list, tuple)):
        check_size(len(grid))
        return Grid([dict(p) for p in grid], "points", {"points": [dict(p) for p in grid]})
    raise ScenarioError(f"a grid must be a dict of lists, a list of points or a Grid, not {type(grid).__name__}",
                        path="grid")


def check_grid(base: dict, grid: Grid) -> None:
    """Refuse grid keys that are not paths of the scenario (one sentence, ScenarioError)."""
    for key in grid.keys():
        if not is_field_path(base, key):
            raise ScenarioError(f"{key!r} is not a field of the scenario; use a dotted path such as "
                                "service.workers or clients.arrival.poisson.rate", path="grid")
    for p in grid.points[:1]:
        try:
            load_scenario(base, overrides=p)  # values of the wrong type fail here, once, before any work
        except ScenarioError as e:
            raise ScenarioError(str(e), path="grid") from None
