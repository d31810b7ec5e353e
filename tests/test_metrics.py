"""The metric vocabulary: one place for names, units, bounds and labels."""
import numpy as np

from resilsim import metrics, simulate
from resilsim.sweep.plan import parse_slo

from .conftest import small


def test_every_summary_column_is_a_known_metric_or_an_outcome_count():
    from resilsim.records import OUTCOMES  # the outcome counts are columns too
    summary = simulate(small(duration=20), seed=1).summary()
    unknown = [c for c in summary.columns if c not in metrics.METRICS and c not in OUTCOMES]
    assert unknown == []


def test_clip_keeps_intervals_inside_what_a_metric_can_take():
    lo, hi = metrics.clip("success_rate", [-0.2, 0.5], [1.2, 0.9])
    assert lo.tolist() == [0.0, 0.5] and hi.tolist() == [1.0, 0.9]
    lo, hi = metrics.clip("p99_s", [-1.0], [np.inf])
    assert lo.tolist() == [0.0] and hi.tolist() == [np.inf]
    lo, hi = metrics.clip("not_a_metric", [-5.0], [5.0])
    assert lo.tolist() == [-5.0] and hi.tolist() == [5.0]


def test_labels_carry_units_for_timed_metrics():
    for m in metrics.METRICS.values():
        if m.unit == "s":
            assert m.label.endswith("(s)"), m
    assert metrics.label("unknown_col") == "unknown_col"


def test_every_slo_metric_is_a_metric_with_a_direction():
    for name in metrics.SLO_METRICS:
        assert metrics.METRICS[name].better in ("higher", "lower")
    assert set(parse_slo([f"{m}<=1" for m in metrics.SLO_METRICS])) == set(metrics.SLO_METRICS)
