"""``resilsim fit``: the shipped synthetic log's known figures come back, and the fragment runs."""
import math
from pathlib import Path

import numpy as np
import pytest
import yaml
from scipy import stats

from resilsim import load_scenario, simulate
from resilsim.cli import main
from resilsim.fit import fit_latency, fit_log, ks_distance

ROOT = Path(__file__).resolve().parent.parent
LOG = ROOT / "scenarios" / "data" / "synthetic-access-log.csv"


def test_the_shipped_log_is_what_its_seeded_script_makes(tmp_path):
    import importlib.util
    spec = importlib.util.spec_from_file_location("make_log", ROOT / "scenarios" / "data" / "make_synthetic_log.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    mod.main(tmp_path / "log.csv")
    assert (tmp_path / "log.csv").read_bytes() == LOG.read_bytes()


def test_fit_finds_the_logs_known_figures():
    fit = fit_log(LOG, bin_s=60)
    n = fit.requests
    # Latency: log-normal, median 80 ms, σ 0.5; the MLE's standard errors are σ/√n (log median) and σ/√(2n).
    assert fit.best.name == "lognormal"
    p = fit.best.params
    assert abs(math.log(p["median"] / 0.08)) < 4 * 0.5 / math.sqrt(n)
    assert abs(p["sigma"] - 0.5) < 4 * 0.5 / math.sqrt(2 * n)
    # Background errors: 1% and 0.5% of requests (binomial).
    for code, rate in (("ANALYTICS_2000", 0.01), ("ANALYTICS_1900", 0.005)):
        assert abs(fit.by_code[code] - rate) < 4 * math.sqrt(rate * (1 - rate) / n)
    # The curve: each 60 s bin's rate against the true rate averaged over the bin (Poisson counts).
    t = fit.curve_t
    true = 5.0 + 3.0 * (np.cos(2 * np.pi * t / 600) - np.cos(2 * np.pi * (t + 60) / 600)) * 600 / (2 * np.pi * 60)
    z = (fit.curve_rps[:-1] - true[:-1]) / np.sqrt(true[:-1] / 60)
    assert np.abs(z).max() < 4.5


def test_ks_distances_and_the_weibull_fit_agree_with_scipy():
    x = np.random.default_rng(0).weibull(1.7, 3000) * 0.2
    fits = {f.name: f for f in fit_latency(x)}
    w = fits["weibull"]
    k, _, lam = stats.weibull_min.fit(x, floc=0)
    assert w.params["shape"] == pytest.approx(k, rel=1e-3) and w.params["scale"] == pytest.approx(lam, rel=1e-3)
    d = stats.kstest(x, stats.weibull_min(w.params["shape"], scale=w.params["scale"]).cdf).statistic
    assert w.ks == pytest.approx(d, abs=1e-5)
    assert ks_distance(x, stats.expon(scale=x.mean()).cdf) == pytest.approx(fits["exponential"].ks, abs=1e-5)


def test_the_printed_fragment_is_a_scenario_that_runs(tmp_path, capsys):
    curve = tmp_path / "curve.csv"
    assert main(["fit", str(LOG), "--curve-out", str(curve), "--operation", "query_metrics"]) == 0
    fragment = yaml.safe_load(capsys.readouterr().out)
    d = {"name": "fitted", "api": "analytics", **fragment, "strategies": {"none": {"retry": "none"}}}
    d["service"]["workers"] = 64
    s = load_scenario(d)
    r = simulate(s, seed=1)
    assert abs(len(r.requests) - 5901) < 4 * math.sqrt(5901)
    errors = r.attempts["code"].astype(str).value_counts()
    assert abs(errors.get("ANALYTICS_2000", 0) / len(r.attempts) - 0.011) < 0.005
