"""Shared pieces of the validation suite: batch-means tolerances and the results table.

Every check records (check, source, expected, measured, tolerance, pass);
at the end of the session the table is written to build/validation.md (not
out/, the demo's folder), the page docs/validation.md is refreshed from (`make validate`).
"""
import math
from pathlib import Path

import numpy as np
import pytest

ROWS: list[dict] = []

#: Tolerance in standard errors. With ~20 checks, 4 SE keeps the chance of a
#: false alarm on any of them below 0.2% (and the seeds are fixed anyway).
Z = 4.0


def batch_means(values: np.ndarray, batches: int = 20) -> tuple[float, float]:
    """Mean and standard error by batch means (values in time order; robust to autocorrelation)."""
    values = np.asarray(values, dtype=float)
    parts = np.array_split(values, batches)
    means = np.array([p.mean() for p in parts if len(p)])
    return float(values.mean()), float(means.std(ddof=1) / math.sqrt(len(means)))


def proportion_se(p: float, n: int) -> float:
    """Standard error of a proportion p estimated from n independent samples."""
    return math.sqrt(max(p * (1 - p), 1e-12) / n)


#: Issue 7's item number of each check, by test module, and by test function where a module holds two items.
ITEMS = {"test_queues": 1, "test_retries": 2, "test_rate_limits": 3, "test_backoff": 4, "test_contention": 5,
         "test_metastable": 6, "test_brooker": 7, "test_guards": 8, "test_closed": 10,
         "test_published_brooker": 11, "test_call_graph": 12,
         "test_published_collapse": 13}
ITEM_OF_TEST = {"test_retry_load_for_three_retries": 8, "test_local_rejections_follow_the_sre_formula": 9}


@pytest.fixture
def record(request):
    module = request.node.module.__name__.rsplit(".", 1)[-1]
    item = ITEM_OF_TEST.get(request.node.originalname, ITEMS.get(module, 0))

    def _record(check: str, source: str, expected: float, measured: float, tolerance: float, ok: bool | None = None):
        ok = abs(measured - expected) <= tolerance if ok is None else ok
        ROWS.append({"item": item, "check": check, "source": source, "expected": expected, "measured": measured,
                     "tolerance": tolerance, "pass": ok})
        return ok
    return _record


def _fmt(v) -> str:
    return v if isinstance(v, str) else f"{v:.4g}"


#: Where the table goes, under the repository root: beside the build outputs, away from `make demo`'s out/.
VALIDATION_DIR = "build"


def pytest_sessionfinish(session, exitstatus):
    if not ROWS:
        return
    out = Path(session.config.rootpath) / VALIDATION_DIR
    out.mkdir(exist_ok=True)
    lines = ["| item | check | theory or source | expected | resilsim | tolerance | pass |",
             "|---|---|---|---|---|---|---|"]
    for r in sorted(ROWS, key=lambda r: r["item"]):  # stable: checks keep their order within an item
        tol = r["tolerance"] if isinstance(r["tolerance"], str) else f"±{r['tolerance']:.2g}"
        lines.append(f"| {r['item']} | {r['check']} | {r['source']} | {_fmt(r['expected'])} | {_fmt(r['measured'])} | "
                     f"{tol} | {'yes' if r['pass'] else '**no**'} |")
    (out / "validation.md").write_text("\n".join(lines) + "\n")


@pytest.fixture
def scale(long_validation):
    """Sample-size multiplier: 1 in the default run, 5 with --validation-long."""
    return 5 if long_validation else 1
