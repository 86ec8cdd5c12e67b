"""The `:` command line with completion, the command palette, and ctrl+r."""

from __future__ import annotations

from pathlib import Path

from textual.command import CommandList, CommandPalette

from console.app import DeckApp
from console.screens.command_line import CommandLine
from console.screens.route_plan import RoutePlanScreen
from console.shell_commands import DeckCommandProvider
from providers.deck import Deck
from providers.emulators.lab import Lab
from providers.monitor import MonitorPolicy
from tests.console.pane_harness import wait_until
from tests.console.shell_harness import started_deck


async def test_command_line_runs_commands_and_completes(deck: Deck) -> None:
    app = DeckApp(deck)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("colon", *"rou", "tab", "s", "enter")
        assert app.current_pane == "routes"
        await pilot.press("colon", *"route ch", "tab")
        assert isinstance(app.screen, CommandLine)
        assert app.screen.query_one("#command-input").value == ":route chat"  # type: ignore[attr-defined]
        await pilot.press("enter")
        await wait_until(pilot, lambda: isinstance(app.screen, RoutePlanScreen), what="plan screen")
        await pilot.press("escape", "colon", *"nonsense", "enter")
        await pilot.pause()
        assert any("unknown command :nonsense" in str(n.message) for n in app._notifications)
        await pilot.press("colon", "escape")
        assert not isinstance(app.screen, CommandLine)
        await pilot.press("colon", "q", "enter")
        await pilot.pause()
    assert app.return_code == 0


async def test_palette_offers_our_commands(deck: Deck) -> None:
    app = DeckApp(deck)
    async with app.run_test(size=(100, 30)) as pilot:
        entries = dict(DeckCommandProvider(app.screen)._entries())
        assert {":route chat", ":keys", ":q"} <= set(entries)
        await pilot.press("ctrl+p", *"route cheap")
        await wait_until(pilot, lambda: _palette_offers(app, ":route cheap"), what="the palette to find :route cheap")
        await pilot.press("enter")
        await wait_until(pilot, lambda: isinstance(app.screen, RoutePlanScreen), what="palette ran :route cheap")


def _palette_offers(app: DeckApp, command: str) -> bool:
    if not isinstance(app.screen, CommandPalette):
        return False
    options = app.screen.query_one(CommandList)
    highlighted = options.highlighted_option
    return highlighted is not None and command in str(highlighted.prompt)


async def test_ctrl_r_probes_every_provider_now(lab: Lab, tmp_path: Path) -> None:
    # the monitor's own rounds are 600 s apart: within the wait, only ctrl+r can probe again
    deck = await started_deck(lab.config, tmp_path / "data",
                              MonitorPolicy(interval_s=600, fast_interval_s=600, probe_timeout_s=5))
    try:
        app = DeckApp(deck)
        async with app.run_test(size=(100, 30)) as pilot:
            await wait_until(pilot, lambda: all(deck.monitor.probe_counts[n] >= 1 for n in deck.adapters),
                             what="first probes")
            before = dict(deck.monitor.probe_counts)
            await pilot.press("ctrl+r")
            await wait_until(pilot, lambda: all(deck.monitor.probe_counts[n] > before[n] for n in deck.adapters),
                             what="a probe of every provider")
    finally:
        await deck.stop()
