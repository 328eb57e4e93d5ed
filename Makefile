# Two commands on a fresh machine: `make run` and `make test`.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
PORT ?= 8501

.PHONY: run test test-slow setup system-deps lint bench sample clean screenshots

$(BIN)/python:
	$(PY) -m venv $(VENV)

$(VENV)/.installed: requirements.txt | $(BIN)/python
	@echo "==> Installing the Python packages into $(VENV) (first run: a minute or two; pip lists each package)"
	$(BIN)/pip install --progress-bar on --upgrade pip
	$(BIN)/pip install --progress-bar on -r requirements.txt
	@echo "==> Packages installed"
	touch $@

setup: $(VENV)/.installed

## Debian packages the tests need (browser tests, chart export, PDF checks, PostgreSQL).
system-deps:
	@if command -v apt-get >/dev/null 2>&1 && [ "$$(id -u)" = "0" ]; then \
	  missing=""; \
	  for p in chromium poppler-utils postgresql fonts-dejavu-core; do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	  if [ -n "$$missing" ]; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	  fi; \
	else echo "skipping apt (not root or no apt-get): browser/PostgreSQL tests skip if their tools are missing"; fi

## Start the app on the embedded sample district (loaded on first run).
run: setup
	$(BIN)/python -m edtech init
	@$(BIN)/python -c "from edtech import data; import sys; sys.exit(0 if data.is_empty(data.make_engine()) else 1)" \
	  && echo "==> First start: loading the sample district and training its at-risk model (about a minute)" \
	  && $(BIN)/python -m edtech demo || true
	@echo "==> Serving on http://localhost:$(PORT) in demo mode (another port: PORT=8502 make run); the first page takes a few seconds"
	EDTECH_DEMO=1 $(BIN)/python -m edtech serve --port $(PORT)

test: setup system-deps
	$(BIN)/ruff check .
	$(BIN)/python -m pytest -q -n 2  # two workers: the machine has two cores

## Slow checks: coverage simulations of the effect estimator, browser tests (sign-in, main journey): minutes.
test-slow: setup system-deps
	$(BIN)/python -m pytest -q -m slow

## Screenshots of every page for every demo role (1440x900 PNGs in docs/screenshots/), from a fresh demo
## district served like `make run`, with the presentation checks of the browser test reported per page.
screenshots: setup system-deps
	$(BIN)/python -m tests.page_tour docs/screenshots

lint: setup
	$(BIN)/ruff check .

bench: setup
	$(BIN)/python -m edtech bench

## Regenerate the committed sample CSVs (seeded, deterministic).
sample: setup
	$(BIN)/python -m edtech.sample.generate data/samples

clean:
	rm -rf $(VENV) data/edtech.db data/edtech.db-wal data/edtech.db-shm
