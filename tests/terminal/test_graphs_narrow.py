"""The Graphs pane in the real terminal at 80×24 and 120×36: drawn at once on arrival (the refresh interval is a
minute, so only the draw on show can put the plots up), one legend with every series, money on the cost axes
and in the summary, and nothing drawn outside a plot's box."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from providers.emulators.lab import Lab
from tests.terminal.harness import RealTerminal, lab_config_yaml, real_terminal

SIZES = [pytest.param((80, 24), id="80x24"), pytest.param((120, 36), id="120x36")]
SHOW_S = 30.0
"""Bounds a hang only; well under the one-minute refresh, so a timer tick cannot make the plots appear."""
PLOT_CELLS = re.compile("[\u2801-\u28ff█]")
"""What a plot draws: braille dots (lines) and full blocks (bars); the blank braille cell is not drawn."""
BORDERS = "│┤├"
SERIES = ("box-vllm", "cloud", "claude", "box-llamacpp")


def fire_route(terminal: RealTerminal, alias: str) -> None:
    terminal.press("t")
    terminal.wait_until(lambda t: f"test {alias}: served by" in t.text(), what=f"the test of {alias}")


def traffic_on_four_providers(terminal: RealTerminal, lab: Lab) -> None:
    """From the Routes pane: `chat` served by box-vllm, `cloud-chat` failing over from cloud to claude (two
    errors and a success), `fast` served by box-llamacpp."""
    terminal.press("4")
    terminal.wait_for_text("cloud-chat")
    fire_route(terminal, "chat")
    terminal.press(*["down"] * 4)  # past the chat route's four hops
    lab.set_faults("cloud", "503")
    try:
        fire_route(terminal, "cloud-chat")
    finally:
        lab.set_faults("cloud", "")
    terminal.press(*["down"] * 2)
    fire_route(terminal, "fast")


def drawn_outside_a_box(terminal: RealTerminal) -> list[str]:
    """Rows where a plot cell lies outside every box (a box is a left border and the next right border)."""
    bad = []
    for row in terminal.screen.display:
        borders = [i for i, char in enumerate(row) if char in BORDERS]
        boxes = list(zip(borders[::2], borders[1::2], strict=False))
        for match in PLOT_CELLS.finditer(row):
            if not any(left < match.start() < right for left, right in boxes):
                bad.append(row)
                break
    return bad


def plots_drawn(terminal: RealTerminal) -> bool:
    text = terminal.text()
    return "Latency p50" in text and "┤" in text and "now" in text and PLOT_CELLS.search(text) is not None


def money_axes(terminal: RealTerminal) -> bool:
    """The spend plot's y axis starts at `$0`, the cost-per-provider x axis reads `$0  $0.0001 …`."""
    screen = terminal.text()
    return "$0┤" in screen and re.search(r"\$0 +\$0\.\d+", screen) is not None


@pytest.mark.parametrize("size", SIZES)
def test_graphs_are_drawn_at_once_with_a_full_legend_money_axes_and_inside_their_boxes(
        lab: Lab, tmp_path: Path, size: tuple[int, int]) -> None:
    text, env = lab_config_yaml(lab)
    (tmp_path / "config.yaml").write_text(text + "ui: {refresh_s: 60}\n", encoding="utf-8")
    columns, lines = size
    with real_terminal(["--config", str(tmp_path / "config.yaml")], tmp_path, columns=columns, lines=lines,
                       **env) as terminal:
        terminal.wait_for_text("9/9 up")
        traffic_on_four_providers(terminal, lab)

        terminal.press("3")
        terminal.wait_until(plots_drawn, what="titles, axes and lines", timeout_s=SHOW_S)
        terminal.wait_until(lambda t: all(name in t.line_with("lines:") for name in SERIES),
                            what="a legend naming every series", timeout_s=SHOW_S)
        summary = terminal.line_with("range 5m")
        assert re.search(r"\$\d+\.\d+ spent today|spent today \$\d+\.\d+", summary), summary  # not cut
        # a frame caught half-written may mix two pictures for a moment; an overflow stays
        terminal.wait_until(lambda t: drawn_outside_a_box(t) == [], what="every plot inside its box")

        terminal.press("end")  # the plots scroll; the money plots are last
        terminal.wait_until(money_axes, what="the money plots' axes")
        screen = terminal.text()
        assert "0.000000" not in screen
        # a frame caught half-written may mix two pictures for a moment; an overflow stays
        terminal.wait_until(lambda t: drawn_outside_a_box(t) == [], what="every plot inside its box")
        assert "Traceback" not in terminal.raw.decode("utf-8", "replace")
