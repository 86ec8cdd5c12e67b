"""The Routes pane over the emulator lab: chains, live hop states, the serving hop, explain and test-fire."""

from __future__ import annotations

import asyncio
import time

from console.panes.routes import RoutesPane, hop_state
from console.screens.route_plan import RoutePlanScreen
from providers.deck import Deck
from providers.emulators.lab import Lab
from providers.routing import PlannedHop
from tests.console.pane_harness import PaneApp, wait_until

COL_NOW, COL_PROVIDER, COL_STATE = 0, 2, 4


def _cell(pane: RoutesPane, key: str, column: int) -> str:
    return str(pane.table.get_row(key)[column])


async def test_every_alias_is_listed_with_its_chain_and_serving_hop(deck: Deck) -> None:
    pane = RoutesPane(deck)
    async with PaneApp(pane, deck=deck).run_test(size=(120, 30)) as pilot:
        await pilot.pause()
        keys = pane.table.keys
        assert {"chat#0", "cloud-chat#0", "fast#0", "cheap#0"} <= set(keys)
        # chat → its two targets, then the cloud-chat fallback's two
        assert [_cell(pane, f"chat#{i}", COL_PROVIDER) for i in range(4)] == [
            "box-vllm", "local-ollama", "cloud", "claude"]
        assert _cell(pane, "chat#3", 5) == "cloud-chat"  # via the fallback alias
        await wait_until(pilot, lambda: _cell(pane, "chat#0", COL_NOW) == "▶", what="first hop serving")
        assert _cell(pane, "chat#1", COL_NOW) == ""


async def test_a_provider_going_down_changes_the_state_and_the_serving_hop(deck: Deck, lab: Lab) -> None:
    pane = RoutesPane(deck)
    async with PaneApp(pane, deck=deck).run_test(size=(120, 30)) as pilot:
        await wait_until(pilot, lambda: deck.monitor.status("box-vllm") == "up", what="box-vllm probed up")
        pane.sync()
        assert _cell(pane, "chat#0", COL_STATE) == "ready"
        rebuilds = pane.table.rebuilds
        await asyncio.to_thread(lab.set_faults, "box-vllm", "refuse")
        deck.monitor.probe_now("box-vllm")
        await wait_until(pilot, lambda: _cell(pane, "chat#0", COL_STATE) == "down", what="hop shown down")
        assert _cell(pane, "chat#0", COL_NOW) == ""
        assert _cell(pane, "chat#1", COL_NOW) == "▶"  # local-ollama would serve now
        assert pane.table.rebuilds == rebuilds
        await asyncio.to_thread(lab.set_faults, "box-vllm", "")
        deck.monitor.probe_now("box-vllm")
        await wait_until(pilot, lambda: _cell(pane, "chat#0", COL_NOW) == "▶", what="back to the first hop")


async def test_breaker_and_budget_states_show(deck: Deck) -> None:
    pane = RoutesPane(deck)
    async with PaneApp(pane, deck=deck).run_test(size=(160, 30)) as pilot:
        await pilot.pause()
        now = deck.router.clock()
        deck.router.breakers.get("cloud", "gpt-4o-mini").open_until(now, now + 40, "error rate 60%")
        deck.spend.add("claude", 5.0)  # the lab caps claude at $2 a day
        pane.sync()
        assert _cell(pane, "cloud-chat#0", COL_STATE).startswith("breaker open")
        assert _cell(pane, "cloud-chat#1", COL_STATE) == "over budget"
        assert "▶" not in {_cell(pane, "cloud-chat#0", COL_NOW), _cell(pane, "cloud-chat#1", COL_NOW)}


def test_rate_limited_hops_say_until_when() -> None:
    hop = PlannedHop("cloud", "gpt-4o-mini", "cheap", "skipped", "rate-limited (client rpm limit 5) for 42s")
    wall = time.mktime((2025, 1, 1, 12, 0, 0, 0, 0, -1))
    assert hop_state(hop, wall) == ("rate-limited until 12:00:42", "warning")
    down = PlannedHop("cloud", "gpt-4o-mini", "cheap", "skipped", "unhealthy (down)")
    assert hop_state(down, wall) == ("down", "error")


async def test_t_test_fires_the_route_and_shows_every_attempt(deck: Deck, lab: Lab) -> None:
    pane = RoutesPane(deck)
    async with PaneApp(pane, deck=deck).run_test(size=(120, 30)) as pilot:
        await wait_until(pilot, lambda: deck.monitor.status("box-vllm") == "up", what="box-vllm up")
        await asyncio.to_thread(lab.set_faults, "box-vllm", "500")  # fails at request time, health stays up
        pane.table.focus()
        pane.table.move_cursor(row=pane.table.keys.index("chat#0"))
        await pilot.press("t")
        await wait_until(pilot, lambda: "served by" in pane.last_test or "failed" in pane.last_test,
                         what="test-fire outcome")
        lines = pane.last_test.splitlines()
        assert "served by local-ollama/llama3.2:1b" in lines[0]
        assert lines[1].strip().startswith("1. box-vllm/") and "server_error" in lines[1]
        assert "local-ollama/" in lines[-1] and " ok " in lines[-1]  # after box-vllm's tries (one retry)


async def test_enter_shows_the_explain_plan(deck: Deck) -> None:
    pane = RoutesPane(deck)
    async with PaneApp(pane, deck=deck).run_test(size=(120, 30)) as pilot:
        await pilot.pause()
        pane.table.focus()
        pane.table.move_cursor(row=pane.table.keys.index("fast#0"))
        await pilot.press("enter")
        await wait_until(pilot, lambda: isinstance(pilot.app.screen, RoutePlanScreen), what="plan screen")
        body = str(pilot.app.screen.query_one("#plan-body").render())
        assert body.startswith("fast: lowest-latency")
        assert "fallbacks: chat" in body and "via chat" in body


async def test_filter_keeps_matching_hops(deck: Deck) -> None:
    pane = RoutesPane(deck)
    async with PaneApp(pane, deck=deck).run_test(size=(120, 30)) as pilot:
        await pilot.pause()
        pane.apply_filter("claude")
        assert pane.table.keys and all(_cell(pane, k, COL_PROVIDER) == "claude" for k in pane.table.keys)
        pane.apply_filter("!claude")
        assert all(_cell(pane, k, COL_PROVIDER) != "claude" for k in pane.table.keys)
