# Targets are the README's commands; `make help` lists them.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# This machine keeps the CPU build of torch in /opt/wheels; use it when it is there.
PIP_FLAGS := $(if $(wildcard /opt/wheels),--find-links /opt/wheels,)
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export TOKENIZERS_PARALLELISM := false

.PHONY: help install wordnet system-deps index run test lint bench stress reader clean

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-12s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet $(PIP_FLAGS) -e '.[app,llm,dev,bench]'
	touch $@

install: $(STAMP) wordnet ## Create .venv and install the package, its dev tools and WordNet

wordnet: ## Install Debian's wordnet-base (synonyms for the sentence scorer, text/lexicon.py)
	@if [ -f "$${RETRIEVAL_WORDNET_DIR:-/usr/share/wordnet}/index.noun" ]; then exit 0; fi; \
	if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wordnet-base >/dev/null; \
	else echo "WordNet missing and no root for apt-get: install wordnet-base or set RETRIEVAL_WORDNET_DIR"; fi

system-deps: ## Install Debian's chromium and chromedriver for the browser test
	@if command -v chromium >/dev/null; then exit 0; fi; \
	if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null; \
	else echo "chromium missing and no root for apt-get: the browser test will be skipped"; fi

index: install ## Build or update the index of seeds/ (only changed files are embedded)
	$(BIN)/python -m retrieval index

run: install ## Install, build the index if missing or stale (with progress), and serve the app
	$(BIN)/python -m retrieval index --rebuild-if-incompatible
	@echo "Serving on http://localhost:8501"
	$(BIN)/streamlit run app.py --server.address localhost --server.port 8501 --server.headless true --browser.gatherUsageStats false

test: install system-deps ## Install everything, check style and types, run the tests (not the slow ones)
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(BIN)/python -m pytest

lint: install ## ruff and mypy (configured in pyproject.toml)
	$(BIN)/ruff check .
	$(BIN)/mypy

bench: install ## Benchmarks: speed and quality against baselines (writes bench/results.json)
	$(BIN)/python -m bench

reader: install ## Retrain the reader (models/reader) from ../shared/train: data, training (checkpointed, resumes), export, calibration; about an hour on 2 cores
	$(BIN)/python scripts/train_reader.py all

stress: install ## Fuzz and load runs too slow for every test run
	$(BIN)/python -m pytest -m slow tests/stress

clean: ## Remove the venv and the built index
	rm -rf $(VENV) index
