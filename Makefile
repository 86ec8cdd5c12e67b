# Two entry points: `make demo` opens the console on the built-in demo, `make test` runs the whole suite.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP_RUN := $(VENV)/.installed-run
STAMP_TEST := $(VENV)/.installed-test
STAMP_BENCH := $(VENV)/.installed-bench
LITELLM_VENV := .venv-litellm
STAMP_LITELLM := $(LITELLM_VENV)/.installed-proxy
LITELLM_PROXY := litellm[proxy]>=1.108,<2

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

# A stock LiteLLM proxy for tests/providers/test_litellm_proxy.py, in a venv of its own: litellm[proxy] pins
# starlette and rich versions that clash with ours. A failed install (no such package on the index, no network)
# does not fail `make test`: that test then skips, naming the missing proxy, and the next `make test` tries again.
$(STAMP_LITELLM):
	@echo "installing $(LITELLM_PROXY) into $(LITELLM_VENV), a venv of its own for the LiteLLM proxy test"
	@rm -rf $(LITELLM_VENV)
	@if $(PYTHON) -m venv $(LITELLM_VENV) \
		&& $(LITELLM_VENV)/bin/python -m pip install --quiet --upgrade pip \
		&& $(LITELLM_VENV)/bin/python -m pip install --quiet '$(LITELLM_PROXY)'; then \
		touch $@; \
	else \
		rm -rf $(LITELLM_VENV); \
		echo "could not install $(LITELLM_PROXY) into $(LITELLM_VENV): the LiteLLM proxy test will skip"; \
	fi

test: $(STAMP_TEST) $(STAMP_LITELLM)
	$(BIN)/ruff check .
	$(BIN)/python -m pytest -q -n 3

$(STAMP_BENCH): pyproject.toml | $(STAMP_TEST)
	$(BIN)/python -m pip install --quiet -e '.[test,bench]'
	touch $@

# Speed, not behaviour: router overhead against bare httpx and litellm.Router, stream relay, start-up, the idle
# console and the monitor alone, streaming render, a fleet of 20 hosts × 5 providers. The 30-minute soak is `bench/soak.py` on its own.
bench: $(STAMP_BENCH)
	$(BIN)/python bench/router_overhead.py
	$(BIN)/python bench/stream_relay.py
	$(BIN)/python bench/startup.py
	$(BIN)/python bench/monitor_cpu.py --window 10
	$(BIN)/python bench/idle_cpu.py --quick --window 10
	$(BIN)/python bench/stream_render.py --setup one --seconds 10
	$(BIN)/python bench/fleet.py --window 10 --rounds 3

# SVGs of the six panes of the demo console at 120×36 (for the README) and at 80×24 (screenshots/80x24/).
screenshots: $(STAMP_RUN)
	$(BIN)/python scripts/screenshots.py --out screenshots

clean:
	rm -rf $(VENV) $(LITELLM_VENV) build dist *.egg-info
