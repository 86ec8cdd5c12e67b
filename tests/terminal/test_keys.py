"""The console as a keyboard-only operator meets it, in the real process on a real pty, at 80×24 and 160×48:
the command line shows what is typed; every way of arriving at a pane gives that pane the keyboard and its
footer; a dialog opened from the command line takes the keyboard; keys typed ahead land where they belong."""

from __future__ import annotations

import pytest

from providers.emulators.lab import Lab
from tests.emulator_control import pulls_held
from tests.terminal.harness import RealTerminal


def footer(terminal: RealTerminal) -> str:
    return terminal.screen.display[-1]


def models_pane_has_the_keyboard(terminal: RealTerminal) -> None:
    """The footer shows the Models keys, Down moves in the table (the screen changes), `d` opens details."""
    terminal.wait_for_text("36 of 36 models")
    terminal.wait_until(lambda t: "Pull" in footer(t), what="the Models keys in the footer")
    before = terminal.look()
    terminal.press("down")
    terminal.wait_until(lambda t: t.look() != before, what="Down to move the highlight in the table")
    terminal.press("d")
    terminal.wait_until(lambda t: "provider " in t.text() and "operations" in t.text(), what="the model details")
    terminal.press("escape")
    terminal.wait_gone("operations")


def test_the_command_line_shows_what_is_typed_with_its_completion(console: RealTerminal) -> None:
    console.press("colon")
    console.type("rou")
    console.wait_until(lambda t: t.line_with(":rou").strip().startswith(":rou"), what="`:rou` in the input")
    console.press("tab")
    # completed to `:route` (common to :route and :routes): the hint now names that one command
    console.wait_until(lambda t: "— the explain plan of an alias" in t.text(), what="the completion to `:route`")
    console.type(" ch")
    console.press("tab")
    console.wait_until(lambda t: ":route chat" in t.text(), what="the completion to `:route chat`")
    line = console.line_with(":route chat")
    assert "▔" not in line and "▁" not in line, "the input shows text, not only its borders"
    console.press("enter")
    console.wait_for_text("box-vllm/")  # the plan of the `chat` route


@pytest.mark.parametrize("way", ["digit", "tab", "command", "palette"])
def test_every_way_of_arriving_at_a_pane_gives_it_the_keyboard(console: RealTerminal, way: str) -> None:
    if way == "digit":
        console.press("2")
    elif way == "tab":
        console.press("tab")
    elif way == "command":
        console.press("colon")
        console.type("models")
        console.press("enter")
    else:
        console.press("ctrl+p")
        console.wait_for_text("Search for commands")
        console.type(":models")
        console.wait_until(lambda t: "Models pane" in t.text(), what="the palette to offer :models")
        console.press("enter")
    models_pane_has_the_keyboard(console)
    # closing a dialog gives the keyboard back to the pane, too
    models_pane_has_the_keyboard(console)


def test_leaving_the_chat_with_esc_then_a_digit_gives_health_its_keys(console: RealTerminal) -> None:
    console.press("5")
    console.wait_until(lambda t: "Settings" in footer(t), what="the Chat keys in the footer")
    console.press("escape")
    console.wait_until(lambda t: "i Type" in footer(t), what="the prompt left (`i` types again)")
    console.press("1")
    console.wait_until(lambda t: "Probe now" in footer(t), what="the Health keys in the footer")
    assert "Settings" not in footer(console)


def test_a_dialog_opened_from_the_command_line_takes_the_keyboard(console: RealTerminal, lab: Lab) -> None:
    model = f"acme-{console.screen.columns}:1b"
    with pulls_held(lab.servers["local-ollama"]):
        console.press("colon")
        console.type(f"pull local-ollama {model}")
        console.press("enter")
        console.wait_for_text(f"Pull {model}")
        console.press("right", "enter")  # from Cancel to Pull, then press it
        console.wait_for_text("pulling ")
        console.wait_until(lambda t: "Pull" in footer(t), what="the Models keys after the dialog")


def test_keys_typed_ahead_land_in_the_command_line_and_the_filter(console: RealTerminal) -> None:
    console.write(b":models\r")  # one packet, as a fast typist over SSH sends it
    console.wait_for_text("36 of 36 models")
    console.write(b"/mistral\r")
    # "mistr" already leaves one model: wait for the whole word, then look at what it kept.
    console.wait_for_text("filter: mistral")
    console.wait_for_text("1 of 36 models")
