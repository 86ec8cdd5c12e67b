"""Outside text never drives the terminal: escape sequences, C0/C1 controls, bidi overrides and Rich markup from
a hostile backend, through the sanitiser, every CLI command and the console in a real pseudo-terminal."""

from __future__ import annotations

import itertools
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from textual.app import App, ComposeResult
from textual.widgets import Select

from config.loader import load_config
from console.app import DeckApp
from console.panes.image_form import ImageForm
from providers.base import ModelInfo
from providers.deck import Deck
from providers.safe_text import STREAM_HOLD_CHARS, TerminalSafeStream, one_line, terminal_safe
from tests.hostile.hostile_server import hostile_server
from tests.hostile.pty_console import PtyConsole, pty_console
from tests.hostile.terminal_corpus import (
    BEL,
    C1_CLEAR,
    CLEAR,
    ESCAPES,
    FORBIDDEN_IN_PIPE,
    FORBIDDEN_IN_PTY,
    MARKUP,
    MODEL_NAMES,
    OSC8_LINK,
    REPLY,
    RLO,
    bad_gateway_routes,
    hostile_ollama_routes,
    write_config,
)
from tests.waiting import HANG_S, wait_for_condition_sync

ROOT = Path(__file__).resolve().parents[2]

# --- the sanitiser ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("raw", "shown"), [
    (ESCAPES, "ABCD"),
    (OSC8_LINK, "click"),
    (CLEAR, ""),
    (C1_CLEAR, ""),
    (f"a{RLO}b\u2066c\u2069", "abc"),
    (f"ding{BEL}", "ding␇"),
    ("\x1b]52;c;never-ends", "␛]52;c;never-ends"),
    ("nul \x00 del \x7f nel \x85 esc \x1b", "nul ␀ del ␡ nel \ufffd esc ␛"),
    ("\x1b\x1b[1m", "␛"),
    ("over\rwrite", "over␍write"),
    ("crlf\r\nline\ttab", "crlf\nline\ttab"),
    ("bad \ud800 half", "bad \ufffd half"),
    ("\x1b(Bcharset \x1bcreset \x1b7save", "charset reset save"),
    ("\x1bPdcs\x1b\\ \x1b_apc\x9c \x9d0;osc\x07", "  "),
    ("\u200fmarks stay\u200e", "\u200fmarks stay\u200e"),
    (MARKUP[1], MARKUP[1]),
])
def test_terminal_safe_removes_sequences_and_shows_other_controls(raw: str, shown: str) -> None:
    assert terminal_safe(raw) == shown


def test_one_line_turns_line_breaks_and_tabs_into_spaces() -> None:
    assert one_line("a\nb\r\nc\rd\te\u2028f") == "a b c d e f"
    assert one_line(f"evil\x1b]0;PWNED\x1b\\name{RLO}") == "evilname"


UNSAFE = {*range(0x00, 0x20), 0x7F, *range(0x80, 0xA0), *range(0x202A, 0x202F), *range(0x2066, 0x206A),
          *range(0xD800, 0xE000)}
hostile_text = st.text(alphabet=st.one_of(
    st.sampled_from(["\x1b", "[", "]", "\\", "\x07", "\x9b", "\x9c", "\x9d", "\x90", "P", "_", "^", "X", ";", "0",
                     "?", "m", "J", "\r", "\n", "\t", RLO, "\u2066", "\ud800", "\x7f", "\x85", "a", "é", "漢"]),
    st.characters()), max_size=200)


@given(hostile_text)
@settings(max_examples=400, deadline=None)
def test_output_has_no_control_but_newline_and_tab_and_is_idempotent(text: str) -> None:
    shown = terminal_safe(text)
    assert not {ord(c) for c in shown} & (UNSAFE - {0x0A, 0x09})
    assert terminal_safe(shown) == shown
    line = one_line(text)
    assert not {ord(c) for c in line} & UNSAFE
    assert one_line(line) == line


@given(hostile_text, st.lists(st.integers(min_value=0, max_value=200), max_size=8))
@settings(max_examples=400, deadline=None)
def test_a_stream_cut_anywhere_shows_what_the_whole_text_shows(text: str, cuts: list[int]) -> None:
    stream = TerminalSafeStream()
    bounds = sorted({0, len(text), *(c for c in cuts if c < len(text))})
    pieces = [stream.feed(text[a:b]) for a, b in itertools.pairwise(bounds)]
    assert "".join(pieces) + stream.finish() == terminal_safe(text)


def test_a_stream_never_holds_more_than_its_bound() -> None:
    stream = TerminalSafeStream()
    shown = stream.feed("\x1b]52;c;" + "A" * (STREAM_HOLD_CHARS * 3))
    assert shown.startswith("␛]52;c;AAAA")  # too long to be waiting for its end: shown, harmless
    assert len(shown) > STREAM_HOLD_CHARS * 2


def test_ten_megabytes_of_hostile_text_take_linear_time() -> None:
    """Quadratic scanning of unfinished sequences would take hours here; each case takes a second or two."""
    script = textwrap.dedent("""
        from providers.safe_text import TerminalSafeStream, one_line, terminal_safe
        n = 10_000_000
        for text in ("\\x1b]" * (n // 2), "\\x1b[" + "0" * n, "\\x9d" * n, "\\x1b]" + "a" * n, "\\x1b[31mx" * (n // 6)):
            terminal_safe(text)
            one_line(text)
        stream = TerminalSafeStream()
        for _ in range(200_000):
            stream.feed("\\x1b]52;")
        print("done")
    """)
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=ROOT,
                            env={**os.environ, "PYTHONPATH": str(ROOT)}, timeout=HANG_S * 3, check=False)
    assert result.stdout.strip() == "done", result.stderr


# --- the CLI ---------------------------------------------------------------------------------------------------


def llmdeck(config: Path, *args: str) -> subprocess.CompletedProcess[bytes]:
    """The CLI as a subprocess writing to pipes (so Rich adds no styling of its own), wide enough not to wrap."""
    env = {**os.environ, "LLMDECK_CONFIG": str(config), "PYTHONPATH": str(ROOT), "COLUMNS": "250"}
    return subprocess.run([sys.executable, "-m", "console.cli", *args], capture_output=True, env=env, cwd=ROOT,
                          timeout=HANG_S, check=False)


def assert_clean(output: bytes) -> None:
    for forbidden in FORBIDDEN_IN_PIPE:
        assert forbidden not in output, (forbidden, output[-2000:])


@pytest.fixture
def config(tmp_path: Path) -> Path:
    with hostile_server(hostile_ollama_routes()) as evil, hostile_server(bad_gateway_routes()) as gateway:
        yield write_config(tmp_path / "config.yaml", evil.url, gateway.url)


def test_cli_chat_shows_the_answer_without_its_escapes(config: Path) -> None:
    result = llmdeck(config, "chat", "talk", "hi")
    assert_clean(result.stdout + result.stderr)
    assert result.returncode == 0, result.stderr
    assert result.stdout.decode() == terminal_safe(REPLY) + "\n"
    assert "start ABCD click  rtlolleh ␇bell [/x] [link=http://evil.example]gpt-4o[/link] [bold red]x" \
           in result.stdout.decode()


def test_cli_chat_json_keeps_the_text_exact_and_the_document_valid(config: Path) -> None:
    result = llmdeck(config, "chat", "talk", "hi", "--json")
    assert_clean(result.stdout + result.stderr)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["text"] == REPLY  # data for programs: exact, escaped by JSON


def test_cli_models_lists_hostile_names_as_plain_text(config: Path) -> None:
    result = llmdeck(config, "models", "--provider", "evil")
    assert_clean(result.stdout + result.stderr)
    assert result.returncode == 0, result.stderr
    shown = result.stdout.decode()
    for name in (*MARKUP, "evilname", "clipboard", "rtlabc", "c1csi", "altscreen"):
        assert name in shown
    names = {row["name"] for row in json.loads(llmdeck(config, "models", "--provider", "evil", "--json").stdout)}
    assert names == set(MODEL_NAMES)


def test_cli_health_shows_a_hostile_version_and_loaded_models_as_text(config: Path) -> None:
    result = llmdeck(config, "health")
    assert_clean(result.stdout + result.stderr)
    shown = result.stdout.decode()
    assert "0.5[/x]" in shown and "[/x], [link=http://evil.example]gpt-4o[/link], [bold red]x" in shown
    assert "gateway" in shown and "HTTP 502" in shown  # its HTML error body, as plain text


def test_cli_a_502_html_body_with_escapes_is_one_clean_error(config: Path) -> None:
    result = llmdeck(config, "chat", "gateway/m", "hi")
    assert_clean(result.stdout + result.stderr)
    assert result.returncode == 1
    last = result.stderr.decode().splitlines()[-1]
    assert last.startswith("llmdeck: ") and "<h1>[/x] upstream down</h1>" in last
    models = llmdeck(config, "models", "--provider", "gateway")
    assert_clean(models.stdout + models.stderr)
    assert models.returncode == 1 and models.stderr.decode().count("\n") == 1


def test_cli_route_explain_shows_markup_in_model_names_as_text(config: Path) -> None:
    result = llmdeck(config, "route", "explain", "marked")
    assert_clean(result.stdout + result.stderr)
    assert result.returncode == 0, result.stderr
    assert "[/x]" in result.stdout.decode() and "[bold red]x" in result.stdout.decode()


# --- the console in a real terminal ----------------------------------------------------------------------------


def assert_nothing_smuggled(console: PtyConsole) -> None:
    """What the hostile sequences carry never reaches the terminal (Textual's own ESC bytes are fine)."""
    written = bytes(console.raw)
    for forbidden in FORBIDDEN_IN_PTY:
        assert forbidden not in written, (forbidden, written[written.find(forbidden) - 300:][:600])


def test_console_shows_hostile_names_answers_and_picker_as_text_and_replays_them_safely(tmp_path: Path) -> None:
    home = tmp_path / "home"
    with hostile_server(hostile_ollama_routes()) as evil:
        config = write_config(tmp_path / "config.yaml", evil.url)
        with pty_console(["--config", str(config)], home) as console:
            console.wait_for("0.5[/x]")  # Health: the version column, probed
            console.press("d")  # the provider's details hold its version and loaded models
            console.wait_for("Last probe")
            console.wait_for("0.5[/x]")
            console.press("escape")
            console.wait_gone("Last probe")
            console.press("2")  # Models: the names as plain, stripped text
            console.wait_for("8 of 8 models")
            console.press("W")  # the wide view: every name whole, whatever width the columns were given
            for name in ("evilname", "[/x]", "[link=http://evil.example]gpt-4o[/link]", "rtlabc", "c1csi",
                         "altscreen", "clipboard"):
                console.wait_for(name)
            console.press("d")  # the first model's details: the server's modelfile, template, parameters
            console.wait_for("FROM evil")
            for text in ("LICENSE TIM", "stop [/x]", "{{ .Prompt }}"):
                console.wait_for(text)
            console.press("escape")
            console.wait_gone("FROM evil")
            console.press("5")  # Chat: the prompt has the focus
            console.wait_for("enter send")
            console.press(*"hi", "enter")
            console.wait_for("end-of-answer")
            console.wait_for("start ABCD click")
            console.wait_for("rtlolleh ␇bell [/x]")
            console.press("ctrl+t")  # the target picker lists the hostile names as text
            for name in ("evil/clipboard", "evil/[/x]", "evil/[bold red]x"):
                console.wait_for(name)
            console.press("escape")
            console.wait_gone("evil/clipboard")
            console.press("ctrl+s")
            exports = home / "data" / "exports"
            wait_for_condition_sync(lambda: exports.is_dir() and any(exports.iterdir()), what="the export")
            exported = next(exports.iterdir()).read_bytes()
            assert b"\x1b" not in exported and b"start ABCD click" in exported
            assert_nothing_smuggled(console)
            console.press("ctrl+q")
            assert console.wait_exit() == 0
        with pty_console(["--config", str(config)], home) as console:  # the saved session, replayed
            console.wait_for("evil")
            console.press("5")
            console.wait_for("end-of-answer")
            console.wait_for("start ABCD click")
            assert_nothing_smuggled(console)
            console.press("ctrl+q")
            assert console.wait_exit() == 0


def test_console_shows_a_502_html_body_as_one_clean_line_everywhere(tmp_path: Path) -> None:
    with hostile_server(bad_gateway_routes()) as gateway:
        config = tmp_path / "config.yaml"
        config.write_text(f"providers:\n  - {{name: gateway, kind: ollama, base_url: '{gateway.url}'}}\n"
                          "routes:\n  - {alias: broken, targets: [gateway/m]}\n", encoding="utf-8")
        with pty_console(["--config", str(config)], tmp_path / "home") as console:
            console.wait_for("HTTP 502")  # Health: the last error column
            console.press("2")  # Models: the status line says why the catalog is empty
            console.wait_for("gateway: HTTP 502: <html><head><title>502 Bad Gateway")
            console.press("5")  # Chat, on the only alias
            console.wait_for("enter send")
            console.press(*"hi", "enter")
            console.wait_for("✗ failed")
            console.wait_for("[/x] upstream down")
            assert_nothing_smuggled(console)
            console.press("ctrl+q")
            assert console.wait_exit() == 0


async def test_every_toast_is_plain_terminal_safe_text(tmp_path: Path) -> None:
    """Toasts quote errors, names and bodies: none is markup (a `[/x]` cannot crash the console) or raw escapes,
    whichever widget raises them."""
    with hostile_server(hostile_ollama_routes()) as evil:
        deck = Deck(load_config(write_config(tmp_path / "config.yaml", evil.url)), tmp_path / "data")
        await deck.start(monitor=False)
        try:
            app = DeckApp(deck)
            async with app.run_test(size=(120, 32)) as pilot:
                app.notify(f"model {MODEL_NAMES[3]} said {ESCAPES}", title=f"{MARKUP[0]}\x1b[2J")
                app.screen.notify(f"{MARKUP[0]} {MARKUP[1]} {OSC8_LINK}")  # a widget's notify asks for markup
                await pilot.pause()
                shown = [(n.title, n.message, n.markup) for n in app._notifications]
        finally:
            await deck.stop()
    assert shown == [("[/x]", "model evilname said ABCD", False),
                     ("", "[/x] [link=http://evil.example]gpt-4o[/link] click", False)]


async def test_image_checkpoint_names_are_offered_as_plain_safe_text() -> None:
    """An image server's checkpoint list feeds a Select: a `[/x]` there raised MarkupError in the catalog worker."""

    class FormApp(App[None]):
        def compose(self) -> ComposeResult:
            yield ImageForm(["sd"], id="form")

    app = FormApp()
    async with app.run_test(size=(100, 20)) as pilot:
        form = app.query_one(ImageForm)
        form.show_checkpoints([ModelInfo("sd", name, kind="image") for name in MODEL_NAMES])
        await pilot.pause()
        select = form.query_one("#images-checkpoint", Select)
        labels = [str(prompt) for prompt, _ in select._options if _ is not Select.NULL]
    assert labels == [one_line(name) for name in MODEL_NAMES]
    assert "evilname" in labels and MARKUP[0] in labels
