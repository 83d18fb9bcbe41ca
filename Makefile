# nbchat — two commands for a fresh machine: `make demo` and `make test`.
SHELL := /bin/bash
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
PYTEST_ARGS ?=
DEMO_PORT ?= 8888
# Tests never touch the user's real history.
TEST_DATA := $(CURDIR)/.test-data

.PHONY: demo test check env bundle js-deps chromium lint typecheck pytest vitest nbval browser bench watch clean

DEMO_STATE := $(CURDIR)/.demo
demo: env bundle ## install everything and open the quickstart on the embedded backend
	@# A private workspace (the quickstart open, the file browser at the repository root)
	@# and settings overrides (no news pop-up); the user's own Jupyter config is untouched.
	mkdir -p $(DEMO_STATE)/lab-settings
	cp etc/demo/overrides.json $(DEMO_STATE)/lab-settings/overrides.json
	JUPYTERLAB_WORKSPACES_DIR=$(DEMO_STATE)/workspaces $(BIN)/jupyter lab workspaces import etc/demo/workspace.json >/dev/null 2>&1 || { echo "importing etc/demo/workspace.json failed"; exit 1; }
	@echo "Starting JupyterLab on http://127.0.0.1:$(DEMO_PORT) with the quickstart open (Ctrl-C to stop)"
	JUPYTERLAB_WORKSPACES_DIR=$(DEMO_STATE)/workspaces $(BIN)/jupyter lab \
	  --ServerApp.ip=127.0.0.1 --ServerApp.port=$(DEMO_PORT) --ServerApp.allow_root=True \
	  --ServerApp.root_dir=$(CURDIR) \
	  --LabApp.app_settings_dir=$(DEMO_STATE)/lab-settings \
	  --LabApp.default_url=/lab/workspaces/nbchat-demo --LabApp.extension_manager=readonly

test: env chromium bundle ## install everything and run the whole suite
	$(MAKE) check

check: lint typecheck vitest pytest nbval ## everything CI runs (needs `make env bundle`)

env: $(VENV)/.installed
$(VENV)/.installed: pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e ".[dev]"
	touch $@

js-deps: node_modules/.installed
node_modules/.installed: package.json package-lock.json
	@# `npm ci` trips over lockfiles written with omit-lockfile-registry-resolved; install keeps the pins.
	@# On CI (a fresh clone) the install must leave the lockfile as committed.
	@cp package-lock.json .package-lock.before
	npm install --no-audit --no-fund --loglevel=error
	@if [ "$${CI:-}" = true ] && ! cmp -s package-lock.json .package-lock.before; then \
	  echo "npm install rewrote package-lock.json on a fresh clone (git diff package-lock.json shows how)"; \
	  rm -f .package-lock.before; exit 1; fi
	@rm -f .package-lock.before
	touch $@

bundle: js-deps ## build nbchat/static/widget.js with esbuild
	npm run --silent build

watch: js-deps ## rebuild the bundle on change (use with ANYWIDGET_HMR=1)
	npm run watch

chromium: ## Debian's Chromium for the browser tests (never a downloaded browser), and curl for the README's curl example
	@test -x /usr/bin/chromium -a -x /usr/bin/curl || { \
	  if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi; \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq chromium curl; }
	@/usr/bin/chromium --version

lint:
	$(BIN)/ruff format --check nbchat tests bench
	$(BIN)/ruff check nbchat tests bench

typecheck: js-deps
	$(BIN)/mypy
	npm run --silent typecheck

vitest: js-deps
	npm test --silent

pytest:
	rm -rf $(TEST_DATA)
	NBCHAT_DATA_DIR=$(TEST_DATA) $(BIN)/pytest $(PYTEST_ARGS)

nbval:
	rm -rf $(TEST_DATA)
	NBCHAT_DATA_DIR=$(TEST_DATA) $(BIN)/pytest --nbval-lax -p no:cacheprovider notebooks -o testpaths=notebooks

bench: env chromium bundle ## print the benchmark figures
	$(BIN)/python bench/pipeline.py
	$(BIN)/python bench/checkpoint.py
	$(BIN)/python bench/history_cost.py
	$(BIN)/python bench/latency.py
	$(BIN)/python bench/browser_history.py
	$(BIN)/python bench/render_stream.py
	$(BIN)/python bench/sessions.py
	$(BIN)/python bench/progress_loop.py

clean:
	rm -rf $(VENV) node_modules nbchat/static/widget.js nbchat/static/widget.css nbchat/static/bar.js nbchat/static/bar.css $(TEST_DATA) test-artifacts .demo
