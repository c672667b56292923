# Two set-up commands: `make demo` and `make test`. Everything else is a helper.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test lint typecheck pytest services bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(STAMP)

## make demo: the whole product on embedded defaults (no broker, no database server).
demo: $(STAMP)
	$(BIN)/hub demo

## make test: lint, type-check, then the whole suite against real services.
test: $(STAMP) services lint typecheck pytest

services:
	bash scripts/ensure-services.sh

lint: $(STAMP)
	$(BIN)/ruff check hub adapters simulators tests bench
	$(BIN)/lint-imports

typecheck: $(STAMP)
	$(BIN)/mypy

pytest: $(STAMP)
	$(BIN)/python -m pytest -p no:cacheprovider $(PYTEST_ARGS)

## make bench: benchmarks, one JSON object per line (bench/README.md).
bench: $(STAMP) services
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
