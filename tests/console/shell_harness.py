"""Helpers shared by the shell, health, routes and demo tests: the monitor policy their Decks run, starting a Deck,
and reading the screen as text. Their fixtures (the lab, `deck`) are in the conftest files."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

from rich.console import Console
from textual.app import App

from config.schema import DeckConfig
from providers.deck import Deck
from providers.monitor import MonitorPolicy

FAST_MONITOR = MonitorPolicy(interval_s=2.0, fast_interval_s=0.2, probe_timeout_s=10.0)
"""Slow enough to leave the process idle between probes (Pilot waits for idle CPU); tests call probe_now."""


async def started_deck(config: DeckConfig, data_dir: Path, policy: MonitorPolicy = FAST_MONITOR) -> Deck:
    """A Deck over `config`, started; the caller stops it."""
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
