import os

import pytest

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
