# The two commands: `make demo` and `make test`. Both work on a fresh Debian machine:
# they create .venv, install the package, and install the Debian packages they need (as root).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PROFILE ?= demo
# the report step of `make demo`: every report and every tenant's report (not 'unknown', the
# health probes) on the warm worker pool, each over its own default window — the daily ones
# the last 24 h, the weekly and tenant ones the last 7 days (docs/benchmarks.md, fan-out).
# REPORT_SINCE=24h gives every report that window; TOP_TENANTS=N only the N busiest tenants.
REPORT_SINCE ?=
TOP_TENANTS ?=

# Prometheus 3 and Jaeger v2 are built from their Go modules with the machine's Go and cached
# outside the clone ($$TRIBUTARY_CACHE/bin, default ~/.cache/tributary/bin), keyed by version:
# minutes once per machine, nothing after that (docs/stack.md)
GOBUILD := PYTHONPATH=$(CURDIR) $(PYTHON) -m tributary_analysis.stack.gobuild
PROMETHEUS ?= 3

.PHONY: demo test down status venv system-deps system-deps-test lint clean-stack binaries \
	binaries-background

demo: system-deps binaries-background venv
	$(BIN)/tributary demo down >/dev/null 2>&1 || true
	$(BIN)/tributary demo up --profile $(PROFILE) --prometheus $(PROMETHEUS)
	@status=0; \
	$(BIN)/tributary report run $(if $(REPORT_SINCE),--since $(REPORT_SINCE)) \
	    $(if $(TOP_TENANTS),--top-tenants $(TOP_TENANTS)) \
	    --executor pool --jobs 2 --out reports || status=$$?; \
	echo "reports: open file://$(CURDIR)/reports/index.html (or reports/index.html)"; \
	exit $$status

# the Go builds run in the background while the venv is installed, linted and most of the
# suite runs: .ci/tributary_ci_order.py moves the modules that need Prometheus 3 or Jaeger to
# the end and waits for their build (with its progress) before the first of them
test: system-deps-test binaries-background venv lint
	PYTHONPATH=$(CURDIR)/.ci $(BIN)/pytest -p tributary_ci_order

binaries:
	@$(GOBUILD) prometheus jaeger

binaries-background:
	@$(GOBUILD) --background prometheus jaeger

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
	$(BIN)/ruff check tributary_analysis tests bench
	$(BIN)/mypy
