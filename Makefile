# Two entry points, each setting up what it needs on a bare machine:
#   make run    start the web UI on http://127.0.0.1:7860 (building or refreshing the index first)
#   make test   lint and run the whole test suite, browser test included (what .ci/run calls)
# and, while working: make test-fast   the logic tests only (-m fast: no real model, processes or browser)
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
SUDO   := $(shell [ "$$(id -u)" -ne 0 ] && command -v sudo)

# Nothing may download model weights at run time; Gradio sends no analytics.
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export GRADIO_ANALYTICS_ENABLED := False

.PHONY: setup browser run ask test test-fast lint
setup: $(STAMP)

# torch first and pinned: 2.13.0 is a local CPU wheel; an unpinned torch pulls GBs of CUDA packages.
$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet torch==2.13.0
	$(BIN)/python -m pip install --quiet -e '.[test,postgres]'
	touch $(STAMP)

# Debian's Chromium and ChromeDriver, for the end-to-end browser test.
browser:
	@test -x /usr/bin/chromium -a -x /usr/bin/chromedriver || { \
	  $(SUDO) apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq chromium chromium-driver; }

run: setup
	$(BIN)/python app.py

# The terminal version of the main job: refresh the index, answer one question.
QUESTION ?= how do I avoid being clingy?
ask: setup
	$(BIN)/rag build
	$(BIN)/rag ask "$(QUESTION)"

lint: setup
	$(BIN)/ruff check rag tests app.py
	$(BIN)/ruff format --check rag tests app.py
	$(BIN)/mypy rag

test: lint browser
	$(BIN)/python -m pytest

# The fast tier: tests/conftest.py marks what needs no real model, process, app or browser.
test-fast: setup
	$(BIN)/python -m pytest -m fast
