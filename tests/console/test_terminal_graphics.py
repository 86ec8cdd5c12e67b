"""Choosing the Images preview: textual-image only on a local terminal that answered, half-block otherwise; and
textual-image (whose import queries the terminal) is never imported by the app, the Images pane or its tests."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path

import pytest

from console import terminal_graphics
from console.terminal_graphics import preview_protocol, probe, should_probe

ROOT = Path(__file__).resolve().parents[2]
LOCAL: dict[str, str] = {"TERM": "xterm-kitty"}


@pytest.mark.parametrize("environ", [{"SSH_CONNECTION": "10.0.0.2 51000 10.0.0.1 22"}, {"TMUX": "/tmp/tmux-1/x,1,0"}])
def test_ssh_or_tmux_is_half_block_and_never_probed(environ: dict[str, str]) -> None:
    assert not should_probe("auto", environ, stdout_is_tty=True)
    for setting in ("auto", "kitty", "sixel", "iterm2"):
        assert preview_protocol(setting, environ, detected="sixel") == "halfblock"


@pytest.mark.parametrize("setting", ["halfblock", "none"])
def test_halfblock_and_none_settings_win_and_skip_the_probe(setting: str) -> None:
    assert not should_probe(setting, LOCAL, stdout_is_tty=True)
    assert preview_protocol(setting, LOCAL, detected="kitty") == setting


def test_without_a_tty_nothing_is_probed_and_the_preview_is_half_block() -> None:
    assert not should_probe("auto", LOCAL, stdout_is_tty=False)
    assert probe("auto", LOCAL, io.StringIO()) == terminal_graphics.detected() == "none"
    assert preview_protocol("auto", LOCAL, detected=terminal_graphics.detected()) == "halfblock"
    assert "textual_image" not in sys.modules


def test_auto_on_a_local_tty_probes_and_uses_what_was_detected() -> None:
    assert should_probe("auto", LOCAL, stdout_is_tty=True)
    assert preview_protocol("auto", LOCAL, detected="sixel") == "sixel"
    assert preview_protocol("auto", LOCAL, detected="kitty") == "kitty"
    assert preview_protocol("auto", LOCAL, detected="none") == "halfblock"


@pytest.mark.parametrize("environ", [
    {"TERM": "xterm-256color", "KITTY_WINDOW_ID": "1"}, {"TERM": "xterm-256color", "TERM_PROGRAM": "WezTerm"},
    {"TERM": "xterm-ghostty"}, {"TERM": "foot"}, {"TERM": "xterm-256color", "KONSOLE_VERSION": "240202"},
])
def test_auto_probes_terminals_known_to_draw_pictures(environ: dict[str, str]) -> None:
    assert should_probe("auto", environ, stdout_is_tty=True)


def test_auto_on_a_plain_terminal_skips_the_probe_unless_a_protocol_is_named() -> None:
    plain = {"TERM": "xterm-256color", "TERM_PROGRAM": "Apple_Terminal"}
    assert not should_probe("auto", plain, stdout_is_tty=True)
    assert preview_protocol("auto", plain, detected=terminal_graphics.detected()) == "halfblock"
    for setting in ("kitty", "sixel", "iterm2"):
        assert should_probe(setting, plain, stdout_is_tty=True)


def test_a_forced_protocol_applies_only_where_graphics_were_detected() -> None:
    assert preview_protocol("kitty", LOCAL, detected="sixel") == "kitty"
    assert preview_protocol("sixel", LOCAL, detected="kitty") == "sixel"
    assert preview_protocol("iterm2", LOCAL, detected="sixel") == "sixel"
    assert preview_protocol("kitty", LOCAL, detected="none") == "halfblock"


CHECK_IMPORTS = """
import asyncio, sys, tempfile
from pathlib import Path
from textual.app import App
import console.app
import console.commands.tui
from config.schema import DeckConfig
from console import terminal_graphics
from console.panes.images import ImagesPane
from console.widgets.image_view import ImageView
from console.widgets.png_decode import decode_png
from providers.deck import Deck
from providers.emulators.png import gradient_png

assert terminal_graphics.probe("auto") == "none"
before = sorted(name for name in sys.modules if name.split(".")[0] in ("textual_image", "PIL"))
print("at start:", before)

class PaneApp(App[None]):
    def __init__(self, pane):
        super().__init__()
        self.pane = pane
    def compose(self):
        yield self.pane

async def main():
    deck = Deck(DeckConfig(), Path(tempfile.mkdtemp()))
    pane = ImagesPane(deck)
    async with PaneApp(pane).run_test(size=(80, 24)) as pilot:
        pane.show_image(decode_png(gradient_png(16, 16, 1)), "x.png")
        await pilot.pause()
        assert pane.preview == "halfblock" and pane.query_one(ImageView).image is not None
    await deck.client.aclose()

asyncio.run(main())
loaded = sorted(name for name in sys.modules if name.split(".")[0] == "textual_image")
print("loaded:", loaded)
"""


def test_the_app_and_the_images_pane_never_import_textual_image() -> None:
    environ = {k: v for k, v in os.environ.items() if k not in ("SSH_CONNECTION", "TMUX")}
    done = subprocess.run([sys.executable, "-c", CHECK_IMPORTS], cwd=ROOT, env=environ, capture_output=True,
                          text=True, timeout=60, stdin=subprocess.DEVNULL, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "at start: []" in done.stdout  # Pillow is loaded by the first image decoded, not at start-up
    assert "loaded: []" in done.stdout
