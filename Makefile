# The two commands of the README: `make dev` (run the platform locally) and `make test` (the whole suite).
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: dev test bench-ingest bench-processing

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	touch $@

dev: $(VENV)/.installed
	$(BIN)/stock-platform dev

test: $(VENV)/.installed
	$(BIN)/pytest

bench-ingest: $(VENV)/.installed
	$(BIN)/stock-platform bench-ingest

bench-processing: $(VENV)/.installed
	$(BIN)/stock-platform bench-processing
