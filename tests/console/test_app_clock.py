"""One clock, driven by change: a deck message redraws the shown pane and the header at once (a dialog open or
not), without waiting for the clock; the clock's tick redraws only what moves with time alone (a breaker's
countdown), so an idle console redraws nothing."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from console.app import DeckApp
from console.panes.health import HealthPane
from console.screens.help import HelpScreen
from providers.deck import Deck
from providers.emulators.lab import Lab
from providers.monitor import MonitorPolicy
from tests.console import shell_harness
from tests.console.pane_harness import wait_until

SLOW_MONITOR = MonitorPolicy(interval_s=3600.0, fast_interval_s=3600.0, max_interval_s=3600.0, probe_timeout_s=10.0)
"""Each provider is probed once at the start, then only when a test asks: no probe arrives on its own."""
NEVER_S = 3600.0
"""A clock that does not tick during a test."""
FAST_S = 0.02
"""A clock that ticks many times while a test waits."""


@pytest.fixture
async def quiet_deck(lab: Lab, tmp_path: Path) -> AsyncIterator[Deck]:
    running = await shell_harness.started_deck(lab.config, tmp_path / "deck-data", SLOW_MONITOR)
    yield running
    await running.stop()


def status_of(pane: HealthPane, provider: str) -> str:
    return str(pane.table.cells(provider)[1])


def settled(app: DeckApp) -> bool:
    """Every provider's first probe drawn (a first probe changes a status, so it is drawn with its message)."""
    pane = app.panes["health"]
    assert isinstance(pane, HealthPane)
    keys = set(pane.table.keys)
    return all(name in keys and "probing" not in status_of(pane, name) for name in pane.deck.providers) and \
        not pane.changed


async def test_a_health_change_is_drawn_with_its_flush_not_on_a_tick(quiet_deck: Deck, lab: Lab) -> None:
    app = DeckApp(quiet_deck, clock_s=NEVER_S)
    async with app.run_test(size=(160, 40)) as pilot:
        pane = app.panes["health"]
        assert isinstance(pane, HealthPane)
        await wait_until(pilot, lambda: settled(app), what="every first probe drawn")
        header = str(app.status.render())
        flushes = app.bridge.delivered
        await asyncio.to_thread(lab.set_faults, "box-vllm", "refuse")
        quiet_deck.probe_now("box-vllm")
        await wait_until(pilot, lambda: "down" in status_of(pane, "box-vllm"), what="box-vllm drawn down")
        # A flush carried it, and no tick (the clock never ran). On a loaded box the probe's "probing" and its
        # result, or a late catalog, can come in flushes of their own: counting them exactly would test the load.
        assert app.bridge.delivered > flushes
        assert app.clock_ticks == 0
        assert str(app.status.render()) != header  # one provider fewer up, in the same pass


async def test_the_tick_redraws_an_idle_pane_only_while_a_countdown_is_shown(quiet_deck: Deck) -> None:
    app = DeckApp(quiet_deck, clock_s=FAST_S)
    async with app.run_test(size=(160, 40)) as pilot:
        pane = app.panes["health"]
        assert isinstance(pane, HealthPane)
        await wait_until(pilot, lambda: settled(app), what="every first probe drawn")
        table = pane.table
        # 25 ticks in a row that redraw nothing. A late deck message (a slow machine's last catalog or probe) may
        # redraw once, and is allowed to: the window then starts again. A clock that redraws never gets 25 quiet.
        window = {"ticks": app.clock_ticks, "drawn": (pane.syncs, table.cell_updates, table.rebuilds)}

        def quiet_for_25_ticks() -> bool:
            drawn = (pane.syncs, table.cell_updates, table.rebuilds)
            if drawn != window["drawn"]:
                window.update(ticks=app.clock_ticks, drawn=drawn)
                return False
            return app.clock_ticks >= window["ticks"] + 25

        await wait_until(pilot, quiet_for_25_ticks, what="25 ticks that redraw nothing")
        assert not pane.needs_clock()
        drawn = window["drawn"]
        assert isinstance(drawn, tuple)

        # A breaker opened by hand sends no deck message: one sync shows it, then the clock counts it down.
        now = quiet_deck.router.clock()
        quiet_deck.router.breakers.get("cloud", "gpt-4o-mini").open_until(now, now + 30, "5 failures in a row")
        pane.sync()
        shown = str(table.cells("cloud")[4])
        assert shown.startswith("open") and pane.needs_clock()
        await wait_until(pilot, lambda: str(table.cells("cloud")[4]) != shown, what="the countdown to move")
        assert table.rebuilds == drawn[2]  # a cell changed in place


async def test_deck_messages_reach_the_panes_and_the_header_while_a_dialog_is_open(quiet_deck: Deck,
                                                                                      lab: Lab) -> None:
    app = DeckApp(quiet_deck, clock_s=NEVER_S)
    async with app.run_test(size=(160, 40)) as pilot:
        pane = app.panes["health"]
        assert isinstance(pane, HealthPane)
        await wait_until(pilot, lambda: settled(app), what="every first probe drawn")
        header = str(app.status.render())
        await pilot.press("question_mark")
        assert isinstance(app.screen, HelpScreen)
        await asyncio.to_thread(lab.set_faults, "box-vllm", "refuse")
        quiet_deck.probe_now("box-vllm")
        await wait_until(pilot, lambda: "down" in status_of(pane, "box-vllm"), what="box-vllm drawn down")
        assert str(app.status.render()) != header
        assert isinstance(app.screen, HelpScreen)
