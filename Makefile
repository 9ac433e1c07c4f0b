# Two entry points for a fresh machine: `make run` (set up, then the Drell–Yan workflow) and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: setup run test lint benchmark clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet --editable '.[dev]'
	touch $@

setup: $(STAMP)

run: setup
	$(BIN)/madagents run workflows/drell_yan.yaml

lint: setup
	$(BIN)/ruff check madagents tools tests benchmarks
	$(BIN)/ruff format --check madagents tools tests benchmarks
	$(BIN)/mypy

test: lint
	$(BIN)/pytest

benchmark: setup
	$(BIN)/python benchmarks/overhead.py

clean:
	rm -rf $(VENV) runs
