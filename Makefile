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

# Speed, not behaviour: router overhead against bare httpx and litellm.Router, stream relay, start-up, the idle
# console and the monitor alone, streaming render. The 30-minute soak is `bench/soak.py` on its own.
bench: $(STAMP_BENCH)
	$(BIN)/python bench/router_overhead.py
	$(BIN)/python bench/stream_relay.py
	$(BIN)/python bench/startup.py
	$(BIN)/python bench/monitor_cpu.py --window 10
	$(BIN)/python bench/idle_cpu.py --quick --window 10
	$(BIN)/python bench/stream_render.py --setup one --seconds 10

# SVGs of the six panes of the demo console at 120×36 (for the README) and at 80×24 (screenshots/80x24/).
screenshots: $(STAMP_RUN)
	$(BIN)/python scripts/screenshots.py --out screenshots

clean:
	rm -rf $(VENV) build dist *.egg-info
