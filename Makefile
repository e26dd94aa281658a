# Two entry points, each setting up what it needs on a bare machine:
#   make run    build (or refresh) the index and answer a sample question
#   make test   lint and run the whole test suite (what .ci/run calls)
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
QUESTION ?= how do I avoid being clingy?

# Nothing may download model weights at run time.
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1

.PHONY: setup run test lint
setup: $(STAMP)

# torch first and pinned: 2.13.0 is a local CPU wheel; an unpinned torch pulls GBs of CUDA packages.
$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet torch==2.13.0
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

run: setup
	$(BIN)/rag build
	$(BIN)/rag search "$(QUESTION)"

lint: setup
	$(BIN)/ruff check rag tests
	$(BIN)/ruff format --check rag tests
	$(BIN)/mypy rag

test: lint
	$(BIN)/python -m pytest
