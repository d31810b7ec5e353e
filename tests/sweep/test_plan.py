"""Capacity planning finds the answer queueing theory gives (M/M/c, no faults)."""
import pytest

from resilsim.errors import UsageError
from resilsim import aggregate, sweep
from resilsim.sweep.plan import _headline, _meets, _note, _runs, parse_slo, plan

from ..conftest import small


def mmc(**over):
    # λ = 50/s, mean service 0.1 s: 5 erlangs, so c <= 5 is unstable (the queue grows without bound)
    # and c = 6 has p99 response ≈ 0.6 s by Erlang C (P(W > t) = C·e^{-(cμ-λ)t}, C ≈ 0.59).
    d = {"duration": 120, "warmup": 10, "service": {"workers": 8, "operations": {
        "query_metrics": {"latency": {"exponential": {"mean": 0.1}}}}}}
    d.update(over)
    return small(**d)


def test_plan_finds_least_stable_worker_count():
    p = plan(mmc(), vary="service.workers", over=(1, 16), slo={"p99_s": "<=1.5"}, replications=3,
             executor="inprocess")
    assert p.answers == {"none": 6}
    # The evidence holds every value tried, bracketing the answer.
    tried = set(p.evidence["service.workers"])
    assert {5, 6} <= tried and 16 in tried
    assert p.evidence.set_index("service.workers").loc[5, "meets"] == False  # noqa: E712
    assert "<table" in p._repr_html_()


def test_plan_max_load():
    # 8 workers, mean service 0.1 s: stable below 80/s; the largest rate with p99 <= 1.5 s sits below that.
    p = plan(mmc(), vary="clients.arrival.poisson.rate", over=(10, 120), slo=["p99_s<=1.5"], replications=2,
             direction="max", executor="inprocess")
    assert 55 <= p.answers["none"] < 80


def test_headline_runs_and_notes_read_off_the_tried_values():
    values = [1, 2, 3, 4, 5, 6]
    meets = [False, True, False, False, True, True]
    assert _runs(values, meets) == [(2, 2), (5, 6)]
    assert _headline(values, meets, "min") == 5
    assert _headline(values, meets, "max") is None
    assert "also meets the SLO at 2" in _note(_runs(values, meets), 5, "min")
    assert _headline(values, [True] * 6, "min") == 1 and _note([(1, 6)], 1, "min") == ""
    assert _headline(values, [True, True, False, True, False, False], "max") == 2


def test_slo_parsing():
    assert parse_slo(["success_rate>=0.999", "p99_s<=2"]) == {"success_rate": (">=", 0.999), "p99_s": ("<=", 2.0)}
    with pytest.raises(UsageError):
        parse_slo(["p99 is small"])


def rise_then_fall(**over):
    """Success rises, then falls, with the attempt timeout.

    Attempts take 0.1 s, or 10 s with probability 0.1; the request deadline is
    3 s and timed-out attempts are retried. A timeout under 0.1 s fails every
    attempt; a timeout of about 0.2–1 s cuts the slow ones short and retries
    them (success ≈ 1 − 0.1⁵); a timeout near the deadline waits for the slow
    attempt until the deadline (success ≈ 0.9).
    """
    d = {"duration": 60, "service": {"workers": 64, "operations": {"query_metrics": {
            "latency": {"mixture": {"value": 0.1, "slow": 10, "p_slow": 0.1}}}}},
         "clients": {"arrival": {"poisson": {"rate": 20}}, "timeout": 1.0, "deadline": 3.0},
         "strategies": {"retry": {"retry": {"wait": {"fixed": 0.05}, "stop": {"attempts": 5}}}}}
    d.update(over)
    return small(**d)


def test_plan_agrees_with_a_full_sweep_when_the_metric_is_not_monotone():
    slo = {"success_rate": ">=0.95"}
    p = plan(rise_then_fall(), vary="clients.timeout", over=(0.05, 3.0), slo=slo, replications=2, seed=3,
             executor="inprocess")
    # The top of the range fails (slow attempts run into the deadline): no least timeout from which all pass.
    assert p.answers == {"retry": None}
    (lo, hi), = p.intervals["retry"]
    assert 0.1 < lo < hi < 3.0
    assert "not monotone" in p.notes["retry"]
    assert p.best["retry"]["success_rate"][0] > 0.95
    # The same values in one full sweep on the same seeds give the same verdicts.
    tried = sorted(p.evidence["clients.timeout"].unique())
    full = aggregate(sweep(rise_then_fall(), {"clients.timeout": tried}, replications=2, seed=3,
                           executor="inprocess", progress=False, common_seeds=True))
    verdicts = [_meets(r, parse_slo(slo)) for r in full.sort_values("clients.timeout").to_dict("records")]
    assert verdicts == p.evidence.sort_values("clients.timeout")["meets"].tolist()
    # "max" reads the same evidence from the other end: the largest timeout up to which all pass is None too
    # (the smallest timeouts fail), and the report names the passing interval instead.
    assert _headline(tried, verdicts, "max") is None


def test_cli_plan(tmp_path, capsys):
    import yaml
    from resilsim.cli import main
    sc = tmp_path / "mmc.yaml"
    sc.write_text(yaml.safe_dump(mmc(duration=60)))
    assert main(["plan", str(sc), "--vary", "service.workers", "--over", "4,8", "--slo", "p99_s<=1.5",
                 "--replications", "2", "--workers", "1"]) == 0
    assert "none: 6" in capsys.readouterr().out
    assert main(["plan", str(sc), "--vary", "service.workers", "--over", "4", "--slo", "p99_s<=1.5"]) == 2


def test_plan_adds_replications_until_the_interval_is_narrow_enough():
    # p99 of an M/M/c queue near its capacity varies from run to run: 2 replications leave a wide interval.
    p = plan(mmc(duration=60), vary="service.workers", over=(6, 8), slo={"p99_s": "<=1.5"}, replications=2,
             executor="inprocess", precision={"p99_s": 0.02}, max_replications=8)
    n = p.evidence.set_index("service.workers")["n"]
    assert n.max() > 2 and n.max() <= 8
    half = (p.evidence["p99_s_ci_high"] - p.evidence["p99_s_ci_low"]) / 2
    # Every value either met the target or used every replication allowed.
    assert ((half <= 0.02) | (p.evidence["n"] == 8)).all()
    assert len(p.runs) == n.sum()  # one row per run of the one strategy


@pytest.mark.parametrize("precision,msg", [({"p999_s": 0.1}, "precision for an unknown metric 'p999_s'"),
                                           ({"p99_s": 0}, "precision for p99_s must be a positive half-width")])
def test_plan_refuses_bad_precision(precision, msg):
    with pytest.raises(UsageError, match=msg):
        plan(mmc(), over=(1, 2), slo={"p99_s": "<=1"}, replications=2, executor="inprocess", precision=precision)


def test_plan_says_where_only_the_interval_fails_the_slo():
    # Two replications of 40 s: p99 means of 0.48-0.49 s at 7-10 workers meet p99 <= 0.5, their 95% upper
    # bounds (0.52-0.58) do not. The answer stays None (the pessimistic bound decides) and the note says why.
    p = plan(mmc(duration=40), vary="service.workers", over=(6, 10), slo={"p99_s": "<=0.5"}, replications=2,
             executor="inprocess")
    assert p.answers == {"none": None}
    assert p.notes["none"].startswith("at 7, 8, 9, 10 the mean meets the SLO but its 95% interval does not")
    assert "note: at 7, 8, 9, 10" in str(p)
    # Where no mean meets it either, nothing is said.
    p = plan(mmc(duration=40), vary="service.workers", over=(6, 10), slo={"p99_s": "<=0.45"}, replications=2,
             executor="inprocess")
    assert p.notes["none"] == ""
