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

# The PostgreSQL server binaries of the multi-worker tuning tests: Debian's package, as root, only when pg_ctl is missing
postgres:
	@command -v pg_ctl >/dev/null 2>&1 || ls /usr/lib/postgresql/*/bin/pg_ctl >/dev/null 2>&1 || \
	{ [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1 && echo "Installing PostgreSQL (apt-get)" && \
	  DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null && \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null; } || \
	echo "PostgreSQL binaries missing and not installable here (not root or no apt-get): its tests will say so"

.PHONY: install postgres train test test-fast lint format benchmark docs
install: $(STAMP) postgres

train: $(STAMP)
	$(PY) -m sb3_spiking.demos.train

test: $(STAMP) postgres
	$(PY) -m pytest -n 2 -q

test-fast: $(STAMP) postgres
	$(PY) -m pytest -n 2 -q -m "not slow"

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: $(STAMP)
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

benchmark: $(STAMP)
	$(PY) scripts/benchmark.py

# The documentation site, warnings as errors (every cross-reference must resolve): docs/_build/html/index.html
docs: $(STAMP)
	$(PY) -m sphinx -b html -n -W --keep-going docs docs/_build/html
