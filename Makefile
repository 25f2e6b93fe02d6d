# Everything a new machine needs: `make run` serves, `make test` runs the whole suite.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: run test test-compiled lint lock bench clean nginx console browser

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(VENV)/.build: requirements/build.lock | $(BIN)/python
	$(BIN)/pip install --quiet --require-hashes --no-deps -r requirements/build.lock
	touch $@

# The modules compiled at install time with AIRELAY_COMPILED=1 (pyproject.toml's
# [tool.airelay] compiled; setup.py): the install runs again, and recompiles, when one of
# them changes, and when the build is asked for the other mode (its stamp is new then).
COMPILED := $(patsubst %,src/%.py,$(subst .,/,$(shell sed -n '/^compiled = \[/,/^\]/p' pyproject.toml | grep -o '"[a-z_.]*"' | tr -d '"')))
MODE := $(VENV)/.compiled-$(if $(filter 1,$(AIRELAY_COMPILED)),yes,no)

$(MODE): | $(BIN)/python
	rm -f $(VENV)/.compiled-*
	touch $@

$(VENV)/.main: requirements/main.lock pyproject.toml setup.py $(COMPILED) $(MODE) $(VENV)/.build
	$(BIN)/pip install --quiet --require-hashes --no-deps -r requirements/main.lock
	$(BIN)/pip install --quiet --no-deps --no-build-isolation -e .
	touch $@

$(VENV)/.dev: requirements/dev.lock pyproject.toml setup.py $(COMPILED) $(MODE) $(VENV)/.build
	$(BIN)/pip install --quiet --require-hashes --no-deps -r requirements/dev.lock
	$(BIN)/pip install --quiet --no-deps --no-build-isolation -e .
	touch $(VENV)/.main $@

# The opt-in compiled build (AIRELAY_COMPILED=1, setup.py) against the tests of the code it
# compiles: it builds in place (the next make in the other mode reinstalls pure Python), so
# that the extensions behave as their sources do. CI runs it after `make test`.
COMPILED_TESTS := tests/test_compiled.py tests/relay tests/formats tests/billing tests/client \
	tests/translation tests/surfaces/test_relay_response.py tests/surfaces/test_responses_api.py \
	tests/surfaces/test_ops.py tests/surfaces/test_database_down.py tests/surfaces/test_bad_bytes.py
test-compiled:
	$(MAKE) AIRELAY_COMPILED=1 $(VENV)/.dev
	AIRELAY_COMPILED=1 $(BIN)/pytest -n $(PYTEST_WORKERS) --dist loadfile $(COMPILED_TESTS)

run: $(VENV)/.main console
	$(BIN)/airelay migrate
	$(BIN)/airelay serve

# The coding-agent CLIs the suite drives (Claude Code, Codex, Gemini CLI, opencode), from npm
# at the versions and integrity hashes of the lock file. `npm install`, not `npm ci`: ci
# refuses this lock because npm leaves out the other platforms' optional binary packages.
# No install script runs but two that only move a platform binary (from the lock file too)
# into place of a launcher: nothing is built or downloaded by a script. Without npm their
# tests skip, except under CI=true where they fail.
AGENT_CLIS := tests/agent_clis
$(AGENT_CLIS)/node_modules/.installed: $(AGENT_CLIS)/package-lock.json
	@if command -v npm >/dev/null 2>&1; then \
	  cd $(AGENT_CLIS) && npm install --ignore-scripts --no-audit --no-fund --loglevel=error && \
	  (cd node_modules/@anthropic-ai/claude-code && node install.cjs) && \
	  (cd node_modules/opencode-ai && node postinstall.mjs) && \
	  touch node_modules/.installed; \
	else echo "make test: npm is missing, the coding-agent CLI tests will not run" >&2; fi

# nginx, the load balancer of the multi-instance tests (scripts/instances.sh): Debian's
# package, installed when missing and this runs as root with apt-get; otherwise those tests
# skip, except under CI=true where they fail.
nginx:
	@command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "make: installing nginx with apt-get"; \
	    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends nginx-light >/dev/null 2>&1 || \
	    { apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends nginx-light >/dev/null; } || \
	    echo "make: nginx could not be installed; the multi-instance tests will not run" >&2; \
	  else echo "make: nginx is missing; the multi-instance tests will not run" >&2; fi; }

# The Vercel AI SDK (node) that tests/sdks drives, from npm at the versions and integrity
# hashes of its lock file; no install script runs. Without npm its tests skip (fail in CI).
SDK_NODE := tests/sdks/vercel
$(SDK_NODE)/node_modules/.installed: $(SDK_NODE)/package-lock.json
	@if command -v npm >/dev/null 2>&1; then \
	  cd $(SDK_NODE) && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error && \
	  touch node_modules/.installed; \
	else echo "make test: npm is missing, the Vercel AI SDK tests will not run" >&2; fi

# The web console (web/: Preact, bundled by esbuild) from npm at the lock file's versions
# and hashes, built into the package (src/airelay/console_dist, not committed) that the
# gateway serves at /console. No install script runs: esbuild's binary comes in its
# platform package. Without npm the console is not built and its browser tests skip
# (except under CI=true, where they fail).
CONSOLE_DIST := src/airelay/console_dist/index.html
console: $(CONSOLE_DIST)
$(CONSOLE_DIST): web/package-lock.json web/build.mjs $(shell find web/src -type f 2>/dev/null)
	@if command -v npm >/dev/null 2>&1; then \
	  cd web && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error && node build.mjs; \
	else echo "make: npm is missing, the web console is not built" >&2; fi

# What the browser tests drive: Debian's chromium, and a CJK font for the Chinese pages.
# Installed with apt-get when missing and running as root; otherwise the tests skip
# (except under CI=true, where they fail).
browser:
	@if [ ! -x /usr/bin/chromium ] || ! dpkg -s fonts-wqy-microhei >/dev/null 2>&1; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "make: installing chromium and fonts-wqy-microhei with apt-get"; \
	    DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium fonts-wqy-microhei >/dev/null 2>&1 || \
	    { apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium fonts-wqy-microhei; }; \
	  else echo "make: chromium is not installed; the browser tests will skip" >&2; fi; \
	fi

# The suite runs in parallel workers, one test file per worker at a time (module-scoped
# gateways and databases stay in one process); PYTEST_WORKERS=0 runs it in one process.
PYTEST_WORKERS ?= 4
test: $(VENV)/.dev $(AGENT_CLIS)/node_modules/.installed $(SDK_NODE)/node_modules/.installed nginx console browser
	$(BIN)/ruff check src tests
	$(BIN)/mypy
	$(BIN)/pytest -n $(PYTEST_WORKERS) --dist loadfile

lint: $(VENV)/.dev
	$(BIN)/ruff check src tests
	$(BIN)/ruff format --check src tests
	$(BIN)/mypy

# Regenerate the hashed lock files after changing dependencies in pyproject.toml.
lock:
	$(BIN)/pip install --quiet uv
	$(BIN)/uv pip compile pyproject.toml --python-version 3.11 --generate-hashes -o requirements/main.lock
	$(BIN)/uv pip compile pyproject.toml --extra dev --python-version 3.11 --generate-hashes -o requirements/dev.lock
	# The build tools (mypy among them) at the versions the dev lock has.
	$(BIN)/uv pip compile requirements/build.in --python-version 3.11 --generate-hashes -c requirements/dev.lock -o requirements/build.lock

# The gateway against a pass-through floor and the fake upstream (bench/README.md); appends
# the figures to BENCHMARKS.md. BENCH_ARGS=--full for every configuration.
bench: $(VENV)/.main
	@command -v taskset >/dev/null 2>&1 || { echo "make bench: taskset (util-linux) is missing" >&2; exit 1; }
	@command -v wrk >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "make bench: installing wrk with apt-get"; \
	    DEBIAN_FRONTEND=noninteractive apt-get install -y -q wrk >/dev/null 2>&1 || \
	    { apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q wrk; }; \
	  else \
	    echo "make bench: wrk is not installed; install it first (sudo apt-get install wrk)" >&2; \
	    exit 1; \
	  fi; }
	$(BIN)/python bench/run.py $(BENCH_ARGS)

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache test-artifacts build
	find src -name '*.so' -delete
