"""Parameter sweeps and capacity planning: many runs (grid point × replication), on every core or a Dask cluster.

    >>> df = resilsim.sweep("scenarios/counters-rate-limited.yaml",
    ...                     {"service.workers": [4, 8, 16]}, replications=5, store="results/workers")
    >>> resilsim.aggregate(df)

- :mod:`.grid`: the grids (factorial, zipped, sampled) and their key checks;
- :mod:`.tasks`: run ids, seeds and the shape of a sweep's rows;
- :mod:`.run`: the worker, the executors and :func:`sweep`;
- :mod:`.stats`: warm-up detection (MSER-5) and intervals (:func:`aggregate`);
- :mod:`.store`: the resumable results directory;
- :mod:`.plan`: capacity planning against an SLO.
"""
from __future__ import annotations

from .grid import Grid, as_grid, check_grid
from .plan import Plan, load_plan, parse_slo, plan, save_plan
from .run import run_task, sweep
from .stats import (FEW_REPLICATIONS, aggregate, mean_interval, metric_table, mser5, param_columns,
                    proportion_interval, strategy_table, t975)
from .store import Store, load_sweep
from .tasks import run_id

__all__ = ["Grid", "as_grid", "check_grid", "Plan", "plan", "parse_slo", "save_plan", "load_plan", "sweep",
           "run_task", "aggregate", "metric_table", "mser5", "mean_interval", "proportion_interval", "param_columns",
           "strategy_table", "t975", "FEW_REPLICATIONS", "Store", "load_sweep", "run_id"]
