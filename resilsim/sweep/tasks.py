"""What a sweep's runs are: their ids, their seeds and the shape of their rows.

A run is one (grid point, replication); its id is a hash of what determines
its numbers, so a store can tell finished runs from missing ones and a
rerun computes only what is missing.
"""
from __future__ import annotations

import hashlib
import json

import numpy as np
import pandas as pd

from .grid import Grid


def canon(obj) -> str:
    return json.dumps(obj, sort_keys=True, default=str, separators=(",", ":"))


def run_id(scenario_data: dict, overrides: dict, replication: int, root_seed: int, common_seeds: bool = False,
           window=None) -> str:
    """Deterministic id of one run: a hash of (scenario dump, overrides, replication, root seed[, common seeds]
    [, window])."""
    key = [scenario_data, overrides, replication, root_seed] + (["common-seeds"] if common_seeds else []) \
        + ([["window", window]] if window is not None else [])
    h = hashlib.sha256(canon(key).encode())
    return h.hexdigest()[:16]


def make_tasks(base: dict, grid: Grid, replications: range, seed: int, common_seeds: bool = False,
               window=None) -> list[dict]:
    # Independent seeds: child i·R + r for point i, replication r. Common seeds: child r at every point,
    # so points differ only by their parameters (smoother curves, sharper differences), and replications
    # can be added later (child r is the same however many are spawned).
    root = np.random.SeedSequence(seed)
    n = len(replications)
    children = root.spawn(replications.stop if common_seeds else len(grid.points) * n)
    tasks = []
    for i, point in enumerate(grid.points):
        for r in replications:
            child = children[r if common_seeds else i * n + r]
            tasks.append({"point": i, "overrides": dict(point), "replication": r, "entropy": int(root.entropy),
                          "spawn_key": tuple(child.spawn_key),
                          "run_id": run_id(base, point, r, seed, common_seeds, window)})
    return tasks


def tidy(df: pd.DataFrame) -> pd.DataFrame:
    """Sweep rows in grid order with ``error``/``truncated`` filled and a ``status`` column (ok, truncated, failed)."""
    if df.empty:
        return df
    if "error" in df:
        df["error"] = df["error"].fillna("")
    df["truncated"] = df["truncated"].fillna("") if "truncated" in df else ""
    # ok: ran to the end; truncated: stopped at a scenario limit (partial numbers); failed: raised (see error).
    df["status"] = np.where(df["error"] != "", "failed", np.where(df["truncated"] != "", "truncated", "ok")) \
        if "error" in df else np.where(df["truncated"] != "", "truncated", "ok")
    return df.sort_values(["point", "replication", "strategy"], kind="stable").reset_index(drop=True)
