"""Runaway work is bounded: a run whose retries grow without limit stops at a cap, keeps its partial tables,
says so, and the CLI exits 3 after writing them (docs/reliability.md)."""
import pandas as pd

from resilsim import load_scenario, simulate
from resilsim.cli import main
from resilsim.invariants import check_result
from resilsim.sim import limits

from .conftest import small


def storm(**limits_):
    """Two workers at 2.4× overload, a 0.2 s client timeout, and retries with no wait until a 60 s deadline:
    every request keeps ~5 attempts per second in flight, so attempts grow without bound."""
    d = small(name="storm", duration=120, drain=30,
              service={"workers": 2, "operations": {"query_metrics": {"latency": {"exponential": {"mean": 0.05}}}}},
              clients={"arrival": {"poisson": {"rate": 60}}, "timeout": 0.2, "deadline": 60},
              strategies={"hammer": {"retry": {"retry_on": {"timeouts": True}}}, "none": {"retry": "none"}})
    if limits_:
        d["limits"] = limits_
    return d


def test_attempt_cap_stops_the_run_with_its_partial_tables():
    # 60 req/s × 120 s = 7,200 expected requests; 1.5 attempts each: a cap of 10,800.
    s = load_scenario(storm(max_amplification=1.5))
    assert limits.attempt_cap(s) == 10_800
    r = simulate(s, seed=1)
    assert set(r.truncated) == {"hammer"}, "only the retrying strategy runs away"
    assert "limits.max_attempts" in r.truncated["hammer"] and "10,800" in r.truncated["hammer"]
    st = r.stats["hammer"]
    # Checked every CHECK_EVERY events: the overshoot is bounded by that many events' attempts.
    assert 10_800 < st["attempts_sent"] <= 10_800 + limits.CHECK_EVERY
    assert st["stopped_at"] < 120
    req = r.requests[r.requests["strategy"] == "hammer"]
    # No rows for arrivals after the stop; in-flight requests stay incomplete; the invariants still hold.
    assert req["start"].max() <= st["stopped_at"]
    assert (req["outcome"] == "incomplete").any()
    assert st["requests_done"] == int((req["outcome"] != "incomplete").sum())
    check_result(r)
    # The strategy that did not run away ran to the end.
    assert r.stats["none"]["stopped_at"] is None and len(r.requests[r.requests["strategy"] == "none"]) > 6000


def test_truncation_is_deterministic():
    a, b = (simulate(storm(max_attempts=3000), seed=4, strategies=["hammer"]) for _ in range(2))
    pd.testing.assert_frame_equal(a.attempts, b.attempts)
    pd.testing.assert_frame_equal(a.requests, b.requests)
    assert a.stats["hammer"]["stopped_at"] == b.stats["hammer"]["stopped_at"]


def test_event_wall_and_memory_caps(monkeypatch):
    r = simulate(storm(max_events=10_000), seed=1, strategies=["hammer"])
    assert "limits.max_events" in r.truncated["hammer"]
    r = simulate(storm(wall_s=1e-9), seed=1, strategies=["hammer"])  # stops at the first check
    assert "limits.wall_s" in r.truncated["hammer"]
    # Memory: resident memory that grows by 1 MiB per check reaches a 3 MiB cap at the fourth check.
    grow = iter(range(0, 10 ** 9, 2 ** 20))
    monkeypatch.setattr(limits, "rss_bytes", lambda: next(grow))
    r = simulate(storm(max_memory_mb=3), seed=1, strategies=["hammer"])
    assert "limits.max_memory_mb" in r.truncated["hammer"]
    assert r.stats["hammer"]["attempts_sent"] < 6 * limits.CHECK_EVERY


def test_defaults_leave_healthy_runs_alone_and_scale_with_load():
    r = simulate(small(duration=30), seed=0)
    assert r.truncated == {} and r.stats["none"]["stopped_at"] is None
    s = load_scenario(small(duration=1000))  # 50 req/s × 1000 s = 50,000 expected requests
    assert limits.attempt_cap(s) == 50 * 50_000 and limits.event_cap(s) == 20 * 50 * 50_000
    assert limits.attempt_cap(load_scenario(small(duration=1))) == limits.MIN_ATTEMPTS
    assert limits.attempt_cap(load_scenario(small(limits={"max_amplification": 3}, duration=1000))) == 150_000


def test_cli_writes_the_partial_tables_and_exits_3(tmp_path, capsys):
    import yaml
    sc = tmp_path / "storm.yaml"
    sc.write_text(yaml.safe_dump(storm()))
    out = tmp_path / "o"
    rc = main(["run", str(sc), "--set", "limits.max_attempts=4000", "--strategy", "hammer", "--no-charts",
               "--out", str(out)])
    err = capsys.readouterr().err
    assert rc == 3
    assert err.count("\n") == 1 and "strategy 'hammer' stopped at" in err and "limits.max_attempts" in err
    assert "partial run" in err and "Traceback" not in err
    att = pd.read_parquet(out / "attempts.parquet")
    assert 3000 < len(att) <= 4000 + limits.CHECK_EVERY


def test_sweep_flags_truncated_runs_and_leaves_them_out_of_the_aggregate():
    from resilsim.sweep import aggregate, sweep
    df = sweep(storm(max_amplification=1.5), {"clients.arrival.poisson.rate": [60, 61]},
               executor="inprocess", progress=False)
    assert set(df["status"]) == {"ok", "truncated"}
    assert (df.loc[df["strategy"] == "hammer", "status"] == "truncated").all()
    assert df.loc[df["strategy"] == "hammer", "truncated"].str.contains("limits.max_attempts").all()
    agg = aggregate(df)
    assert set(agg["strategy"]) == {"none"} and (agg["truncated_runs"] == 1).all()


def test_a_zero_wait_retry_loop_stops_before_the_attempt_column_overflows():
    # Retries with no wait against a rate limiter that refuses at once: one request loops at one instant.
    d = small(duration=600, service={"workers": 4, "rate_limit": {"token_bucket": {"rate": 1, "burst": 1}},
                                     "operations": {"query_metrics": {"latency": {"exponential": {"mean": 0.05}}}}},
              clients={"arrival": {"poisson": {"rate": 20}}, "deadline": 60},
              strategies={"hammer": {"retry": {"retry_on": {"status": [429]}}}})
    r = simulate(d, seed=0)
    assert "a request made more than" in r.truncated["hammer"]
    assert r.attempts["attempt"].max() <= limits.MAX_ATTEMPTS_PER_REQUEST + limits.CHECK_EVERY < 32_767
    check_result(r)
