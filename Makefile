# Two commands on a fresh clone: `make demo` and `make test` (and `make lab` for the notebooks). Everything installs
# into .venv.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
export MPLBACKEND := Agg
export PYTHONHASHSEED := 0

.PHONY: demo test validate bench clean venv report-check lab

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

$(VENV)/.installed-lab: pyproject.toml | $(PY)
	$(PY) -m pip install --quiet -e ".[notebooks]"
	touch $@ $(VENV)/.installed

venv: $(VENV)/.installed

demo: $(VENV)/.installed  ## run the default scenario: comparison table, CSVs and charts in out/
	$(VENV)/bin/resilsim run scenarios/analytics-aurora-scale-up.yaml --out out

# The kernel must choose its own inline backend: without MPLBACKEND (Agg above), charts show in the notebook.
lab: $(VENV)/.installed-lab  ## open the tutorial notebooks in JupyterLab (installed into .venv on first use)
	env -u MPLBACKEND $(VENV)/bin/jupyter lab notebooks/

test: $(VENV)/.installed-test  ## every test, notebooks and fast validation checks included
	$(PY) -m pytest -q

validate: $(VENV)/.installed-test  ## the long validation checks (more samples)
	$(PY) -m pytest -q -m validation --validation-long

bench: $(VENV)/.installed-test  ## benchmarks against the plain SimPy baseline; figures go to benchmarks/RESULTS.md
	$(PY) benchmarks/run.py

# Needs Chromium (Debian package `chromium`); look at the PNGs it writes.
REPORT_CHECK := out/report-check
report-check: $(VENV)/.installed  ## run + sweep + plan reports rendered by headless Chromium to PNG in out/report-check/
	$(VENV)/bin/resilsim run scenarios/metastable-retry-storm.yaml --out $(REPORT_CHECK)/run --no-charts
	$(VENV)/bin/resilsim sweep scenarios/metastable-retry-storm.yaml --grid service.workers=1,2,3 \
		--replications 3 --out $(REPORT_CHECK)/sweep --no-progress
	$(VENV)/bin/resilsim plan scenarios/metastable-retry-storm.yaml --vary service.workers --over 1,4 \
		--slo "success_rate>=0.9" --replications 3 --out $(REPORT_CHECK)/sweep
	$(PY) tools/screenshot_report.py $(REPORT_CHECK)/run -o $(REPORT_CHECK)/run-report.png
	$(PY) tools/screenshot_report.py $(REPORT_CHECK)/sweep -o $(REPORT_CHECK)/sweep-report.png

clean:
	rm -rf $(VENV) out .pytest_cache build *.egg-info
