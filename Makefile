# Everything the project needs is installed from here: a fresh machine needs only
# Python 3.11 and make (and apt, for the browser the portal tests drive).
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
JS_STAMP := tests/js/node_modules/.installed

BENCH_STAMP := $(VENV)/.bench-installed

.PHONY: run test lint bench soak wrk chromium clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[embedded,test]'
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/carespace serve --demo

# Debian's Chromium drives the portal's browser tests; never a downloaded browser.
chromium:
	@test -x /usr/bin/chromium || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium fonts-liberation >/dev/null)

# The JavaScript fhirclient (npm, pinned by the lock file) that tests/smart/test_js_fhirclient.py runs in Chromium,
# and axe-core, which tests/support/axe.py injects into every portal page state the browser tests check.
$(JS_STAMP): tests/js/package.json tests/js/package-lock.json tests/js/.npmrc
	@command -v npm >/dev/null || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs npm >/dev/null) \
		|| { echo "npm is missing and could not be installed: install Node.js and npm for the JavaScript SMART test" >&2; exit 1; }
	npm ci --prefix tests/js --no-audit --no-fund --ignore-scripts
	touch $@

lint: $(STAMP)
	$(BIN)/ruff check .

test: $(STAMP) chromium lint $(JS_STAMP)
	$(BIN)/python -m pytest -n 2 --dist loadfile

# Debian's wrk: the bench's load generator, a C program in its own process.
wrk:
	@command -v wrk >/dev/null || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null)

$(BENCH_STAMP): $(STAMP) pyproject.toml
	$(BIN)/pip install -q -e '.[embedded,test,bench]'
	touch $@

bench: $(BENCH_STAMP) wrk
	$(BIN)/python -m bench.speed --synthea ../shared/data/synthea
	$(BIN)/python -m bench.speed --synthea ../shared/data/synthea --workers 2 --skip-import

# A steady mixed load for MINUTES minutes: per-window p50/p95, stalls, RSS and fds, drift.
MINUTES ?= 30
soak: $(BENCH_STAMP)
	$(BIN)/python -m bench.soak --synthea ../shared/data/synthea --minutes $(MINUTES)

clean:
	rm -rf $(VENV) var tests/screenshots
