# Two entry points for a new machine: `make demo` and `make test`. Both create (or reuse)
# the pinned virtual environment in .venv and a project-local dbt profile in .dbt/.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
RAW ?= data/raw
DEMO_USERS ?= 1500
DEMO_DAYS ?= 30
SEED ?= 42

export DBT_PROFILES_DIR := $(CURDIR)/.dbt
export DO_NOT_TRACK := 1
export DBT_SEND_ANONYMOUS_USAGE_STATS := false

.PHONY: demo test test-suite lint venv profile clean metrics bench

## make demo: sample data -> dbt build on DuckDB -> static dbt docs -> headline numbers and
## the HTML report (target/report/report.html, CSVs in target/report/csv). The sample is
## regenerated in place each time, so the build is a full refresh, not an incremental batch.
demo: venv profile
	$(BIN)/lpa generate --out $(RAW) --users $(DEMO_USERS) --days $(DEMO_DAYS) --seed $(SEED)
	$(BIN)/dbt build --full-refresh --target duckdb --vars '{raw_data_path: $(RAW)}'
	$(BIN)/dbt docs generate --static --target duckdb --vars '{raw_data_path: $(RAW)}'
	$(BIN)/python -m llm_product_analytics.summary --duckdb data/warehouse.duckdb
	$(BIN)/lpa report --target duckdb --duckdb-path data/warehouse.duckdb --out target/report

## make test: lint (ruff, sqlfluff, manifest check) + the whole pytest suite (dbt on DuckDB
## and PostgreSQL). Starts a throwaway PostgreSQL cluster unless PGHOST/PGPORT point at one;
## with CI=true PostgreSQL is mandatory.
test: venv profile
	scripts/with_postgres.sh $(MAKE) --no-print-directory test-suite

test-suite: lint
	scripts/ensure_chromium.sh
	$(BIN)/python -m pytest

lint:
	$(BIN)/ruff check llm_product_analytics tests
	$(BIN)/ruff format --check llm_product_analytics tests
	LPA_DUCKDB_PATH=:memory: $(BIN)/sqlfluff lint models tests --processes 2
	LPA_DUCKDB_PATH=:memory: $(BIN)/dbt parse --target duckdb --quiet --target-path target/manifest_check
	$(BIN)/python -m llm_product_analytics.manifest_check target/manifest_check/manifest.json

venv: $(BIN)/.installed

$(BIN)/.installed: requirements.txt pyproject.toml
	test -d $(VENV) || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -r requirements.txt
	$(BIN)/pip install --quiet --disable-pip-version-check --no-deps -e .
	touch $@

BENCH_TARGET ?= duckdb
EVENTS ?=
## make bench: generate EVENTS raw records (default 10M on DuckDB, 1M on PostgreSQL) over DAYS
## days of history (default 30) and print
## floor, full and +1-day builds, funnel vs self-join and peak memory against the targets;
## writes results/bench/<run>.json and .md. BENCH_TARGET=postgres uses PG* (throwaway cluster here).
## `make test` runs it once at 20,000 records (tests/python/test_bench.py).
bench: venv profile
	$(if $(filter postgres,$(BENCH_TARGET)),scripts/with_postgres.sh )$(BIN)/lpa bench --target $(BENCH_TARGET) $(if $(EVENTS),--events $(EVENTS)) $(if $(DAYS),--days $(DAYS)) --out results/bench

## make metrics: MetricFlow checks and a sample query on the demo warehouse (after make demo).
metrics: venv profile
	$(BIN)/mf validate-configs
	$(BIN)/mf query --metrics active_persons,queries,like_rate --group-by metric_time__day

profile: .dbt/profiles.yml

# Copied once; edit .dbt/profiles.yml freely afterwards (it is git-ignored).
.dbt/profiles.yml:
	mkdir -p .dbt
	cp profiles.example.yml $@

clean:
	rm -rf target logs data/warehouse.duckdb
