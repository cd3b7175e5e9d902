# nc3d — two commands on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
PIP    := $(VENV)/bin/pip
STAMP  := $(VENV)/.installed

.PHONY: install demo test test-slow test-all lint format clean

install: $(STAMP)

# torch first, pinned to the local CPU build, so resolving the package never pulls CUDA wheels.
$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --disable-pip-version-check "torch==2.13.0"
	$(PIP) install --quiet --disable-pip-version-check -e ".[dev,baselines,plot,hdf5,volumes,zarr]"
	touch $(STAMP)

demo: install
	$(VENV)/bin/nc3d demo -o demo-out --force

# the default run (slow tests excluded: see pyproject.toml's pytest markers)
test: install
	$(PY) -m pytest

# only the tests marked slow (kill/Ctrl-C storms, training that learns: about a minute)
test-slow: install
	$(PY) -m pytest -m slow

test-all: install
	$(PY) -m pytest -m "slow or not slow"

# lint (ruff), formatting (ruff format) and types (mypy); configured in pyproject.toml
lint: install
	$(VENV)/bin/ruff check src tests benchmarks
	$(VENV)/bin/ruff format --check src tests benchmarks
	$(VENV)/bin/mypy

format: install
	$(VENV)/bin/ruff format src tests benchmarks
	$(VENV)/bin/ruff check --fix src tests benchmarks

clean:
	rm -rf $(VENV) demo-out .pytest_cache .hypothesis .mypy_cache .ruff_cache
