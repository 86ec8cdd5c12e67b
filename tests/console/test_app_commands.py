"""The `:` command line with completion, the command palette, and ctrl+r."""

from __future__ import annotations

from console.app import DeckApp
from console.screens.command_line import CommandLine
from console.screens.route_plan import RoutePlanScreen
from console.shell_commands import DeckCommandProvider
from providers.deck import Deck
from tests.console import shell_harness
from tests.console.shell_harness import wait_until

shared_lab, lab, deck = shell_harness.shared_lab, shell_harness.lab, shell_harness.deck  # fixtures


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
        await pilot.pause(0.3)
        await pilot.press("enter")
        await wait_until(pilot, lambda: isinstance(app.screen, RoutePlanScreen), what="palette ran :route cheap")


async def test_ctrl_r_probes_every_provider_now(deck: Deck) -> None:
    app = DeckApp(deck)
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_until(pilot, lambda: all(deck.monitor.probe_counts[n] >= 1 for n in deck.adapters),
                         what="first probes")
        before = dict(deck.monitor.probe_counts)
        await pilot.press("ctrl+r")
        # the monitor's own next round is ≥ 1.6 s after the first; ctrl+r's comes at once
        await wait_until(pilot, lambda: all(deck.monitor.probe_counts[n] > before[n] for n in deck.adapters),
                         timeout_s=1.2, what="a probe of every provider")
