# Two entry points: `make demo` opens the console on the built-in demo, `make test` runs the whole suite.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP_RUN := $(VENV)/.installed-run
STAMP_TEST := $(VENV)/.installed-test
STAMP_BENCH := $(VENV)/.installed-bench

.PHONY: demo test lint bench screenshots clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP_RUN): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e .
	touch $@

$(STAMP_TEST): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $@ $(STAMP_RUN)

demo: $(STAMP_RUN)
	$(BIN)/llmdeck --demo

lint: $(STAMP_TEST)
	$(BIN)/ruff check .
	$(BIN)/mypy

test: $(STAMP_TEST)
	$(BIN)/ruff check .
	$(BIN)/python -m pytest -q -n 3

$(STAMP_BENCH): pyproject.toml | $(STAMP_TEST)
	$(BIN)/python -m pip install --quiet -e '.[test,bench]'
	touch $@

# Speed, not behaviour: router overhead against bare httpx and litellm.Router, stream relay, start-up.
bench: $(STAMP_BENCH)
	$(BIN)/python bench/router_overhead.py
	$(BIN)/python bench/stream_relay.py
	$(BIN)/python bench/startup.py

# SVGs of the six panes of the demo console at 120×36 (for the README) and at 80×24 (screenshots/80x24/).
screenshots: $(STAMP_RUN)
	$(BIN)/python scripts/screenshots.py --out screenshots

clean:
	rm -rf $(VENV) build dist *.egg-info
