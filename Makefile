# `make run` sets up and starts the product; `make test` sets up and runs every test.
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.DEFAULT_GOAL := run
.PHONY: run test setup ingest lint bench-ingest

$(STAMP): pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q "torch==2.13.0"  # the CPU build; see pyproject.toml
	$(PY) -m pip install -q -e ".[chat,test]"
	touch $(STAMP)

setup: $(STAMP)

run: setup
	$(VENV)/bin/ivl ingest

ingest: setup
	$(VENV)/bin/ivl ingest

test: setup
	$(PY) -m pytest

bench-ingest: setup
	$(PY) -m evals.bench_ingest
