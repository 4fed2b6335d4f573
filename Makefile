# `make demo` and `make test` work on a fresh machine with only Python and pip.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# uv from PATH, or installed with pip on first use and run as a module (no PATH changes needed).
ifeq ($(shell command -v uv 2>/dev/null),)
UV := $(PYTHON) -m uv
UV_SETUP := $(PYTHON) -m uv --version >/dev/null 2>&1 || $(PYTHON) -m pip install --quiet --user uv || $(PYTHON) -m pip install --quiet uv
else
UV := uv
UV_SETUP := true
endif

.PHONY: demo test lint typecheck unit lock emulator airflow chromium postgresql redis bench clean

$(STAMP): constraints.txt pyproject.toml
	$(UV_SETUP)
	$(UV) venv --quiet --allow-existing --python $(PYTHON) $(VENV)
	$(UV) pip install --quiet --python $(BIN)/python -c constraints.txt -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/python scripts/demo.py

test: $(STAMP) chromium postgresql redis lint typecheck
	$(BIN)/pytest -q

# Debian's chromium for the browser test; Playwright drives it (its own browser download is not used).
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
chromium:
	@command -v chromium >/dev/null || command -v chromium-browser >/dev/null || { \
		if command -v apt-get >/dev/null; then \
			echo "Installing Debian's chromium for the browser test ..."; \
			$(SUDO) apt-get update -qq && \
			$(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
		else echo "chromium not found and no apt-get here: the browser test will be skipped"; fi; }

# Debian's PostgreSQL server programs for the real-Airflow tests' metadata database (the tests start and stop a
# throw-away server of their own; the package's own service is not used).
postgresql:
	@ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || command -v initdb >/dev/null || [ -n "$$PG_BIN" ] || { \
		if command -v apt-get >/dev/null; then \
			echo "Installing Debian's postgresql for the real-Airflow tests ..."; \
			$(SUDO) apt-get update -qq && \
			$(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null; \
		else echo "PostgreSQL not found and no apt-get here: set PG_BIN to its bin directory"; exit 1; fi; }

# Debian's redis-server for the Celery broker of the real-Airflow tests (they start and stop one of their own; the
# package's own service is not used).
redis:
	@command -v redis-server >/dev/null || [ -x /usr/bin/redis-server ] || { \
		if command -v apt-get >/dev/null; then \
			echo "Installing Debian's redis-server for the real-Airflow tests on Celery ..."; \
			$(SUDO) apt-get update -qq && \
			$(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server >/dev/null; \
		else echo "redis-server not found and no apt-get here: the Celery tests need it"; exit 1; fi; }

lint: $(STAMP)
	$(BIN)/ruff check src tests example_dags scripts benchmarks
	$(BIN)/ruff format --check src tests example_dags scripts benchmarks

typecheck: $(STAMP)
	$(BIN)/mypy

# The trigger against the Databricks and dbt Cloud triggers, and import costs, in the harness and in a real
# Airflow triggerer on PostgreSQL (make postgresql); writes bench-results/ and the results in docs/benchmarks.md.
# BENCH_ARGS="--n 100,1000 --scale 0.5 --triggerer-n 100" for a shorter run, "--mode harness" for the harness only.
bench: $(STAMP) postgresql
	$(BIN)/python -m benchmarks.run --docs $(BENCH_ARGS)

# A full local Airflow (UI, scheduler, triggerer, DAG processor) with the emulators and their connections.
# DB=postgresql: on a throw-away PostgreSQL, with two triggerers. EXECUTOR=celery: on CeleryExecutor (PostgreSQL,
# a throw-away Redis broker, two schedulers, two Celery workers, two triggerers), as the cluster tests run it.
airflow: $(STAMP) $(if $(filter postgresql,$(DB))$(filter celery,$(EXECUTOR)),postgresql) $(if $(filter celery,$(EXECUTOR)),redis)
	$(BIN)/python scripts/local_airflow.py $(if $(DB),--db $(DB)) $(if $(EXECUTOR),--executor $(EXECUTOR))

emulator: $(STAMP)
	$(BIN)/remote-tasks emulator $(or $(PLATFORM),flyte) --port $(or $(PORT),8089)

# Re-pin every dependency (records versions only, no registry address).
lock:
	$(UV_SETUP)
	$(UV) pip compile --quiet --no-emit-index-url --no-emit-find-links --python-version 3.11 \
		--extra dev --extra emulator --extra http2 --extra bench pyproject.toml -o constraints.txt

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .airflow-local
