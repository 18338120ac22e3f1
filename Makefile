# artrec: `make demo` runs the end-to-end demo, `make test` runs every check CI runs.
# Both build the virtual environment .venv themselves on first use.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.artrec-installed

# The public-art dataset: $ARTREC_DATA_HOME when set, else a checkout's sibling datasets
# folder when it has one; otherwise artrec looks in the user cache or downloads it.
ifeq ($(origin ARTREC_DATA_HOME), undefined)
ifneq ($(wildcard ../shared/datasets/public-art/data.json),)
export ARTREC_DATA_HOME := $(abspath ../shared/datasets)
endif
endif

.PHONY: demo test lint typecheck pytest services bench clean-venv

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[all]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/artrec demo

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks
	$(BIN)/lint-imports --no-logo --no-cache

typecheck: $(STAMP)
	$(BIN)/mypy

# Debian's chromium (browser test) and a PostgreSQL server on 127.0.0.1 (store tests).
# Needs root (apt-get); otherwise those tests are skipped and say why.
services:
	@if [ "$$(id -u)" = 0 ]; then bash scripts/ci-services.sh > .services.env; \
	else echo "services: not root, skipping chromium/PostgreSQL set-up" >&2; : > .services.env; fi

pytest: $(STAMP) services
	. ./.services.env && $(BIN)/python -m pytest

test: lint typecheck pytest

clean-venv:
	rm -rf $(VENV)
