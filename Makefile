# `make run` sets up and starts the product; `make test` sets up and runs every test.
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.DEFAULT_GOAL := run
.PHONY: run test setup chromium lint ingest bench calibrate screenshot

$(STAMP): pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q "torch==2.13.0"  # the CPU build; see pyproject.toml
	$(PY) -m pip install -q -e ".[chat,test,bench]"
	touch $(STAMP)

setup: $(STAMP)

run: setup
	$(VENV)/bin/ivl chat

ingest: setup
	$(VENV)/bin/ivl ingest

# The browser tests drive Debian's chromium (never `playwright install`: it downloads a browser).
chromium:
	@command -v chromium >/dev/null || { $(if $(filter 0,$(shell id -u)),,sudo) apt-get update -qq && $(if $(filter 0,$(shell id -u)),,sudo) apt-get install -y -qq chromium; }

test: lint chromium
	$(PY) -m pytest

bench: setup
	$(VENV)/bin/ivl bench

# ruff, then the import-linter layer contracts in pyproject.toml (imports flow one way).
lint: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/lint-imports

calibrate: setup
	$(VENV)/bin/ivl calibrate

screenshot: setup
	CHAT_SCREENSHOTS=docs $(PY) -m pytest -q tests/test_chat_browser.py
