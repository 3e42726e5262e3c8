# Everything sets itself up: the first target that needs it creates .venv and installs the package with its
# test extras, torch pinned to the local CPU wheel by constraints.txt.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

$(STAMP): pyproject.toml setup.py constraints.txt
	@echo "[1/4] creating the virtual environment $(VENV)"
	$(PYTHON) -m venv $(VENV)
	@echo "[2/4] upgrading pip"
	$(PY) -m pip install --progress-bar off --upgrade pip
	@echo "[3/4] installing torch 2.13.0 (CPU wheel, pinned by constraints.txt)"
	$(PY) -m pip install --progress-bar off -c constraints.txt torch==2.13.0
	@echo "[4/4] installing sb3-spiking and its test extras (SB3, sb3-contrib, SpikingJelly, rl-zoo3, Optuna, ale-py...)"
	$(PY) -m pip install --progress-bar off -c constraints.txt -e ".[test]"
	touch $(STAMP)
	@echo "installed: $(VENV) is ready"

.PHONY: install train test test-fast lint format benchmark
install: $(STAMP)

train: $(STAMP)
	$(PY) -m sb3_spiking.demos.train

test: $(STAMP)
	$(PY) -m pytest -n 2 -q

test-fast: $(STAMP)
	$(PY) -m pytest -n 2 -q -m "not slow"

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: $(STAMP)
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

benchmark: $(STAMP)
	$(PY) scripts/benchmark.py
