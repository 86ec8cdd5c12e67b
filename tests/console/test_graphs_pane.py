"""Graphs pane over a Deck that served real chats through the lab: it draws them; + / - / f change its state."""

from __future__ import annotations

import re

import pytest
from rich.cells import cell_len

from console.panes.graphs import DEFAULT_RANGE_S, PALETTE, PLOT_MIN_HEIGHT, RANGES_S, GraphsPane
from console.panes.graphs_view import assign_colors
from console.widgets.axis_labels import money, nice_ticks, tick_labels
from console.widgets.plots import DeckPlot, TimePlot
from providers.base import ChatRequest, Message
from providers.deck import Deck
from providers.emulators.lab import Lab
from tests.console.pane_harness import PaneApp, wait_until

pytestmark = pytest.mark.usefixtures("monitor_stopped")  # Graphs read request metrics, not health


async def chat(deck: Deck, target: str, text: str = "hello") -> None:
    run = await deck.chat(target, ChatRequest(model="", messages=(Message("user", text),), max_tokens=8))
    assert run.error is None


async def test_graphs_draw_latency_tokens_and_cost_after_chats(lab_deck: Deck) -> None:
    for target in ("chat", "chat", "cloud-chat"):
        await chat(lab_deck, target)
    pane = GraphsPane(lab_deck, refresh_s=0.1)
    app = PaneApp(pane, deck=lab_deck)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_until(pilot, lambda: pane.view is not None, what="the first draw")
        view = pane.view
        assert view is not None and view.requests == 3
        assert {line.label for line in view.latency_p50} == {"box-vllm", "cloud"}
        assert all(y > 0 for line in view.latency_p95 + view.ttft_p50 + view.tokens_per_s for y in line.ys)
        assert dict(view.cost_by_provider)["cloud"] > 0
        assert view.cumulative_spend.ys[-1] == sum(cost for _, cost in view.cost_by_provider)
        plot = pane.query_one("#plot-latency_p50", TimePlot)
        await wait_until(pilot, lambda: "now" in plot.render().plain, what="the plot")
        assert {"box-vllm", "cloud"} <= set(pane.legend_text.split())

        pane.apply_filter("vllm")
        assert pane.view is not None and [line.label for line in pane.view.latency_p50] == ["box-vllm"]
        pane.apply_filter("!vllm")
        assert pane.view is not None and [line.label for line in pane.view.latency_p50] == ["cloud"]


async def test_the_legend_marks_a_provider_whose_tokens_llmdeck_counted(lab_deck: Deck) -> None:
    await chat(lab_deck, "chat")  # box-vllm reports its usage
    # What the deck records for a server that sent no usage (llama-cpp-python): counted tokens, marked estimated.
    lab_deck.metrics.record("pyllama", "tiny-llama", ok=True, latency_ms=80.0, ttft_ms=10.0, completion_tokens=12,
                            tokens_estimated=True)
    pane = GraphsPane(lab_deck, refresh_s=0.1)
    async with PaneApp(pane, deck=lab_deck).run_test(size=(120, 40)) as pilot:
        await wait_until(pilot, lambda: pane.view is not None, what="the first draw")
        assert pane.view is not None and pane.view.estimated == ("pyllama",)
        assert "pyllama (~tokens est.)" in pane.legend_text
        assert "box-vllm (~" not in pane.legend_text


async def test_errors_are_drawn_by_class(lab_deck: Deck, lab: Lab) -> None:
    lab.set_faults("cloud", "503")  # cloud-chat fails over from cloud to claude
    await chat(lab_deck, "cloud-chat")
    pane = GraphsPane(lab_deck, refresh_s=0.1)
    app = PaneApp(pane, deck=lab_deck)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_until(pilot, lambda: pane.view is not None, what="the first draw")
        assert pane.view is not None and dict(pane.view.errors_by_kind).get("overloaded", 0) >= 1
        assert [line.label for line in pane.view.latency_p50] == ["claude"]
        bars = pane.query_one("#plot-errors_by_kind")
        await wait_until(pilot, lambda: "overloaded" in bars.render().plain, what="the error bar")


async def test_plus_minus_change_the_range_and_f_freezes_the_picture(lab_deck: Deck) -> None:
    await chat(lab_deck, "chat")
    pane = GraphsPane(lab_deck, refresh_s=0.05)
    app = PaneApp(pane, deck=lab_deck)
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
    app = PaneApp(pane, deck=lab_deck)
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


SIZES = [pytest.param((80, 24), id="80x24"), pytest.param((120, 36), id="120x36")]
FOUR = ("box-vllm", "cloud", "claude", "box-llamacpp")


async def traffic_on_four_providers(deck: Deck, lab: Lab) -> None:
    """chat → box-vllm, fast → box-llamacpp, and cloud-chat failing over from cloud (503) to claude."""
    await chat(deck, "chat")
    await chat(deck, "fast")
    lab.set_faults("cloud", "503")
    try:
        await chat(deck, "cloud-chat")
    finally:
        lab.set_faults("cloud", "")


@pytest.mark.parametrize("size", SIZES)
async def test_plots_are_drawn_on_arrival_not_on_the_first_tick(lab_deck: Deck, size: tuple[int, int]) -> None:
    await chat(lab_deck, "chat")
    pane = GraphsPane(lab_deck, refresh_s=3600)  # no tick within the test: only the draw on show can draw
    app = PaneApp(pane, deck=lab_deck)
    async with app.run_test(size=size) as pilot:
        plot = pane.query_one("#plot-latency_p50", TimePlot)
        await wait_until(pilot, lambda: "┤" in plot.render().plain and "now" in plot.render().plain,
                         what="axes and data")
        assert re.search("[\u2801-\u28ff]", plot.render().plain)  # the line itself
        assert pane.draws == 1


@pytest.mark.parametrize("size", SIZES)
async def test_every_plot_stays_inside_its_box_with_one_legend_and_money_axes(
        lab_deck: Deck, lab: Lab, size: tuple[int, int]) -> None:
    await traffic_on_four_providers(lab_deck, lab)
    pane = GraphsPane(lab_deck, refresh_s=3600)
    app = PaneApp(pane, deck=lab_deck)
    async with app.run_test(size=size) as pilot:
        await wait_until(pilot, lambda: pane.view is not None and all(p.size.height >= PLOT_MIN_HEIGHT
                                                                      for p in pane.query(DeckPlot)),
                         what="the plots laid out")
        assert pane.view is not None and set(pane.view.shown) == set(FOUR)
        for plot in pane.query(DeckPlot):
            rows = plot.render().plain.split("\n")
            assert len(rows) <= plot.size.height, plot.id
            assert all(cell_len(row) <= plot.size.width for row in rows), plot.id

        legend = pane.legend_text
        assert all(name in legend for name in FOUR), legend  # every series, not the three that fit
        assert len(set(pane.line_colors.values())) == len(FOUR)  # no two lines share a colour
        for name in ("latency_p50", "ttft_p50"):
            assert "box-vllm" not in pane.query_one(f"#plot-{name}", TimePlot).render().plain  # off the data

        cost = pane.query_one("#plot-cost_by_provider", DeckPlot).render().plain
        spend = pane.query_one("#plot-cumulative_spend", DeckPlot).render().plain
        assert "$0" in cost and "$0┤" in spend
        assert "0.000000" not in cost + spend
        spent = sum(lab_deck.spend.day.values())
        assert f"{money(spent)} spent today" in pane.status_text
        assert pane.status_text.index("spent today") < pane.status_text.index("live")  # the money before hints


async def test_line_colours_survive_a_redraw(lab_deck: Deck, lab: Lab) -> None:
    await traffic_on_four_providers(lab_deck, lab)
    pane = GraphsPane(lab_deck, refresh_s=3600)
    app = PaneApp(pane, deck=lab_deck)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_until(pilot, lambda: pane.view is not None, what="the first draw")
        before = dict(pane.line_colors)
        assert pane.view is not None and pane.view.shown[0] == "cloud"  # two failed tries and no success yet
        for _ in range(2):
            await chat(lab_deck, "fast")  # box-llamacpp becomes the busiest: the order changes, the colours do not
        pane.refresh_now()
        assert pane.view.shown[0] == "box-llamacpp"
        assert pane.line_colors == before


def test_assign_colors_keeps_colours_and_never_shares_one() -> None:
    first = assign_colors(["a", "b", "c"], {}, len(PALETTE))
    assert first == {"a": 0, "b": 1, "c": 2}
    assert assign_colors(["c", "a", "d"], first, len(PALETTE)) == {"c": 2, "a": 0, "d": 1}
    assert assign_colors(["x", "y"], {"x": 0, "y": 0}, len(PALETTE)) == {"x": 0, "y": 1}


def test_money_reads_as_money() -> None:
    assert money(0.00018) == "$0.0002"
    assert money(0) == "$0.00"
    assert money(0.42) == "$0.42"
    assert money(1234.0) == "$1.2k"
    assert money(0.0099) == "$0.01"


def test_axis_labels_share_one_unit_and_one_precision() -> None:
    ticks = nice_ticks(0.000177, 4)
    assert ticks[0] == 0 and ticks[-1] >= 0.000177
    assert tick_labels(ticks, money=True) == ["$0", "$0.0001", "$0.0002"]
    assert tick_labels(nice_ticks(15108, 4)) == ["0", "10k", "20k"]
    assert nice_ticks(3, 5, whole=True) == [0, 1, 2, 3]
