# One-command set-up, demo and tests. Everything lives in .venv at the repo root.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.lit_seqsal_installed
BROWSER_STAMP := tests/browser/node_modules/.installed
CLIENT_DIR := lit_seqsal/client
CLIENT_STAMP := $(CLIENT_DIR)/node_modules/.installed
PORT ?= 5432
HOST ?= 127.0.0.1
DEMO_ARGS ?=

.PHONY: setup demo test bench browser-deps client-deps client client-test

$(STAMP): setup.py
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --upgrade pip
	# torch first and pinned: the CPU wheel; an unpinned torch would pull CUDA builds.
	$(PY) -m pip install torch==2.13.0
	$(PY) -m pip install -e '.[test]'
	touch $(STAMP)

setup: $(STAMP) client

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

test: setup browser-deps client-test
	$(PY) -m pytest

bench: setup browser-deps
	$(PY) bench/bench_salience.py
	$(PY) bench/bench_frameworks.py
	$(PY) bench/bench_faithfulness.py
	node bench/bench_client.mjs
	$(PY) bench/bench_batch.py
