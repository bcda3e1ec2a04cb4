# `make demo` and `make test` each do their own set-up on a fresh machine.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: venv demo test lint bench clean

$(BIN)/freedave: pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q torch==2.13.0
	$(BIN)/pip install -q -e '.[dev]'
	touch $(BIN)/freedave

venv: $(BIN)/freedave

demo: venv
	$(BIN)/freedave demo

test: venv
	$(BIN)/ruff check src tests
	$(BIN)/python -m pytest

lint: venv
	$(BIN)/ruff check src tests
	$(BIN)/ruff format --check src tests

clean:
	rm -rf $(VENV) .pytest_cache
