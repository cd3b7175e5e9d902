# nc3d — two commands on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
PIP    := $(VENV)/bin/pip
STAMP  := $(VENV)/.installed

.PHONY: install demo test test-all clean

install: $(STAMP)

# torch first, pinned to the local CPU build, so resolving the package never pulls CUDA wheels.
$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --disable-pip-version-check "torch==2.13.0"
	$(PIP) install --quiet --disable-pip-version-check -e ".[dev,baselines,plot,hdf5,volumes]"
	touch $(STAMP)

demo: install
	$(VENV)/bin/nc3d demo -o demo-out --force

test: install
	$(PY) -m pytest

test-all: install
	$(PY) -m pytest -m "slow or not slow"

clean:
	rm -rf $(VENV) demo-out .pytest_cache .hypothesis
