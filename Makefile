# One-command set-up, demo, lint and tests. Everything lives in .venv at the repo root.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
# The demo needs the base package only; tests and lint add the `test` extra.
BASE_STAMP := $(VENV)/.lit_seqsal_base
TEST_STAMP := $(VENV)/.lit_seqsal_test
BROWSER_STAMP := tests/browser/node_modules/.installed
CLIENT_DIR := lit_seqsal/client
CLIENT_STAMP := $(CLIENT_DIR)/node_modules/.installed
PORT ?= 5432
HOST ?= 127.0.0.1
DEMO_ARGS ?=
PY_SOURCES := lit_seqsal tests bench demos scripts
# The fast tier: what a developer runs before each commit (docs/architecture.md, "Tests").
FAST_TESTS := not slow and not browser and not bundled and not keras and not install

.PHONY: setup setup-test demo lint format test test-fast bench browser-deps client-deps client \
	client-test

$(BASE_STAMP): setup.py
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --upgrade pip
	# torch first and pinned: the CPU wheel; an unpinned torch would pull CUDA builds.
	$(PY) -m pip install torch==2.13.0
	$(PY) -m pip install -e .
	touch $(BASE_STAMP)

$(TEST_STAMP): $(BASE_STAMP)
	$(PY) -m pip install -e '.[test]'
	touch $(TEST_STAMP)

# What the demo needs: the package and the built client.
setup: $(BASE_STAMP) client

# What the tests and lint need besides: the test extra, the browser tools.
setup-test: setup $(TEST_STAMP) browser-deps

demo: setup
	$(PY) -m lit_seqsal.demos.lm_salience --host=$(HOST) --port=$(PORT) $(DEMO_ARGS)

$(BROWSER_STAMP): tests/browser/package-lock.json
	scripts/install_chromium.sh
	npm ci --prefix tests/browser --no-audit --no-fund
	touch $(BROWSER_STAMP)

browser-deps: $(BROWSER_STAMP)
	@test -x "$${CHROMIUM_PATH:-/usr/bin/chromium}" || scripts/install_chromium.sh

# The TypeScript client (lit_seqsal/client): npm packages from its lockfile.
$(CLIENT_STAMP): $(CLIENT_DIR)/package-lock.json
	npm ci --prefix $(CLIENT_DIR) --no-audit --no-fund
	touch $(CLIENT_STAMP)

client-deps: $(CLIENT_STAMP)

# The built client (lit_seqsal/client/build), served by the server at /.
CLIENT_BUILD := $(CLIENT_DIR)/build/app.js
$(CLIENT_BUILD): $(CLIENT_STAMP) $(wildcard $(CLIENT_DIR)/src/*.ts) $(CLIENT_DIR)/static/index.html $(CLIENT_DIR)/scripts/build.mjs
	npm run build --prefix $(CLIENT_DIR)

client: $(CLIENT_BUILD)

client-test: client-deps
	npm run typecheck --prefix $(CLIENT_DIR)
	npm test --prefix $(CLIENT_DIR)

# Lint, format check and types: ruff and pyright (pyproject.toml), eslint (the client).
lint: $(TEST_STAMP) client-deps
	$(PY) -m ruff check $(PY_SOURCES)
	$(PY) -m ruff format --check $(PY_SOURCES)
	$(PY) -m pyright
	npm run lint --prefix $(CLIENT_DIR)

# Rewrites the sources in the project's format (ruff's, then the client's).
format: $(TEST_STAMP) client-deps
	$(PY) -m ruff check --fix-only --select I $(PY_SOURCES)
	$(PY) -m ruff format $(PY_SOURCES)
	npm run format --prefix $(CLIENT_DIR)

# Everything, as CI runs it.
test: setup-test client-test
	$(PY) -m pytest

test-fast: setup $(TEST_STAMP) client-test
	$(PY) -m pytest -m "$(FAST_TESTS)"

bench: setup-test
	$(PY) bench/bench_salience.py
	$(PY) bench/bench_frameworks.py
	$(PY) bench/bench_faithfulness.py
	node bench/bench_client.mjs
	$(PY) bench/bench_batch.py
