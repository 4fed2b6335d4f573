# `make demo` and `make test` work on a fresh machine with only Python and pip.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
UV := $(shell command -v uv 2>/dev/null || echo $(HOME)/.local/bin/uv)
STAMP := $(VENV)/.installed

.PHONY: demo test lint typecheck unit lock emulator clean

$(UV):
	$(PYTHON) -m pip install --user --quiet uv

$(STAMP): constraints.txt pyproject.toml | $(UV)
	$(UV) venv --quiet --allow-existing --python $(PYTHON) $(VENV)
	$(UV) pip install --quiet --python $(BIN)/python -c constraints.txt -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/python scripts/demo.py

test: $(STAMP) lint typecheck
	$(BIN)/pytest -q

lint: $(STAMP)
	$(BIN)/ruff check src tests example_dags scripts
	$(BIN)/ruff format --check src tests example_dags scripts

typecheck: $(STAMP)
	$(BIN)/mypy

emulator: $(STAMP)
	$(BIN)/remote-tasks emulator flyte --port 8089

# Re-pin every dependency (records versions only, no registry address).
lock: | $(UV)
	$(UV) pip compile --quiet --no-emit-index-url --no-emit-find-links --python-version 3.11 \
		--extra dev --extra emulator pyproject.toml -o constraints.txt

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
