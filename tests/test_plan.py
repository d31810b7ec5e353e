"""Capacity planning finds the answer queueing theory gives (M/M/c, no faults)."""
import pytest

from resilsim.errors import ScenarioError
from resilsim.plan import _bisect, parse_slo, plan

from .conftest import small


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


def test_bisect_and_slo_parsing():
    assert _bisect(lambda v: v >= 37, 1, 100, True, 1, "min") == 37
    assert _bisect(lambda v: v <= 0.3, 0.0, 1.0, False, 1e-3, "max") == pytest.approx(0.3, abs=1e-3)
    assert _bisect(lambda v: False, 1, 10, True, 1, "min") is None
    assert parse_slo(["success_rate>=0.999", "p99_s<=2"]) == {"success_rate": (">=", 0.999), "p99_s": ("<=", 2.0)}
    with pytest.raises(ScenarioError):
        parse_slo(["p99 is small"])


def test_cli_plan(tmp_path, capsys):
    import yaml
    from resilsim.cli import main
    sc = tmp_path / "mmc.yaml"
    sc.write_text(yaml.safe_dump(mmc(duration=60)))
    assert main(["plan", str(sc), "--vary", "service.workers", "--over", "4,8", "--slo", "p99_s<=1.5",
                 "--replications", "2", "--workers", "1"]) == 0
    assert "none: 6" in capsys.readouterr().out
    assert main(["plan", str(sc), "--vary", "service.workers", "--over", "4", "--slo", "p99_s<=1.5"]) == 2
