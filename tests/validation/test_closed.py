"""Closed-loop users against theory: the closed M/M/1 network (machine-repair model)."""
import numpy as np
import pytest

from resilsim import load_scenario, simulate
from resilsim import theory

from .conftest import Z, batch_means

pytestmark = pytest.mark.validation


def closed_mm1(users: int, think: float, service: float, duration: float, **clients):
    return load_scenario({
        "name": "closed M/M/1", "api": "analytics", "duration": duration, "warmup": 100, "drain": 300,
        "service": {"workers": 1, "operations": {"op": {"latency": {"exponential": {"mean": service}}}}},
        "clients": {"closed": {"users": users, "think": {"exponential": {"mean": think}}, **clients}},
        "strategies": {"none": {"retry": "none"}},
    })


@pytest.mark.parametrize("users, think, service", [(5, 1.0, 0.15), (20, 2.0, 0.1)])
def test_closed_mm1_throughput_matches_the_machine_repair_formula(users, think, service, record, scale):
    # N users, exponential think (mean Z), one worker with exponential service (mean S), no retries: the
    # throughput is X = (1 − p0)/S with p0 from the finite-source formula (resilsim.theory.machine_repair).
    # Measured: requests completed per second over the run after the warm-up, in 20 batches of equal time (batch
    # means: the standard error from the run length, not from assuming independent requests); tolerance 4 SE.
    duration = 2100 * scale
    res = simulate(closed_mm1(users, think, service, duration), seed=12)
    r = res.measured()
    assert (r["outcome"] == "success").all()
    ends = np.sort(r["end"].to_numpy())
    ends = ends[ends < duration]
    edges = np.linspace(100, duration, 21)
    per_batch = np.diff(np.searchsorted(ends, edges)) / np.diff(edges)  # completions per second, per batch
    measured, se = batch_means(per_batch, batches=20)
    p0, expected = theory.machine_repair(users, think, service)
    assert record(f"closed M/M/1 throughput (1/s), N={users}, Z={think:g} s, S={service:g} s", "machine repair",
                  expected, measured, Z * se)
    # The utilisation the timeline samples is 1 − p0 too.
    assert abs(res.timeline["utilisation"].mean() - (1 - p0)) < 0.05


def _in_flight_max(r) -> int:
    # The most requests open at once, from their start and end times.
    t = np.concatenate([r["start"].to_numpy(), r["end"].to_numpy()])
    step = np.concatenate([np.ones(len(r)), -np.ones(len(r))])
    order = np.lexsort((step, t))  # at equal times an end (−1) before a start
    return int(np.cumsum(step[order]).max())


def test_users_ramp_up_keep_one_request_each_and_stop_with_the_arrivals():
    # spawn_rate 2: user k sends its first request at k/2 s. Each user has at most one request open, so no more
    # than `users` are ever in flight; nobody sends at or after `duration`.
    res = simulate(closed_mm1(10, 1.0, 0.05, 200, spawn_rate=2.0), seed=3)
    r = res.requests
    starts = r["start"].to_numpy()
    for k in range(10):
        assert np.any(np.isclose(starts, k / 2, atol=1e-12)), k
    assert starts.max() < 200
    assert _in_flight_max(r) <= 10
    ramp = simulate(closed_mm1(10, 1.0, 0.05, 200, ramp=10.0), seed=3).requests["start"].to_numpy()
    assert all(np.any(np.isclose(ramp, k, atol=1e-12)) for k in range(10))  # ramp 10 s: user k at k s


def test_a_slower_service_gets_fewer_requests_from_closed_users():
    # The closed loop's feedback: the same users send less when the service is slower (open arrivals would not).
    fast = simulate(closed_mm1(20, 1.0, 0.02, 300), seed=4).requests
    slow = simulate(closed_mm1(20, 1.0, 0.2, 300), seed=4).requests
    assert len(slow) < 0.5 * len(fast)
    # With open arrivals beside them, both kinds arrive, ids stay in arrival order, every row passes the invariants.
    d = closed_mm1(5, 1.0, 0.05, 300).model_dump(exclude_none=True)
    d["clients"]["arrival"] = {"poisson": {"rate": 3.0}}
    mixed = simulate(d, seed=4).requests
    assert np.all(np.diff(mixed["start"].to_numpy()) >= 0)
    assert abs(len(mixed) - len(fast) / 20 * 5 * 0.98 - 3.0 * 300) < 400
