import os
from pathlib import Path

import pytest
import yaml

os.environ.setdefault("MPLBACKEND", "Agg")


def pytest_addoption(parser):
    parser.addoption("--validation-long", action="store_true", default=False,
                     help="run the validation checks with their long sample sizes")


@pytest.fixture
def long_validation(request):
    return request.config.getoption("--validation-long")


def small(**over):
    """A small analytics scenario dict for tests; keyword overrides replace top-level keys."""
    d = {
        "name": "small",
        "api": "analytics",
        "duration": 60,
        "service": {"workers": 8, "operations": {"query_metrics": {"latency": {"exponential": {"mean": 0.05}}}}},
        "clients": {"arrival": {"poisson": {"rate": 50}}},
        "strategies": {"none": {"retry": "none"}},
    }
    d.update(over)
    return d


def bench(name: str, duration: float, drain: float = 60.0) -> dict:
    """benchmarks/NAME (a benchmark workload) squeezed into ``duration`` seconds: its incidents keep their
    place (start and length scale with the run), then ``drain`` seconds for retries to finish."""
    data = yaml.safe_load((Path(__file__).resolve().parent.parent / "benchmarks" / name).read_text())
    scale = duration / data["duration"]
    for inc in data.get("faults", {}).get("incidents", []):
        inc["start"], inc["duration"] = inc["start"] * scale, inc["duration"] * scale
    data["duration"], data["drain"] = duration, drain
    return data


#: Every shipped scenario file.
SCENARIOS = sorted((Path(__file__).resolve().parents[1] / "scenarios").glob("*.yaml"))


def shortened(path: Path, short: float = 60.0) -> dict:
    """The scenario at ``path`` squeezed into ``short`` simulated seconds: its incidents, rate changes and
    warm-up scaled alike, its drain cut to at most 30 s."""
    d = yaml.safe_load(path.read_text())
    f = short / d["duration"]
    spans = d.get("faults", {}).get("incidents", []) + d["clients"]["arrival"]["poisson"].get("changes", [])
    for span in spans:
        span["start"] *= f
        if "duration" in span:
            span["duration"] *= f
        for k in ("up", "down"):
            if k in (span.get("ramp") or {}):
                span["ramp"][k] *= f
    d["duration"], d["warmup"], d["drain"] = short, d.get("warmup", 0) * f, min(d.get("drain", 600), 30.0)
    return d


def wait_within(fn, seconds: float = 60):
    """fn()'s exception, or AssertionError if it has not returned within ``seconds`` (a hang made a failure)."""
    import threading

    box = {}

    def target():
        try:
            fn()
        except BaseException as e:  # noqa: BLE001 - handed to the test
            box["error"] = e

    t = threading.Thread(target=target, daemon=True)
    t.start()
    t.join(seconds)
    assert not t.is_alive(), f"still waiting after {seconds} s: a hang"
    return box.get("error")
