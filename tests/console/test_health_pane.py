"""The Health pane over the emulator lab: every provider, live status changes in place, details, breakers."""

from __future__ import annotations

import asyncio
from dataclasses import replace

from console.bridge import DeckBridge
from console.panes.health import HealthPane, vram_text
from console.screens.provider_details import ProviderDetailsScreen, details_text
from providers.base import Health
from providers.deck import Deck
from providers.emulators.lab import Lab
from providers.monitor import HealthEvent
from tests.console.pane_harness import PaneApp, wait_until

NEVER_S = 3600.0
"""A clock that does not tick during a test."""
LAB_NAMES = {"local-ollama", "box-vllm", "box-llamacpp", "cloud", "claude", "sd", "comfy", "box-qdrant", "local-n8n"}


def _cell(pane: HealthPane, provider: str, column: int) -> str:
    """A cell of the row by its place in COLUMNS, shown or left out at this width."""
    return str(pane.table.cells(provider)[column])


def every_first_probe_drawn(pane: HealthPane) -> bool:
    """No row waits for its first probe (a first probe is a status change: drawn with its message)."""
    keys = set(pane.table.keys)
    return all(name in keys and "probing" not in _cell(pane, name, 1) for name in pane.deck.providers)


async def test_every_lab_provider_has_a_row_with_its_status(deck: Deck) -> None:
    pane = HealthPane(deck)
    async with PaneApp(pane, deck=deck).run_test(size=(160, 40)) as pilot:
        await wait_until(pilot, lambda: all("up" in _cell(pane, name, 1) for name in LAB_NAMES if name in
                                            pane.table.keys) and set(pane.table.keys) >= LAB_NAMES,
                         what="every provider up")
        assert "KV" in _cell(pane, "box-vllm", 6)  # vLLM reports its KV cache where others report VRAM
        assert "GiB" in _cell(pane, "comfy", 6)
        assert _cell(pane, "local-ollama", 7) != "—"  # Ollama says its version


async def test_rows_are_grouped_by_host(deck: Deck) -> None:
    pane = HealthPane(deck)
    async with PaneApp(pane, deck=deck).run_test(size=(120, 30)) as pilot:
        await pilot.pause()
        keys = pane.table.keys
        assert keys.index("host:box") < keys.index("box-vllm") < keys.index("host:this-box")
        assert keys.index("host:this-box") < keys.index("local-ollama")
        assert keys[-2:] == ["cloud", "claude"] or {"cloud", "claude"} <= set(keys[keys.index("host:") :])


async def test_a_refused_provider_turns_down_in_place(deck: Deck, lab: Lab) -> None:
    pane = HealthPane(deck)
    async with PaneApp(pane, deck=deck).run_test(size=(160, 40)) as pilot:
        await wait_until(pilot, lambda: "up" in _cell(pane, "box-vllm", 1), what="box-vllm up")
        rebuilds = pane.table.rebuilds
        await asyncio.to_thread(lab.set_faults, "box-vllm", "refuse")
        deck.monitor.probe_now("box-vllm")
        await wait_until(pilot, lambda: "down" in _cell(pane, "box-vllm", 1), what="box-vllm down")
        assert _cell(pane, "box-vllm", 8) != ""  # the last error says why
        assert _cell(pane, "box-vllm", 2) == "—"  # no latency for a server that did not answer
        assert pane.table.rebuilds == rebuilds  # cells were updated, the table was not rebuilt


async def test_at_80_columns_the_selected_providers_error_is_in_the_summary(deck: Deck, lab: Lab) -> None:
    pane = HealthPane(deck)
    async with PaneApp(pane, deck=deck).run_test(size=(80, 24)) as pilot:
        await wait_until(pilot, lambda: "up" in _cell(pane, "box-vllm", 1), what="box-vllm up")
        await asyncio.to_thread(lab.set_faults, "box-vllm", "refuse")
        deck.monitor.probe_now("box-vllm")
        await wait_until(pilot, lambda: "down" in _cell(pane, "box-vllm", 1), what="box-vllm down")
        summary = pane.query_one("#health-summary")
        pane.table.focus()
        pane.table.move_cursor(row=pane.table.keys.index("box-vllm"))
        await wait_until(pilot, lambda: "▸ box-vllm: " in str(summary.render()), what="the error in the summary")
        assert _cell(pane, "box-vllm", 8).split(":")[0] in str(summary.render())
        pane.table.move_cursor(row=pane.table.keys.index("local-ollama"))
        await wait_until(pilot, lambda: "▸" not in str(summary.render()), what="no error for a healthy provider")


async def test_a_hidden_pane_does_not_render_and_catches_up_when_shown(deck: Deck, lab: Lab) -> None:
    pane = HealthPane(deck)
    async with PaneApp(pane, deck=deck).run_test(size=(160, 40)) as pilot:
        await wait_until(pilot, lambda: "up" in _cell(pane, "box-llamacpp", 1), what="box-llamacpp up")
        pane.display = False
        await pilot.pause()
        updates = pane.table.cell_updates
        await asyncio.to_thread(lab.set_faults, "box-llamacpp", "refuse")
        deck.monitor.probe_now("box-llamacpp")
        await wait_until(pilot, lambda: deck.monitor.status("box-llamacpp") == "down", what="probe down")
        await pilot.pause(0.1)
        assert pane.table.cell_updates == updates
        pane.display = True
        await wait_until(pilot, lambda: "down" in _cell(pane, "box-llamacpp", 1), what="caught up on show")


async def test_an_open_breaker_shows_with_its_countdown(deck: Deck) -> None:
    pane = HealthPane(deck)
    async with PaneApp(pane, deck=deck).run_test(size=(160, 40)) as pilot:
        await pilot.pause()
        now = deck.router.clock()
        deck.router.breakers.get("cloud", "gpt-4o-mini").open_until(now, now + 30, "5 failures in a row")
        pane.sync()
        assert _cell(pane, "cloud", 4).startswith("open 3")  # 30s or 29s, depending on the clock's tick
        assert _cell(pane, "claude", 4) == "closed"


async def test_enter_opens_the_details_with_raw_health_and_metrics(deck: Deck) -> None:
    pane = HealthPane(deck)
    async with PaneApp(pane, deck=deck).run_test(size=(120, 40)) as pilot:
        await wait_until(pilot, lambda: "up" in _cell(pane, "box-vllm", 1), what="box-vllm up")
        pane.table.focus()
        pane.table.move_cursor(row=pane.table.keys.index("box-vllm"))
        await pilot.press("enter")
        await wait_until(pilot, lambda: isinstance(pilot.app.screen, ProviderDetailsScreen), what="details")
        body = str(pilot.app.screen.query_one("#details-body").render())
        assert "version" in body and "0.10.1.1" in body
        assert "metrics.kv_cache_usage" in body
        assert "last 1 min" in body
        await pilot.press("escape")
        await wait_until(pilot, lambda: not isinstance(pilot.app.screen, ProviderDetailsScreen), what="closed")


async def test_details_mark_a_tokens_per_s_made_of_counted_tokens(deck: Deck) -> None:
    # What the deck records for a server that sent no usage (llama-cpp-python): its tokens counted by llmdeck.
    deck.metrics.record("box-llamacpp", "tiny", ok=True, latency_ms=80.0, ttft_ms=10.0, completion_tokens=14,
                        tokens_estimated=True)
    deck.metrics.record("box-vllm", "llama", ok=True, latency_ms=80.0, ttft_ms=10.0, completion_tokens=14)
    assert "; ~200 tok/s;" in details_text(deck, "box-llamacpp", [])
    reported = details_text(deck, "box-vllm", [])
    assert "; 200 tok/s;" in reported and "~" not in reported


async def test_filter_narrows_and_bang_inverts(deck: Deck) -> None:
    pane = HealthPane(deck)
    async with PaneApp(pane, deck=deck).run_test(size=(120, 30)) as pilot:
        await pilot.pause()
        pane.apply_filter("llamacpp")
        assert [k for k in pane.table.keys if not k.startswith("host:")] == ["box-llamacpp"]
        pane.apply_filter("!llamacpp")
        assert "box-llamacpp" not in pane.table.keys and "box-vllm" in pane.table.keys
        pane.apply_filter("")
        assert set(pane.table.keys) >= LAB_NAMES


def test_vram_column_uses_what_each_backend_reports() -> None:
    assert vram_text(Health("up", vram_used_bytes=3 * 2**30, vram_total_bytes=24 * 2**30)) == "3.0/24.0 GiB"
    assert vram_text(Health("up", metrics={"kv_cache_usage": 0.42})) == "KV 42%"
    assert vram_text(Health("up", metrics={"slots_busy": 1, "slots_total": 4})) == "slots 1/4"
    assert vram_text(Health("up")) == "—"


async def test_a_status_change_is_drawn_with_its_message_and_a_latency_change_on_the_next_tick(deck: Deck) -> None:
    pane = HealthPane(deck)
    app = PaneApp(pane, deck=deck, clock_s=NEVER_S)  # the test ticks the clock itself
    async with app.run_test(size=(160, 40)) as pilot:
        await wait_until(pilot, lambda: "up" in _cell(pane, "box-vllm", 1) and every_first_probe_drawn(pane),
                         what="box-vllm up and every provider probed")
        await deck.stop_probing()  # from here on only the messages below tell the pane anything
        before = deck.monitor.snapshots["box-vllm"]
        slower = replace(before, latency_ms=98_765.0)
        deck.monitor.snapshots["box-vllm"] = slower
        pane.on_deck_bridge_health_changed(DeckBridge.HealthChanged(
            (HealthEvent("box-vllm", slower, before, changed=False, at=0.0),)))
        await pilot.pause()
        assert "98765" not in _cell(pane, "box-vllm", 2) and pane.needs_clock()
        app.clock_tick()
        assert "98765" in _cell(pane, "box-vllm", 2) and not pane.needs_clock()
        degraded = replace(slower, status="degraded", detail="queue full")
        deck.monitor.snapshots["box-vllm"] = degraded
        pane.post_message(DeckBridge.HealthChanged((HealthEvent("box-vllm", degraded, slower, changed=True, at=0.0),)))
        await wait_until(pilot, lambda: "degraded" in _cell(pane, "box-vllm", 1), what="the status change drawn")
        assert app.clock_ticks == 1  # the one the test made: the message drew it
