# Two commands on a fresh clone: `make demo` and `make test`. Everything installs into .venv.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
export MPLBACKEND := Agg
export PYTHONHASHSEED := 0

.PHONY: demo test validate bench clean venv

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip

# The stamps re-install when pyproject.toml changes.
$(VENV)/.installed: pyproject.toml | $(PY)
	$(PY) -m pip install --quiet -e .
	touch $@

$(VENV)/.installed-test: pyproject.toml | $(PY)
	$(PY) -m pip install --quiet -e ".[dev]"
	touch $@ $(VENV)/.installed

venv: $(VENV)/.installed

demo: $(VENV)/.installed  ## run the default scenario: comparison table, CSVs and charts in out/
	$(VENV)/bin/resilsim run scenarios/analytics-aurora-scale-up.yaml --out out

test: $(VENV)/.installed-test  ## every test, notebooks and fast validation checks included
	$(PY) -m pytest -q

validate: $(VENV)/.installed-test  ## the long validation checks (more samples)
	$(PY) -m pytest -q -m validation --validation-long

bench: $(VENV)/.installed-test  ## benchmarks against the plain SimPy baseline; figures go to benchmarks/RESULTS.md
	$(PY) benchmarks/run.py

clean:
	rm -rf $(VENV) out .pytest_cache build *.egg-info
