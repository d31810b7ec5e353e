"""Closed-loop users (``clients.closed``) through every recorder, with tenants, guards and hops."""
import numpy as np
import pandas as pd
import pytest

from resilsim import load_scenario, simulate

from ..conftest import small


def _closed(**clients):
    d = small(duration=120)
    d["clients"] = {"closed": {"users": 30, "think": {"exponential": {"mean": 0.5}}, "ramp": 5}, **clients}
    d["service"]["workers"] = 2
    d["service"]["rate_limit"] = {"token_bucket": {"rate": 4, "burst": 4}, "per": "tenant"}
    d["faults"] = {"background": {"ANALYTICS_2000": 0.05}}
    d["network"] = {"latency": {"round_trip": {"exponential": {"mean": 0.02}}}}
    d["strategies"] = {
        "none": {"retry": "none"},
        "retrying": {"retry": {"wait": {"exponential": {"base": 0.05, "cap": 1}}, "jitter": "full",
                               "stop": {"attempts": 4}},
                     "guards": {"breaker": {"minimum_calls": 10, "open_s": 1}}}}
    return d


@pytest.mark.parametrize("arrival", [None, {"poisson": {"rate": 5}}])
def test_summary_recording_counts_what_the_rows_hold(arrival, tmp_path, monkeypatch):
    extra = {"tenants": {"free": 4, "pro": 2}}
    if arrival:
        extra["arrival"] = arrival
    d = _closed(**extra)
    d["warmup"] = 30  # users' arrivals reach the recorder in blocks: it must still learn where measuring starts
    s = load_scenario(d)
    # Fold counts every 16 rows (not 8,192): attempts are counted while arrivals still wait for their block.
    monkeypatch.setattr("resilsim.sim.recorder.SUMMARY_CHUNK", 16)
    full, summ = simulate(s, seed=9), simulate(s, seed=9, record="summary")
    a, b = full.summary(), summ.summary()
    for col in ("requests", "success", "failed", "retries_exhausted", "shed", "mean_attempts", "amplification", "network_s"):
        np.testing.assert_allclose(a[col].to_numpy(), b[col].to_numpy())
    stream = simulate(s, seed=9, record="stream", rows_to=tmp_path)
    pd.testing.assert_frame_equal(stream.summary(), b)
    rows = pd.read_parquet(tmp_path / "requests.parquet")
    assert len(rows) == len(full.requests)
    assert (a["success_rate"] < 0.95).all() and a.loc["retrying", "shed"] > 0  # limiter, faults and breaker at work


def test_closed_users_start_at_the_same_times_in_every_strategy():
    # Spawn times come from the scenario (ramp 5 s, 30 users: user k at k/6 s), not from any stream.
    r = simulate(_closed(), seed=2).requests
    for name, g in r.groupby("strategy", observed=True):
        starts = g["start"].to_numpy()
        assert all(np.any(np.isclose(starts, k * 5 / 30, atol=1e-12)) for k in range(30)), name


@pytest.mark.parametrize("name", ["all_features.yaml", "all_features+guards-per-tenant",
                                  "all_features+blocking-limiter-deadlines"])
def test_enter_is_the_arrival_path_of_open_requests(name, monkeypatch):
    # Closed-loop users' requests go through Clients._enter, the general form of _arrive's inlined tail (guards,
    # shedding, a blocking limiter, the first send). Open arrivals routed through _enter must give the same rows.
    from resilsim.sim import clients as C

    from ..test_determinism import CASES, digest

    plain = simulate(load_scenario(CASES[name]()), seed=7)

    def arrive(self, tick):
        now = self.env._now
        i = self._i
        req = C.Request(self._next_id, self._ops[i], now, now + self.deadline)
        ten = self.tenancy
        if ten is not None:
            req.tenant, req.client, req.prop_u = ten.tenants[i], ten.clients[i], ten.props[i]
        self._next_id += 1
        self._i = i + 1
        self._schedule_next()
        self._enter(req, now)

    monkeypatch.setattr(C.Clients, "_arrive", arrive)
    general = simulate(load_scenario(CASES[name]()), seed=7)
    assert digest(general) == digest(plain)
    assert general.guard_stats().equals(plain.guard_stats())
