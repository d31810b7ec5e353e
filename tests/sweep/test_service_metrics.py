"""Sweeps and plans over the services behind the API: per-service columns (svc.NAME.METRIC), their intervals,
an SLO on them, bad SLO names (docs/sweeps.md, docs/call-graph.md)."""
import numpy as np
import pytest

from resilsim import aggregate, sweep
from resilsim.errors import UsageError
from resilsim.metrics import SERVICE_METRICS
from resilsim.sweep.plan import plan
from resilsim.sweep.stats import param_columns

from ..sim.test_calls import scenario


def mmc_db(workers=8, duration=120, error_rate=0.0):
    # The API (1 ms, ample workers) calls a database once per request: 50 calls/s of 0.1 s on average, so the
    # database is M/M/c with 5 erlangs. Erlang C: mean wait in queue 0.059 s at c = 6, 0.016 s at 7, 0.0056 s at 8.
    s = scenario(api_calls=[{"service": "db", "operation": "query", "on_failure": "ANALYTICS_1900"}],
                 services={"db": {"workers": workers, "error_rate": error_rate,
                                  "operations": {"query": {"latency": {"exponential": {"mean": 0.1}}}}}},
                 rate=50, duration=duration)
    s["warmup"] = 10
    return s


def test_sweep_rows_carry_each_services_metrics_and_aggregate_gives_their_intervals():
    df = sweep(mmc_db(error_rate=0.1, duration=40), {"services.db.workers": [7, 9]}, replications=3,
               executor="inprocess", progress=False)
    cols = [f"svc.db.{m}" for m in SERVICE_METRICS]
    assert [c for c in df.columns if c.startswith("svc.")] == cols
    assert param_columns(df) == ["services.db.workers"]  # the metrics are not taken for swept parameters
    # One request, one call: the database's calls are the requests; 10 % of its queries fail (no retries).
    assert (df["svc.db.calls"] == df["requests"]).all()
    assert (df["svc.db.amplification"] == 1.0).all()
    assert np.allclose(df["svc.db.success_rate"], df["success_rate"])
    assert df["svc.db.success_rate"].between(0.85, 0.95).all()
    agg = aggregate(df).set_index("services.db.workers")
    for m in ("success_rate", "p99_s", "queue_s"):
        c = f"svc.db.{m}"
        assert (agg[f"{c}_ci_low"] <= agg[c]).all() and (agg[c] <= agg[f"{c}_ci_high"]).all()
    assert (agg["svc.db.success_rate_ci_high"] <= 1.0).all()
    assert agg.loc[7, "svc.db.queue_s"] > agg.loc[9, "svc.db.queue_s"]  # more workers, shorter waits


def test_a_scenario_without_services_gets_no_service_columns():
    s = scenario(rate=20, duration=10)
    df = sweep(s, {"service.workers": [1000]}, replications=1, executor="inprocess", progress=False)
    assert not [c for c in df.columns if c.startswith("svc.")]


def test_plan_constrains_a_services_queue_wait_to_the_erlang_c_answer():
    # Mean wait at the database ≤ 30 ms: Erlang C says 7 workers (0.016 s; 6 give 0.059 s).
    p = plan(mmc_db(), vary="services.db.workers", over=(4, 12), slo=["svc.db.queue_s<=0.03"], replications=3,
             executor="inprocess")
    assert p.answers == {"s": 7}
    ev = p.evidence.set_index("services.db.workers")
    assert ev.loc[7, "svc.db.queue_s"] == pytest.approx(0.0162, rel=0.5)
    assert not ev.loc[6, "meets"] and ev.loc[6, "svc.db.queue_s"] > 0.03


@pytest.mark.parametrize("slo,msg", [
    ("svc.nope.success_rate>=0.9",
     "slo: SLO metric 'svc.nope.success_rate' names no service of scenario 'calls' (its services behind the API: db)"),
    ("svc.db.bogus<=1",
     "slo: SLO metric 'svc.db.bogus': 'bogus' is not a per-service metric; use one of calls, success_rate, attempts, "
     "amplification, mean_s, p99_s, queue_s, utilisation"),
    ("bogus<=1", "slo: unknown SLO metric 'bogus'; use one of success_rate, p50_s, p95_s, p99_s, amplification, "
                 "peak_amplification, goodput_rps, mean_attempts, recovery_s, or svc.SERVICE.METRIC for a service "
                 "behind the API"),
])
def test_plan_refuses_an_unknown_service_or_metric_before_any_run(slo, msg, monkeypatch):
    import sys
    P = sys.modules["resilsim.sweep.plan"]  # the module (the package's name `plan` is the function)

    def boom(*a, **k):
        raise AssertionError("a run started")
    monkeypatch.setattr(P, "sweep", boom)
    with pytest.raises(UsageError) as e:
        plan(mmc_db(), vary="services.db.workers", over=(4, 12), slo=[slo], replications=2, executor="inprocess")
    assert str(e.value) == msg


def test_the_store_keeps_the_service_columns_and_the_reports_show_them(tmp_path):
    from resilsim.report import render
    from resilsim.sweep import load_sweep, save_plan
    df = sweep(mmc_db(duration=20), {"services.db.workers": [7, 9]}, replications=2, executor="inprocess",
               progress=False, store=tmp_path / "sw")
    back = load_sweep(tmp_path / "sw")
    assert back["svc.db.queue_s"].tolist() == df["svc.db.queue_s"].tolist()
    text = render(tmp_path / "sw")
    assert "Services behind the API" in text and "svc.db.queue_s" in text
    p = plan(mmc_db(duration=20), vary="services.db.workers", over=(6, 9), slo=["svc.db.queue_s<=0.03"],
             replications=2, executor="inprocess")
    save_plan(p, tmp_path / "plan")
    assert "svc.db.queue_s" in render(tmp_path / "plan")


def test_plan_takes_a_precision_on_a_services_metric_and_refuses_one_on_an_unknown_service():
    p = plan(mmc_db(duration=20), vary="services.db.workers", over=(8, 9), slo=["svc.db.queue_s<=0.5"],
             replications=2, executor="inprocess", precision={"svc.db.queue_s": 1e-9}, max_replications=4)
    assert set(p.evidence["n"]) == {4}  # the interval is never that narrow: replications doubled to the cap
    with pytest.raises(UsageError, match="names no service of scenario 'calls'"):
        plan(mmc_db(), vary="services.db.workers", over=(4, 12), slo=["success_rate>=0.9"], replications=2,
             executor="inprocess", precision={"svc.nope.queue_s": 0.1})


def test_a_store_written_before_the_service_columns_is_not_resumed(tmp_path, capsys):
    # A format-2 store (rows without svc.* columns, or without svc.NAME.utilisation) resumed now would mix rows
    # with and without them: refused in one sentence, exit 2, nothing run or written.
    import json

    from resilsim.cli import main
    from resilsim.sweep.store import FORMAT

    out = tmp_path / "old"
    out.mkdir()
    manifest = {"format": 2, "scenario": {"name": "x"}, "grid": {"points": []}, "replications": 1, "seed": 0}
    (out / "manifest.json").write_text(json.dumps(manifest))
    rc = main(["sweep", "scenarios/metastable-two-tier-storm.yaml", "--grid", "services.db.workers=8",
               "--out", str(out)])
    err = capsys.readouterr().err
    assert FORMAT == 3 and rc == 2
    assert err == (f"resilsim: {out}: holds results an earlier resilsim wrote (results format 2, now 3: rows gained "
                   "per-service svc.NAME.METRIC columns, utilisation among them), and resuming would mix rows of "
                   "both; use a new --out directory, or delete this one to start again\n")
    assert sorted(p.name for p in out.iterdir()) == [".lock", "manifest.json"]
    assert json.loads((out / "manifest.json").read_text()) == manifest
