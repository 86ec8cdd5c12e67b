"""In the real process on a real pty: `y` writes the OSC 52 sequence that sets the terminal's clipboard (and, with
$TMUX set, the same sequence passed through tmux); the vim keys move a table's highlight and `o`/`O` sort it with
the arrow in its heading."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from console.clipboard import osc52, tmux_passthrough
from providers.emulators.lab import Lab
from tests.terminal.harness import RealTerminal, lab_config_yaml, real_terminal

MODEL = "mistral:7b"
FIRST_ROW = 4
"""The first table line of the Models pane: under the header, the pane tabs, the status line and the headings."""
TMUX = "/tmp/tmux-1000/default,4242,0"


def models_filtered_to_one(terminal: RealTerminal) -> None:
    terminal.press("2")
    terminal.wait_for_text("36 of 36 models")
    terminal.write(b"/mistral\r")
    terminal.wait_for_text("filter: mistral")
    terminal.wait_for_text("1 of 36 models")


@pytest.mark.parametrize("inside_tmux", [False, True], ids=["plain", "tmux"])
def test_y_writes_the_osc_52_sequence_with_the_model_name(lab: Lab, tmp_path: Path, inside_tmux: bool) -> None:
    text, env = lab_config_yaml(lab)
    (tmp_path / "config.yaml").write_text(text, encoding="utf-8")
    extra = {"TMUX": TMUX} if inside_tmux else {}
    with real_terminal(["--config", str(tmp_path / "config.yaml")], tmp_path, **env, **extra) as terminal:
        terminal.wait_for_text("Provider")
        models_filtered_to_one(terminal)
        assert b"]52;" not in terminal.raw
        terminal.press("y")
        plain = osc52(MODEL).encode()
        terminal.wait_until(lambda t: plain in t.raw, what="the OSC 52 sequence")
        terminal.wait_for_text("Copied")
        passed_through = tmux_passthrough(osc52(MODEL)).encode()
        if inside_tmux:
            terminal.wait_until(lambda t: passed_through in t.raw, what="the sequence passed through tmux")
        else:
            assert b"\x1bPtmux;" not in terminal.raw
        assert terminal.raw.count(b"]52;c;") == (2 if inside_tmux else 1), "one copy, one write (two in tmux)"
        terminal.press("ctrl+q")
        terminal.wait_exit()


def highlighted(terminal: RealTerminal) -> str:
    """The table line drawn in the cursor's colour: the one whose background no other line below the headings
    has (the others alternate two zebra colours, or are the empty space under the table)."""
    screen = terminal.screen
    backgrounds = {y: screen.buffer[y][1].bg for y in range(FIRST_ROW, screen.lines - 1)}
    counts = Counter(backgrounds.values())
    odd = [y for y, background in backgrounds.items() if counts[background] == 1]
    return screen.display[odd[0]] if len(odd) == 1 else ""


def model_of(line: str) -> tuple[str, ...]:
    """A table line's provider and model: what names the row while its live columns (loaded dot, latency) change."""
    return tuple(line.split()[:2])


def highlighted_model(terminal: RealTerminal) -> tuple[str, ...]:
    return model_of(highlighted(terminal))


def test_vim_keys_move_the_highlight_and_o_sorts_with_an_arrow(console: RealTerminal) -> None:
    console.press("2")
    console.wait_for_text("36 of 36 models")
    console.wait_until(lambda t: highlighted(t) and highlighted_model(t) == model_of(t.screen.display[FIRST_ROW]),
                       what="the highlight on the first row")
    first = highlighted_model(console)
    console.press("j")
    console.wait_until(lambda t: highlighted_model(t) == model_of(t.screen.display[FIRST_ROW + 1]),
                       what="j to move down a row")
    console.press("k")
    console.wait_until(lambda t: highlighted_model(t) == first, what="k to move back up")
    console.press("G")
    console.wait_until(lambda t: highlighted(t).split()[:1] == ["sd"] and "v1-5" in highlighted(t),
                       what="G to go to the last row (sd's last checkpoint)")
    console.press("g")
    console.wait_until(lambda t: highlighted_model(t) == first, what="g to go back to the first")
    console.press("ctrl+f")
    console.wait_until(lambda t: highlighted_model(t) not in ((), first), what="Ctrl-F to page down")
    console.press("ctrl+b")
    console.wait_until(lambda t: highlighted_model(t) == first, what="Ctrl-B to page back up")

    console.press("o")
    console.wait_for_text("sort: Provider ▲")
    assert "Provider ▲" in console.line_with("$/M"), "the heading of the sort column shows the arrow"
    console.press("O")
    console.wait_for_text("sort: Provider ▼")
    assert "Provider ▼" in console.line_with("$/M")
    console.wait_until(lambda t: highlighted_model(t) == first, what="the highlight to stay on its model")
