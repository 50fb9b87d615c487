# Tessera: the two commands a new user needs are `make run` and `make test`.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
CUSTOMERS ?= 10000
SEED ?= 42

export DBT_SEND_ANONYMOUS_USAGE_STATS := false
export DAGSTER_HOME := $(CURDIR)/.dagster

.PHONY: install run test lint type-check sql-lint dev clean spark-install spark-up spark-down

# Re-installs only when the pins or the package metadata change.
$(STAMP): requirements.lock pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Tessera needs Python >= 3.11")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements.lock
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation -e .
	@touch $(STAMP)

install: $(STAMP)

## make run: set up, generate the demo data, run the whole Dagster job on DuckDB, print a summary (tessera demo).
run: install
	$(BIN)/tessera demo --customers $(CUSTOMERS) --seed $(SEED)

## make test: lint, type-check and every test (dbt on DuckDB and on Postgres, Dagster, end to end).
test: install lint
	$(BIN)/python -m pytest -q --durations=15

# mypy runs on one core: sqlfluff's templating runs beside it (make -j2), so the two end sooner.
lint: install
	$(BIN)/ruff check orchestration tests tools
	$(BIN)/ruff format --check orchestration tests tools
	$(MAKE) --no-print-directory -j2 type-check sql-lint

type-check: install
	$(BIN)/mypy

## make sql-lint: sqlfluff (dbt templater, .sqlfluff) over models/; fails above the budget in tools/sql_lint_budget.py.
# The audiences and the trait registry reach dbt as vars (orchestration/audiences/definitions.py).
# The templater compiles against a scratch DuckDB file, never the build or published one.
sql-lint: install
	@mkdir -p target
	$(BIN)/tessera audiences vars --format sqlfluff > target/sqlfluff-analyst.cfg
	TESSERA_TARGET=duckdb TESSERA_BUILD_DB=$(CURDIR)/target/sqlfluff.duckdb \
		$(BIN)/sqlfluff lint models --config target/sqlfluff-analyst.cfg --processes 2 --format json --nofail > target/sqlfluff.json
	$(BIN)/python tools/sql_lint_budget.py target/sqlfluff.json

## make dev: the Dagster UI on http://127.0.0.1:3000
dev: install
	$(BIN)/tessera dev

## make spark-install: the optional Spark target (docs/spark.md): dbt-spark + pyspark, pinned in requirements.lock.
SPARK_STAMP := $(VENV)/.spark-installed
$(SPARK_STAMP): $(STAMP) requirements.lock
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -c requirements.lock \
		$$(awk '/^# The `spark` extra/ {on = 1; next} on && /^# [A-Za-z0-9_.-]+==/ {print $$2}' requirements.lock)
	@touch $(SPARK_STAMP)

spark-install: $(SPARK_STAMP)

## make spark-up / spark-down: a local Spark standalone master, two workers and a Thrift server on 127.0.0.1
## (state under warehouse/spark/); the `spark` target of profiles.yml builds on it.
spark-up: spark-install
	$(BIN)/python tools/spark_cluster.py up

spark-down:
	$(BIN)/python tools/spark_cluster.py down

clean:
	rm -rf warehouse target logs .dagster/storage .dagster/history .dagster/logs .dagster/schedules
