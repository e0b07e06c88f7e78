# Feeding Hearts ML — every command a user or CI needs. `make help` lists them.
SHELL := /bin/bash
PYTHON ?= python3.11
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
STAMP := $(VENV)/.installed

PG_URL ?= postgres://postgres:postgres@127.0.0.1:5432
TEST_REDIS_BROKER_DB ?= 14
TEST_REDIS_CACHE_DB ?= 15
PYTEST_ARGS ?=
PORT ?= 8000

TEST_ENV := DATABASE_URL=$(PG_URL)/feeding_hearts \
	ML_DATABASE_URL=$(PG_URL)/feeding_hearts_ml \
	CELERY_BROKER_URL=redis://127.0.0.1:6379/$(TEST_REDIS_BROKER_DB) \
	REDIS_URL=redis://127.0.0.1:6379/$(TEST_REDIS_CACHE_DB) \
	FH_LOG_DIR=$(CURDIR)/var/test-logs \
	FH_TEST_DB_SUFFIX=$(FH_TEST_DB_SUFFIX)

PG_ENV := DATABASE_URL=$(PG_URL)/feeding_hearts \
	ML_DATABASE_URL=$(PG_URL)/feeding_hearts_ml \
	CELERY_BROKER_URL=redis://127.0.0.1:6379/0 \
	REDIS_URL=redis://127.0.0.1:6379/1

.PHONY: help venv services test clock-sweep test-unit lint format run migrate demo demo-reset bench \
	loadtest evaluate worker beat serve clean

help:
	@grep -E '^[a-z-]+:.*## ' Makefile | sed 's/:.*## /\t/' | sort

$(STAMP): requirements.txt requirements-dev.txt
	@test -x $(PY) || { echo "[venv] creating $(VENV) with $(PYTHON)"; $(PYTHON) -m venv $(VENV); }
	@echo "[venv] installing requirements (first time: several minutes, ~2 GB)…"
	@$(PIP) install --upgrade --quiet pip
	@$(PIP) install --progress-bar on -r requirements-dev.txt
	@touch $(STAMP)

venv: $(STAMP) ## create the virtualenv and install the requirements (skips what is there)

services: ## make sure PostgreSQL and Redis are running (installs them as root when missing)
	@scripts/ensure_services.sh

test: venv services ## run the whole test suite on PostgreSQL + Redis (CI runs this)
	@scripts/ensure_chromium.sh
	@mkdir -p var/test-logs
	$(TEST_ENV) $(PY) -m pytest $(PYTEST_ARGS)

clock-sweep: venv services ## the tests at several UTC moments of the week (CLOCKS="Sun 23:58,Mon 00:05"; ~10 min each)
	@mkdir -p var/test-logs
	$(TEST_ENV) PY=$(PY) PYTEST_ARGS="$(PYTEST_ARGS)" scripts/clock_sweep.sh

test-unit: venv ## engine unit tests only (no database)
	$(PY) -m pytest tests/unit $(PYTEST_ARGS)

lint: venv ## ruff lint and format check, mypy on the engines and services
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

format: venv ## ruff format and autofix
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

migrate: venv ## migrate both databases (embedded SQLite unless DATABASE_URL etc. are set)
	$(PY) manage.py migrate --noinput
	$(PY) manage.py migrate --database=ml_prediction --noinput

run: migrate ## start the development server on the embedded default (PORT=8000)
	@# --insecure: runserver serves the dashboard's CSS/JS and the API docs' assets with
	@# DEBUG off too (production: collectstatic behind the proxy, docs/OPERATIONS.md)
	$(PY) manage.py runserver --insecure 127.0.0.1:$(PORT)

serve: migrate ## production server: gunicorn with 2 workers
	$(VENV)/bin/gunicorn feeding_hearts.wsgi -c gunicorn.conf.py

worker: venv ## a Celery worker for the analysis, training and alerts queues
	$(VENV)/bin/celery -A feeding_hearts worker -Q analysis,training,alerts --loglevel=info

beat: venv ## Celery beat (the guide's schedule)
	$(VENV)/bin/celery -A feeding_hearts beat --loglevel=info

demo: venv ## the quick start: seed 30 days for 7 services, train, analyse, serve (PORT=8000)
	$(PY) manage.py demo --port $(PORT)

demo-reset: venv ## forget the demo data and start over
	$(PY) manage.py demo --reset --no-serve

bench: venv services ## run the benchmarks (results: docs/BENCHMARKS.md); BENCH="ingest api" for some
	scripts/ensure_wrk.sh
	$(PG_ENV) $(PY) benchmarks/run_all.py $(BENCH)

loadtest: venv services ## load test, 50 clients × 60 s: acked == stored == rollups (docs/benchmarks/loadtest.md); LOADTEST_ARGS="--seconds 10"
	$(PG_ENV) $(PY) benchmarks/loadtest.py $(LOADTEST_ARGS)

evaluate: venv ## evaluate the engines on ../shared/datasets (writes docs/EVALUATION.md)
	$(PY) manage.py evaluate all --split-check --product-form

clean: ## remove local databases, logs and artifacts (keeps the virtualenv)
	rm -rf var logs
