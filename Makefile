# The two commands of the README: `make dev` (run the platform locally) and `make test` (the whole suite).
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# apt-get needs root: sudo when not root and sudo exists (else apt-get fails and the install step says why).
SUDO := $(shell [ "$$(id -u)" = 0 ] || command -v sudo)

.PHONY: dev test chromium bench-ingest bench-processing image

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	$(BIN)/stock-platform fetch-jars
	touch $@

# The browser test drives Debian's chromium through Playwright, which never downloads a browser. Only the test
# target needs it, so `make dev` works without root.
chromium:
	@command -v chromium >/dev/null 2>&1 || { $(SUDO) apt-get update -qq && $(SUDO) DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; } \
		|| { echo "make: could not install Debian's chromium (needed by the browser test): run 'apt-get install chromium' as root" >&2; exit 1; }

dev: $(VENV)/.installed
	$(BIN)/stock-platform dev

test: $(VENV)/.installed chromium
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
