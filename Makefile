# Two commands set everything up on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

AGENTS := agents/node_modules/.installed
BROWSER := browser/node_modules/.installed

.PHONY: demo test test-loaded test-fast test-integration test-tui stress bench setup agents browser clean lint format

setup: $(STAMP)

# The real agent CLIs (pinned in agents/package.json) that the tests run against a scripted model on
# 127.0.0.1. Node.js and npm come from apt-get when missing and we are root.
agents: $(AGENTS)

$(AGENTS): agents/package.json agents/package-lock.json
	@if ! command -v npm >/dev/null 2>&1; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    (apt-get update -qq && apt-get install -y -qq nodejs npm) >/dev/null || { echo "could not install nodejs and npm with apt-get" >&2; exit 1; }; \
	  else echo "npm is missing: install Node.js and npm (e.g. sudo apt-get install nodejs npm)" >&2; exit 1; fi; \
	fi
	cd agents && npm ci --no-audit --no-fund --loglevel=error
	@touch $(AGENTS)

# The browser test of `gt dashboard` (tests/test_dashboard.py): Debian's headless chromium, driven by
# playwright-core (pinned in browser/package.json; it downloads no browser of its own). chromium, Node.js
# and npm come from apt-get when missing and we are root.
browser: $(BROWSER)

$(BROWSER): browser/package.json browser/package-lock.json
	@for need in npm:npm node:nodejs /usr/bin/chromium:chromium; do \
	  tool=$${need%%:*}; pkg=$${need#*:}; \
	  if ! command -v $$tool >/dev/null 2>&1; then \
	    if [ "$$(id -u)" = 0 ]; then \
	      (apt-get update -qq && apt-get install -y -qq $$pkg) >/dev/null || { echo "could not install $$pkg with apt-get" >&2; exit 1; }; \
	    else echo "$$tool is missing: install it (e.g. sudo apt-get install $$pkg)" >&2; exit 1; fi; \
	  fi; \
	done
	cd browser && npm ci --no-audit --no-fund --loglevel=error
	@touch $(BROWSER)

# System tools the project drives: tmux hosts the agent sessions, git holds the work.
# Installed with apt-get only when missing and only when we are root.
$(STAMP): pyproject.toml
	@for tool in tmux git; do \
	  if ! command -v $$tool >/dev/null 2>&1; then \
	    if [ "$$(id -u)" = 0 ]; then \
	      (apt-get update -qq && apt-get install -y -qq $$tool) >/dev/null || { echo "could not install $$tool with apt-get" >&2; exit 1; }; \
	    else echo "$$tool is missing: install it (e.g. sudo apt-get install $$tool)" >&2; exit 1; fi; \
	  fi; \
	done
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[test,lint]'
	@touch $(STAMP)

demo: $(STAMP)
	$(BIN)/gastown-tui demo

# The checks CI runs before the tests (configured in pyproject.toml): ruff's lint rules and formatting,
# mypy on core/ (strict), and import-linter's layer contracts. Every check runs; any failure fails.
lint: $(STAMP)
	@status=0; \
	echo "ruff check"; $(BIN)/ruff check . || status=1; \
	echo "ruff format --check"; $(BIN)/ruff format --check --output-format concise . || status=1; \
	echo "mypy"; $(BIN)/mypy || status=1; \
	echo "lint-imports"; $(BIN)/lint-imports || status=1; \
	exit $$status

# Rewrite the tree the way `make lint` wants it: the formatter, then ruff's safe fixes.
format: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

test: $(STAMP) $(AGENTS) $(BROWSER)
	$(BIN)/python -m pytest -n 2 -q

# The whole suite beside 4 busy processes (like stress-ng --cpu 4): it must pass on a loaded machine.
test-loaded: $(STAMP) $(AGENTS) $(BROWSER)
	$(BIN)/python -P tests/under_load.py --procs 4 -- $(BIN)/python -m pytest -n 2 -q

# One kind of test at a time (markers given by tests/conftest.py): in-process tests (about a minute),
# tests with real processes (tmux, gt subprocesses, agent CLIs), and the cockpit under Pilot.
test-fast: $(STAMP)
	$(BIN)/python -m pytest -n 2 -q -m 'unit and not stress'

test-integration: $(STAMP) $(AGENTS) $(BROWSER)
	$(BIN)/python -m pytest -n 2 -q -m 'integration and not stress'

test-tui: $(STAMP)
	$(BIN)/python -m pytest -n 2 -q -m 'tui and not stress'

stress: $(STAMP) $(AGENTS)
	$(BIN)/python -m pytest -q -m stress -p no:randomly

bench: $(STAMP)
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) build dist *.egg-info agents/node_modules browser/node_modules
