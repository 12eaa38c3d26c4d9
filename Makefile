# returns-triage — `make help` lists the targets.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
ARTIFACTS ?= artifacts

.DEFAULT_GOAL := help

.PHONY: help
help: ## list the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z_-]+:.*## / {printf "  \033[36m%-10s\033[0m %s\n", $$1, $$2}' $(MAKEFILE_LIST)

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[dev]"
	touch $@

.PHONY: install
install: $(VENV)/.installed ## create .venv and install the project with dev tools

.PHONY: run
run: install ## install, then run the main job on embedded defaults
	$(VENV)/bin/triage run --artifacts $(ARTIFACTS)

.PHONY: train
train: install ## train every model family (fast profile) and register them in MLflow
	$(VENV)/bin/triage train all --profile fast

.PHONY: serve
serve: install ## start the API on 127.0.0.1:8000 (models by alias; rules-only fallback without them)
	$(VENV)/bin/triage serve --host 127.0.0.1 --port 8000

.PHONY: test
test: install ## install, then run the test suite (what CI runs)
	$(PY) -m pytest

.PHONY: test-fast
test-fast: install ## tests without the slow ones
	$(PY) -m pytest -m "not slow"

.PHONY: lint
lint: install ## ruff (lint + format check) and mypy
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

.PHONY: format
format: install ## apply ruff's formatter and safe fixes
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

.PHONY: bench
bench: install ## run every benchmark in benchmarks/ and print the figures
	for script in benchmarks/bench_*.py; do $(PY) $$script || exit 1; done

.PHONY: samples
samples: install ## regenerate data_samples/ from the simulator (fixed seed)
	$(VENV)/bin/triage samples --out data_samples

.PHONY: clean
clean: ## remove caches and artifacts (keeps .venv)
	rm -rf $(ARTIFACTS) .pytest_cache .mypy_cache .ruff_cache
