# fleetdeck developer commands. `make help` lists them.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-$(shell cksum pyproject.toml | cut -d' ' -f1)
PYTEST_ARGS ?= -n 2
# junit XML of each backend's run; .ci/run reads the counts from here (.ci/counts.py)
RESULTS ?= build/test-results
# The web UI's browser assets (htmx, pico.css, Swagger UI, ReDoc): npm ci, then copied into the
# package (git-ignored; the wheel takes them as hatch artifacts). Without npm the server still
# starts and its pages say the assets are missing.
VENDOR := src/fleetdeck/web/static/vendor
ASSETS := $(VENDOR)/.built-$(shell cat package-lock.json src/fleetdeck/web/assets.json tools/web_assets.py | cksum | cut -d' ' -f1)
CHROMIUM ?= /usr/bin/chromium
FIREFOX ?= /usr/bin/firefox-esr

.PHONY: help run test lint fmt test-sqlite test-postgres counts migrate bench mutation mutation-sample clean assets chromium agent-wheel agent-venv agent-deb

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-14s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	@rm -f $(VENV)/.installed-*
	@touch $(STAMP)

$(ASSETS): package.json package-lock.json src/fleetdeck/web/assets.json tools/web_assets.py
	@if command -v npm >/dev/null 2>&1; then \
	  npm ci --ignore-scripts --no-audit --no-fund --loglevel=error && $(PYTHON) tools/web_assets.py && \
	  rm -f $(VENDOR)/.built-* && touch $(ASSETS); \
	else echo "npm not found: the web UI and API docs will say their assets are missing (see docs/ui.md)"; fi

assets: $(ASSETS) ## the web UI's browser assets (npm ci; copied into src/fleetdeck/web/static/vendor)

# The browser tests (tests/web) use Debian's Chromium (Playwright) and Debian's firefox-esr
# (puppeteer-core over WebDriver BiDi, npm ci in tests/web/firefox), the desktop view's tests a
# VNC server from Debian's xvfb and x11vnc, the scale-out test Debian's nginx (nginx-light), the
# agent's zsh tests zsh; installed here where missing
# and cheap (root with apt-get), otherwise those tests skip and say why. Also the OpenID Connect
# provider of the rport OAuth tests (npm ci in tests/dialects/rport/oidc).
chromium:
	@test -x $(CHROMIUM) || { if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	  { apt-get install -y -q chromium >/dev/null 2>&1 || { apt-get update -q >/dev/null && apt-get install -y -q chromium >/dev/null; }; } \
	  || echo "could not install chromium: tests/web will skip"; \
	  else echo "$(CHROMIUM) missing (apt-get install chromium as root): tests/web will skip"; fi; }
	@command -v Xvfb >/dev/null && command -v x11vnc >/dev/null || { if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	  { apt-get install -y -q xvfb x11vnc >/dev/null 2>&1 || { apt-get update -q >/dev/null && apt-get install -y -q xvfb x11vnc >/dev/null; }; } \
	  || echo "could not install xvfb and x11vnc: the desktop view tests will skip"; \
	  else echo "Xvfb or x11vnc missing (apt-get install xvfb x11vnc as root): the desktop view tests will skip"; fi; }
	@command -v nginx >/dev/null || test -x /usr/sbin/nginx || { if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	  { apt-get install -y -q nginx-light >/dev/null 2>&1 || { apt-get update -q >/dev/null && apt-get install -y -q nginx-light >/dev/null; }; } \
	  || echo "could not install nginx-light: the scale-out test behind nginx will skip"; \
	  else echo "nginx missing (apt-get install nginx-light as root): the scale-out test behind nginx will skip"; fi; }
	@command -v zsh >/dev/null || { if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	  { apt-get install -y -q zsh >/dev/null 2>&1 || { apt-get update -q >/dev/null && apt-get install -y -q zsh >/dev/null; }; } \
	  || echo "could not install zsh: the agent's zsh tests will skip"; \
	  else echo "zsh missing (apt-get install zsh as root): the agent's zsh tests will skip"; fi; }
	@test -x $(FIREFOX) || { if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	  { apt-get install -y -q firefox-esr >/dev/null 2>&1 || { apt-get update -q >/dev/null && apt-get install -y -q firefox-esr >/dev/null; }; } \
	  || echo "could not install firefox-esr: the Firefox test will skip"; \
	  else echo "$(FIREFOX) missing (apt-get install firefox-esr as root): the Firefox test will skip"; fi; }
	@test -d tests/web/firefox/node_modules/puppeteer-core || { if command -v npm >/dev/null 2>&1; then \
	  (cd tests/web/firefox && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error) \
	  || echo "npm ci in tests/web/firefox failed: the Firefox test will skip"; \
	  else echo "npm not found: the Firefox test will skip"; fi; }
	@test -d tests/dialects/rport/oidc/node_modules/oidc-provider || { if command -v npm >/dev/null 2>&1; then \
	  (cd tests/dialects/rport/oidc && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error) \
	  || echo "npm ci in tests/dialects/rport/oidc failed: the rport OAuth tests will skip"; \
	  else echo "npm not found: the rport OAuth tests will skip"; fi; }

run: $(STAMP) $(ASSETS) ## start the server on http://127.0.0.1:8080 with a local agent (SQLite in ./fleetdeck-data)
	$(VENV)/bin/fleetdeck up

test: lint test-sqlite test-postgres ## ruff, mypy, import contracts, and the whole suite on SQLite and PostgreSQL

lint: $(STAMP) $(ASSETS) ## ruff (format + lint), mypy --strict, import-linter contracts
	$(VENV)/bin/ruff format --check src tests bench tools
	$(VENV)/bin/ruff check src tests bench tools
	$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports

test-sqlite: $(STAMP) $(ASSETS) chromium ## the suite on SQLite
	@mkdir -p $(RESULTS) && rm -f $(RESULTS)/sqlite.xml
	FLEETDECK_TEST_DB=sqlite $(PY) -m pytest $(PYTEST_ARGS) --junitxml=$(RESULTS)/sqlite.xml

# The tests that use no database (tests/conftest.py uses_database) behave the same on both
# backends: the SQLite run has run them, so this run leaves them out and lists them in
# $(RESULTS)/postgres.left-out; .ci/counts.py checks each of them passed there (docs/testing.md).
test-postgres: $(STAMP) $(ASSETS) chromium ## the suite's database tests on PostgreSQL (FLEETDECK_TEST_PG, default 127.0.0.1:5432; throwaway database per run)
	@mkdir -p $(RESULTS) && rm -f $(RESULTS)/postgres.xml $(RESULTS)/postgres.left-out
	FLEETDECK_TEST_DB=postgres $(PY) -m pytest $(PYTEST_ARGS) --database-tests-only --junitxml=$(RESULTS)/postgres.xml

counts: ## test counts of the last test-sqlite/test-postgres runs, checked against .ci/floors
	$(PYTHON) .ci/counts.py $(RESULTS)

fmt: $(STAMP) ## format and autofix
	$(VENV)/bin/ruff format src tests bench tools
	$(VENV)/bin/ruff check --fix src tests bench tools

migrate: $(STAMP) ## apply migrations to ./fleetdeck-data (the server does this on start too)
	$(VENV)/bin/fleetdeck db upgrade

# The agent without the server (docs/operations.md, "Installing agents"): its wheel and, with the
# server's own msgspec/psutil/wsproto/h11 re-packed, everything an offline computer needs.
DIST ?= dist
AGENT_VENV ?= build/agent-venv
agent-wheel: $(STAMP) ## the fleetdeck-agent wheel + its dependencies' wheels in dist/ (agent-only install)
	$(PY) -m fleetdeck.core.agentdist $(DIST) --with-dependencies

agent-venv: agent-wheel ## a venv with only the agent in build/agent-venv (bench/agent_rss.py --agent-python)
	rm -rf $(AGENT_VENV) && $(PYTHON) -m venv $(AGENT_VENV)
	PIP_CONFIG_FILE=/dev/null $(AGENT_VENV)/bin/pip install -q --no-index --find-links $(DIST) fleetdeck-agent

agent-deb: $(STAMP) ## the agent's Debian package in dist/ (dpkg-deb; systemd unit, state dir)
	$(PY) tools/agent_deb.py $(DIST)

bench: $(STAMP) ## agent fan-out benchmark with 1,000 simulated agents (see docs/performance.md)
	$(PY) bench/agents.py -n 1000

# Mutation testing (docs/testing.md): slow, never part of `make test` or CI. One worker, niced,
# because the machine is shared. Without MODULE: a fresh run over all of core. With MODULE
# (core/packages/ordering.py, a folder such as core/reports, or several separated by spaces):
# only those modules' mutants, reusing mutants/ from the last run.
MODULE ?=
MUTATION_ENV = FLEETDECK_TEST_DB=sqlite FLEETDECK_TEST_SQLITE_TEMPLATE=$(CURDIR)/mutants/template.db
MUTANTS = $(foreach m,$(MODULE),'fleetdeck.$(subst /,.,$(patsubst src/fleetdeck/%,%,$(basename $(patsubst %/,%,$(m))))).*')

mutation: $(STAMP) ## mutation testing of core with mutmut (slow; MODULE=core/x.py for one module); see docs/testing.md
	$(if $(MODULE),,rm -rf mutants)
	rm -f mutants/template.db
	$(VENV)/bin/fleetdeck db upgrade --data-dir mutants --database-url sqlite:///$(CURDIR)/mutants/template.db
	$(MUTATION_ENV) nice -n 19 $(VENV)/bin/mutmut run --max-children 1 $(MUTANTS)
	@$(PY) tools/mutation_report.py $(MODULE) --survivors

# A whole-core score from a seeded uniform sample of N of core's mutants (docs/testing.md): about
# 0.2 mutants per second at nice 19 with the load at 4-7, so N=360 took 31 minutes there.
# `tools/mutation_sample.py report|rerun --seed SEED` prints the result again / re-runs survivors.
N ?= 360
SEED ?= 20261202
mutation-sample: $(STAMP) ## whole-core mutation score from a random sample of N mutants (slow; SEED=...)
	rm -f mutants/template.db
	$(VENV)/bin/fleetdeck db upgrade --data-dir mutants --database-url sqlite:///$(CURDIR)/mutants/template.db
	$(PY) tools/mutation_sample.py run -n $(N) --seed $(SEED)

clean: ## remove the virtualenv and caches (not your data)
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache $(RESULTS) mutants node_modules tests/web/firefox/node_modules tests/dialects/rport/oidc/node_modules $(VENDOR)
