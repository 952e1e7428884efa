# daybook: two commands on a fresh machine with only python3.
#   make demo   set up, run a realistic business day through the real DAGs, print the summary
#   make test   set up, run the whole test suite
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.daybook-installed
export DAYBOOK_HOME ?= $(CURDIR)/var
export AIRFLOW_HOME ?= $(DAYBOOK_HOME)/airflow
export AIRFLOW__CORE__DAGS_FOLDER ?= $(CURDIR)/dags
export AIRFLOW__CORE__PLUGINS_FOLDER ?= $(CURDIR)/plugins
export AIRFLOW__CORE__LOAD_EXAMPLES ?= False
export AIRFLOW__CORE__PARALLELISM ?= 4
export AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION ?= False
export AIRFLOW__DATABASE__SQL_ALCHEMY_CONN ?= sqlite:///$(AIRFLOW_HOME)/airflow.db
PYTEST_ARGS ?=

.PHONY: help venv init demo test stack-test up lint format lock clean

help:
	@echo "make demo   - set up and run a realistic business day (SQLite, local folders)"
	@echo "make test   - set up and run the whole test suite"
	@echo "make up     - Airflow UI on http://127.0.0.1:8080 (user admin; password printed, kept in var/airflow/passwords.json)"
	@echo "make browser-test - the approval and KPI pages in the Airflow UI with a real Chromium"
	@echo "make stack-test - the production topology as processes (PostgreSQL, Redis, S3, Celery)"
	@echo "make lint   - ruff and sqlfluff"

$(STAMP): requirements.lock pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip uv
	$(BIN)/uv pip install --quiet --compile-bytecode -p $(BIN)/python -r requirements.lock
	$(BIN)/uv pip install --quiet -p $(BIN)/python --no-deps -e .
	touch $(STAMP)

venv: $(STAMP)

init: venv
	$(BIN)/daybook init

demo: init
	$(BIN)/daybook demo

test: init
	$(BIN)/python -m pytest $(PYTEST_ARGS)

# Real-browser tests of the approval and KPI pages: Debian's Chromium (installed here if missing, as root
# on a fresh CI machine) driven by Playwright against a locally started Airflow API server.
.PHONY: browser browser-test
browser:
	command -v chromium >/dev/null || (apt-get update && apt-get install -y chromium chromium-driver)

browser-test: init browser
	$(BIN)/python -m pytest -m browser tests/browser $(PYTEST_ARGS)

stack-test: init
	$(BIN)/python -m pytest -m stack tests/stack $(PYTEST_ARGS)

up: init
	@echo "Airflow UI: http://127.0.0.1:8080  users (from config/roles.yaml; passwords kept in $(AIRFLOW_HOME)/passwords.json):"
	@$(BIN)/python -m daybook.local_users $(AIRFLOW_HOME)/passwords.json > $(AIRFLOW_HOME)/users.txt
	PATH=$(CURDIR)/$(BIN):$$PATH \
	AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS=$$(cat $(AIRFLOW_HOME)/users.txt) \
	AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE=$(AIRFLOW_HOME)/passwords.json \
	AIRFLOW__CORE__EXECUTOR=LocalExecutor \
	DAYBOOK_DEMO_APPROVER=$${DAYBOOK_DEMO_APPROVER-} \
	$(BIN)/airflow standalone

lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: venv
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

lock:
	$(BIN)/uv pip compile requirements.in -p 3.11 -o requirements.lock

clean:
	rm -rf var
