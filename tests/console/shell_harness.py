"""Shared by the shell, health, routes and demo tests: a module-wide lab, a Deck per test, and small helpers."""

from __future__ import annotations

import io
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import keyring
import pytest
from rich.console import Console
from textual.app import App

from config.schema import DeckConfig
from config.throwaway_keyring import use_throwaway_keyring
from providers.deck import Deck
from providers.emulators.lab import Lab, start_lab
from providers.monitor import MonitorPolicy

FAST_MONITOR = MonitorPolicy(interval_s=2.0, fast_interval_s=0.2, probe_timeout_s=10.0)
"""Slow enough to leave the process idle between probes (Pilot waits for idle CPU); tests call probe_now."""


@pytest.fixture(scope="module")
def shared_lab() -> Iterator[Lab]:
    """One unpaced lab per test module: starting seven servers per test would dominate the run time."""
    previous = keyring.get_keyring()
    running = start_lab(paced=False)
    use_throwaway_keyring(running.keys)
    yield running
    running.stop()
    keyring.set_keyring(previous)


@pytest.fixture
def lab(shared_lab: Lab) -> Iterator[Lab]:
    """The shared lab with every fault mended after the test."""
    yield shared_lab
    for name in shared_lab.servers:
        if shared_lab.servers[name].plan.faults or not shared_lab.servers[name].listening:
            shared_lab.set_faults(name, "")


@pytest.fixture
async def deck(lab: Lab, tmp_path: Path) -> AsyncIterator[Deck]:
    """A started Deck over the lab with a fast monitor, and its own data dir."""
    running = Deck(lab.config, tmp_path / "deck-data", monitor_policy=FAST_MONITOR)
    await running.start()
    yield running
    await running.stop()


async def started_deck(config: DeckConfig, data_dir: Path, policy: MonitorPolicy = FAST_MONITOR) -> Deck:
    running = Deck(config, data_dir, monitor_policy=policy)
    await running.start()
    return running


def screen_text(app: App[Any]) -> str:
    """What the terminal shows right now, as plain text."""
    width, height = app.size
    console = Console(width=width, height=height, file=io.StringIO(), force_terminal=True, record=True,
                      color_system="truecolor", legacy_windows=False, safe_box=False)
    console.print(app.screen._compositor.render_update(full=True, screen_stack=app._background_screens))
    return console.export_text()
