"""Graphs pane over a Deck that served real chats through the lab: it draws them; + / - / f change its state."""

from __future__ import annotations

import pytest

from console.panes.graphs import DEFAULT_RANGE_S, RANGES_S, GraphsPane
from providers.base import ChatRequest, Message
from providers.deck import Deck
from providers.emulators.lab import Lab
from tests.console.models_graphs_harness import PaneApp, wait_until


@pytest.fixture(autouse=True)
async def quiet(lab_deck: Deck) -> None:
    """Graphs read request metrics, not health: stop the fast monitor so Pilot's idle waits stay short."""
    await lab_deck.monitor.stop()


async def chat(deck: Deck, target: str, text: str = "hello") -> None:
    run = await deck.chat(target, ChatRequest(model="", messages=(Message("user", text),), max_tokens=8))
    assert run.error is None


async def test_graphs_draw_latency_tokens_and_cost_after_chats(lab_deck: Deck) -> None:
    for target in ("chat", "chat", "cloud-chat"):
        await chat(lab_deck, target)
    pane = GraphsPane(lab_deck, refresh_s=0.1)
    app = PaneApp(lab_deck, pane)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_until(pilot, lambda: pane.view is not None, what="the first draw")
        view = pane.view
        assert view is not None and view.requests == 3
        assert {line.label for line in view.latency_p50} == {"box-vllm", "cloud"}
        assert all(y > 0 for line in view.latency_p95 + view.ttft_p50 + view.tokens_per_s for y in line.ys)
        assert dict(view.cost_by_provider)["cloud"] > 0
        assert view.cumulative_spend.ys[-1] == sum(cost for _, cost in view.cost_by_provider)
        plot = pane.query_one("#plot-latency_p50")
        await wait_until(pilot, lambda: "box-vllm" in plot.render().plain, what="the legend")
        assert "now" in plot.render().plain

        pane.apply_filter("vllm")
        assert pane.view is not None and [line.label for line in pane.view.latency_p50] == ["box-vllm"]
        pane.apply_filter("!vllm")
        assert pane.view is not None and [line.label for line in pane.view.latency_p50] == ["cloud"]


async def test_errors_are_drawn_by_class(lab_deck: Deck, lab: Lab) -> None:
    lab.set_faults("cloud", "503")  # cloud-chat fails over from cloud to claude
    await chat(lab_deck, "cloud-chat")
    pane = GraphsPane(lab_deck, refresh_s=0.1)
    app = PaneApp(lab_deck, pane)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_until(pilot, lambda: pane.view is not None, what="the first draw")
        assert pane.view is not None and dict(pane.view.errors_by_kind).get("overloaded", 0) >= 1
        assert [line.label for line in pane.view.latency_p50] == ["claude"]
        bars = pane.query_one("#plot-errors_by_kind")
        await wait_until(pilot, lambda: "overloaded" in bars.render().plain, what="the error bar")


async def test_plus_minus_change_the_range_and_f_freezes_the_picture(lab_deck: Deck) -> None:
    await chat(lab_deck, "chat")
    pane = GraphsPane(lab_deck, refresh_s=0.05)
    app = PaneApp(lab_deck, pane)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_until(pilot, lambda: pane.view is not None, what="the first draw")
        assert pane.window_s == DEFAULT_RANGE_S
        await pilot.press("plus")
        assert pane.window_s > DEFAULT_RANGE_S and pane.view is not None and pane.view.window_s == pane.window_s
        await pilot.press("minus", "minus")
        assert pane.window_s < DEFAULT_RANGE_S
        for _ in RANGES_S:
            await pilot.press("minus")
        assert pane.window_s == RANGES_S[0]
        status = pane.query_one("#graphs-status")
        assert "range 1m" in str(status.render())

        await pilot.press("f")
        assert pane.frozen and "FROZEN" in str(status.render())
        frozen_view, draws = pane.view, pane.draws
        await chat(lab_deck, "chat")
        await pilot.pause(0.3)  # several ticks
        assert pane.view == frozen_view and pane.draws == draws
        await pilot.press("f")
        assert not pane.frozen
        await wait_until(pilot, lambda: pane.view is not None and pane.view.requests == 2, what="the live view")


async def test_a_hidden_pane_does_not_redraw(lab_deck: Deck) -> None:
    pane = GraphsPane(lab_deck, refresh_s=0.05)
    app = PaneApp(lab_deck, pane)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_until(pilot, lambda: pane.view is not None, what="the first draw")
        pane.display = False
        await pilot.pause(0.1)
        draws = pane.draws
        await chat(lab_deck, "chat")
        await pilot.pause(0.3)
        assert pane.draws == draws
        pane.display = True
        await wait_until(pilot, lambda: pane.view is not None and pane.view.requests == 1, what="the redraw on show")
