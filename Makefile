# The two commands: `make demo` and `make test`. Both work on a fresh Debian machine:
# they create .venv, install the package, and install the Debian packages they need (as root).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PROFILE ?= demo

.PHONY: demo test down status venv system-deps system-deps-test lint clean-stack

demo: system-deps venv
	$(BIN)/tributary demo down >/dev/null 2>&1 || true
	$(BIN)/tributary demo up --profile $(PROFILE)

test: system-deps-test venv
	$(BIN)/pytest

down: venv
	$(BIN)/tributary demo down

status: venv
	$(BIN)/tributary demo status

system-deps:
	@bash .ci/system-deps.sh demo

system-deps-test:
	@bash .ci/system-deps.sh test

venv: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev]'
	touch $@

lint: venv
	$(BIN)/ruff check tributary_analysis tests
	$(BIN)/mypy
