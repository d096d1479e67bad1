# The two commands of the README: `make dev` (run the platform locally) and `make test` (the whole suite).
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: dev test bench-ingest bench-processing image

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	$(BIN)/stock-platform fetch-jars
	touch $@

dev: $(VENV)/.installed
	$(BIN)/stock-platform dev

test: $(VENV)/.installed
	$(BIN)/pytest

bench-ingest: $(VENV)/.installed
	$(BIN)/stock-platform bench-ingest

bench-processing: $(VENV)/.installed
	$(BIN)/stock-platform bench-processing

# The deployment image (needs a Docker engine; see README "Deploy to Kubernetes").
IMAGE ?= stock-platform
VERSION = $(shell $(PYTHON) -c "import tomllib; print(tomllib.load(open('pyproject.toml', 'rb'))['project']['version'])")

image:
	docker build -t $(IMAGE):$(VERSION) .
