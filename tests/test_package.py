"""What the package exports at its top level, for a notebook's first `import resilsim`."""
import re
from pathlib import Path

import resilsim


def test_load_catalog_is_exported():
    assert "load_catalog" in resilsim.__all__
    code = resilsim.load_catalog("analytics")["ANALYTICS_1900"]
    assert code.advice == "retry"


def test_version_is_the_packages():
    pyproject = (Path(__file__).resolve().parents[1] / "pyproject.toml").read_text()
    assert re.search(r'^version = "([^"]+)"', pyproject, re.M).group(1) == resilsim.__version__
