# `make run` sets up and starts the product; `make test` sets up and runs every test.
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.DEFAULT_GOAL := run
.PHONY: run test setup chromium lint ingest bench calibrate train screenshot lock

# Every dependency, pinned with its hashes, from requirements.lock (`make lock` writes it); then the
# package itself, with no dependency resolution of its own, so nothing unlocked is ever installed.
$(STAMP): pyproject.toml requirements.lock requirements-pip.lock
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --require-hashes -r requirements-pip.lock
	$(PY) -m pip install -q --require-hashes -r requirements.lock
	$(PY) -m pip install -q --no-deps --no-build-isolation -e .
	touch $(STAMP)

setup: $(STAMP)

run: setup
	$(VENV)/bin/ivl chat

ingest: setup
	$(VENV)/bin/ivl ingest

# The browser tests drive Debian's chromium (never `playwright install`: it downloads a browser); the egress
# tests trace system calls with Debian's strace.
chromium:
	@command -v chromium >/dev/null && command -v strace >/dev/null || { $(if $(filter 0,$(shell id -u)),,sudo) apt-get update -qq && $(if $(filter 0,$(shell id -u)),,sudo) apt-get install -y -qq chromium strace; }

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

# Fine-tune the matcher (ivl_index/data/matcher), then rebuild the index with it and refit the calibration on it.
train: setup
	$(VENV)/bin/ivl train
	$(VENV)/bin/ivl ingest
	$(VENV)/bin/ivl calibrate

# Rewrite requirements.lock from pyproject.toml (the [chat,test,bench] extras the setup installs, plus the
# build backend), keeping its current pins where they still fit: `make lock UPGRADE=--upgrade` moves them.
# uv runs from a throwaway venv; torch is the CPU build from the machine's wheel folder (/opt/wheels).
lock:
	d=$$(mktemp -d) && python3 -m venv $$d && $$d/bin/pip install -q uv && \
	echo "setuptools>=69" | $$d/bin/uv pip compile pyproject.toml - --extra chat --extra test --extra bench \
		--generate-hashes --find-links /opt/wheels --emit-find-links --python-version 3.11.7 \
		--python-platform x86_64-manylinux_2_28 --custom-compile-command "make lock" $(UPGRADE) -o requirements.lock; \
	status=$$?; rm -rf $$d; exit $$status

screenshot: setup
	CHAT_SCREENSHOTS=$(CURDIR)/docs $(PY) -m pytest -q tests/test_chat_browser.py
