"""80×24 shows what matters, in the real process on a real pty (and the same at 160×48): Health keeps status,
version and the last error on screen, Routes keeps Via and `#`, Models tells two long names apart, the footer shows
whole labels only, the header keeps the filter text, and `W` brings back every column."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from textual.binding import Binding

from console.keymap import APP_BINDINGS
from console.panes.health import HealthPane
from console.panes.models import ModelsPane
from console.panes.models_table import ModelTable
from console.panes.routes import RoutesPane
from console.widgets.keyed_table import KeyedTable
from providers.emulators.lab import Lab
from tests.terminal.harness import CONSOLE_SIZES, RealTerminal, lab_console

DESCRIPTIONS = sorted({binding.description
                       for bindings in (APP_BINDINGS, HealthPane.BINDINGS, ModelsPane.BINDINGS, RoutesPane.BINDINGS,
                                        KeyedTable.BINDINGS, ModelTable.BINDINGS)
                       for binding in bindings if isinstance(binding, Binding)}, key=len, reverse=True)
"""Every label the footer may show on these panes, longest first (so `Cancel pull` is tried before `Cancel`)."""


@pytest.fixture(params=CONSOLE_SIZES)
def erring_console(request: pytest.FixtureRequest, lab: Lab, tmp_path: Path) -> Iterator[RealTerminal]:
    """The console over the lab with box-vllm failing from the start: a provider with a last error to show (the
    lab mends it after the test)."""
    lab.set_faults("box-vllm", "500")
    columns, lines = request.param
    with lab_console(lab, tmp_path, columns=columns, lines=lines) as terminal:
        terminal.wait_for_text("Provider")
        yield terminal
        terminal.press("ctrl+q")
        terminal.wait_exit()


def footer_labels(line: str) -> list[str]:
    """The footer line read as `KEY DESCRIPTION` labels; fails on any text that is not a whole label."""
    labels: list[str] = []
    rest = line.strip()
    while rest:
        key, _, after = rest.partition(" ")
        description = next((d for d in DESCRIPTIONS if after == d or after.startswith(d + " ")), None)
        assert description is not None, f"a cut or unknown label at {rest!r} in the footer {line!r}"
        labels.append(f"{key} {description}")
        rest = after[len(description):].lstrip(" ▏")
    return labels


def footer(terminal: RealTerminal) -> str:
    return terminal.screen.display[-1]


def heading_with(terminal: RealTerminal, *words: str) -> str:
    return next((line for line in terminal.screen.display if all(word in line for word in words)), "")


def test_health_keeps_status_version_vram_and_last_error_on_screen(erring_console: RealTerminal) -> None:
    erring_console.wait_until(lambda t: heading_with(t, "Status", "VRAM", "Version", "Last error"),
                              what="the Status, VRAM, Version and Last error headings")
    erring_console.wait_until(lambda t: "down" in t.line_with("box-vllm") and "engine" in t.line_with("box-vllm"),
                              what="box-vllm down with its last error in its row")
    erring_console.wait_until(lambda t: "0.12.6" in t.line_with("local-ollama"), what="Ollama's version in its row")
    erring_console.wait_until(lambda t: "? Help" in footer(t) and parses(footer(t)), what="the footer drawn whole")
    assert "? Help" in footer_labels(footer(erring_console))


def test_routes_keeps_via_and_the_hop_number(erring_console: RealTerminal) -> None:
    erring_console.wait_for_text("Last error")
    erring_console.press("4")
    erring_console.wait_until(lambda t: heading_with(t, "Alias", "State", "Via", "#"), what="the Via and # headings")
    # chat's third hop is served via its fallback alias: the Via cell and the hop number are both on screen
    erring_console.wait_until(lambda t: any("cloud-ch" in line and line.rstrip().endswith("3")
                                            for line in t.screen.display if "gpt-4o-mini" in line),
                              what="a hop via cloud-chat with its number")
    footer_labels(footer(erring_console))


def test_models_tells_two_long_names_apart(erring_console: RealTerminal) -> None:
    erring_console.wait_for_text("Last error")
    erring_console.press("2")
    erring_console.wait_for_text(" models · sort")

    def claude_sonnets(t: RealTerminal) -> list[str]:
        return [line.split()[1] for line in t.screen.display
                if line.startswith(" claude ") and "sonnet-4" in line]

    erring_console.wait_until(lambda t: len(set(claude_sonnets(t))) == 2
                              and (" Ld " in heading_with(t, "Provider", "Model") or t.screen.columns != 80),
                              what="two claude-sonnet-4 rows whose names differ on screen")
    assert all("20250" in name for name in claude_sonnets(erring_console)), "the tail of each name (its date) shows"
    footer_labels(footer(erring_console))


def test_the_footer_shows_only_whole_labels_on_every_table_pane(erring_console: RealTerminal) -> None:
    erring_console.wait_for_text("Last error")
    for key, marker, own in (("2", "of 34 models", "p Pull"), ("4", "Via", "t Test route"),
                             ("1", "Last error", "p Probe now")):
        erring_console.press(key)
        erring_console.wait_for_text(marker)
        # The pane's own footer, whole: the table may be on screen a frame before the footer is rewritten, and a
        # footer half rewritten is neither one (a footer that stays cut times out here, with the screen shown).
        erring_console.wait_until(lambda t, own=own: own in footer(t) and parses(footer(t)),
                                  what=f"the footer of the pane with {own!r}")
        labels = footer_labels(footer(erring_console))
        assert "? Help" in labels and own in labels, labels


def parses(line: str) -> bool:
    try:
        footer_labels(line)
    except AssertionError:
        return False
    return True


def test_the_header_keeps_the_filter_text(erring_console: RealTerminal) -> None:
    erring_console.wait_for_text("Last error")
    text = "!nothing-matches-this-filter"  # long enough that the header must shorten its other parts at 80
    erring_console.press("slash")
    erring_console.wait_for_text("filter: substring")
    erring_console.type(text)
    erring_console.press("enter")
    erring_console.wait_until(lambda t: f"filter: {text}" in t.screen.display[0], what="the filter in the header")
    assert "up" in erring_console.screen.display[0], "the providers count stays"


def test_w_toggles_the_wide_view_with_every_column(erring_console: RealTerminal) -> None:
    erring_console.wait_until(lambda t: heading_with(t, "Status", "Last error"), what="the Health table")
    erring_console.press("W")
    erring_console.wait_until(lambda t: heading_with(t, "Provider", "Trend"), what="the Trend column in the wide view")
    assert heading_with(erring_console, "Latency", "Breaker", "Loaded")
    erring_console.press("W")
    erring_console.wait_until(lambda t: heading_with(t, "Status", "Last error"), what="the fitted table again")
