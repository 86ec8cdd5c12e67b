"""Shared by the console tests: a started Deck over the lab whose monitor leaves Pilot idle between probes, and
the way to stop the monitor of `lab_deck` for panes that do not read health."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from providers.deck import Deck
from providers.emulators.lab import Lab
from tests.console.shell_harness import started_deck


@pytest.fixture
async def deck(lab: Lab, tmp_path: Path) -> AsyncIterator[Deck]:
    """A started Deck over the lab with FAST_MONITOR, and its own data dir."""
    running = await started_deck(lab.config, tmp_path / "deck-data")
    yield running
    await running.stop()


@pytest.fixture
async def monitor_stopped(lab_deck: Deck) -> None:
    """`lab_deck` without its fast monitor, so Pilot's idle waits stay short (for panes that do not read health)."""
    await lab_deck.monitor.stop()
