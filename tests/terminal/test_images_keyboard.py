"""The Images pane from the keyboard alone, in the real process on a real pty, at 80×24 and 160×48: arriving puts
the focus in the prompt; Tab/Shift-Tab and Down/Up walk the form without leaving the pane; a list opens only with
Enter or Space; Ctrl-G generates from any field; Esc leaves a text field so digits switch panes, and `i` types
again. The A1111 and ComfyUI emulators of the lab run unpaced; an A1111 job is held halfway so its progress is
seen however slow the machine."""

from __future__ import annotations

import json
from pathlib import Path

from providers.emulators.lab import Lab
from tests.emulator_control import image_jobs_held
from tests.terminal.harness import RealTerminal

FIELDS = ("backend", "model", "prompt", "negative", "size", "steps", "seed", "sampler")


def field_line(terminal: RealTerminal, label: str) -> str:
    """The form's row for `label` (labels sit at the left edge, one row per field)."""
    return next((line for line in terminal.screen.display if line.startswith(f"{label} ")), "")


def wait_field(terminal: RealTerminal, label: str, text: str) -> None:
    terminal.wait_until(lambda t: text in field_line(t, label), what=f"{text!r} in the {label} field")


def wait_focus(terminal: RealTerminal, label: str) -> None:
    """The keys line under the form names the field that has the focus."""
    terminal.wait_until(lambda t: any(line.startswith(f"{label}: ") for line in t.screen.display),
                        what=f"the focus on the {label} field")


def saved_images(home: Path) -> list[Path]:
    return sorted((home / "data" / "images").glob("*.png"))


def test_a_keyboard_only_flow_generates_and_saves_an_image(console: RealTerminal, lab: Lab, tmp_path: Path) -> None:
    console.press("6")
    wait_focus(console, "prompt")
    console.type("a lighthouse at dusk")
    wait_field(console, "prompt", "a lighthouse at dusk")
    console.press("tab")
    wait_focus(console, "negative")
    console.press("tab")
    wait_focus(console, "size")
    console.press("enter")  # the list opens with Enter
    console.wait_for_text("1024×1024")
    console.type("7")  # an open list picks by typing: the first size starting with 7
    console.press("enter")
    console.wait_until(lambda t: "768×768" in field_line(t, "size") and "1024×1024" not in t.text(),
                       what="768×768 chosen and the list closed")
    console.press("down")  # Down goes to the next field
    wait_focus(console, "steps")
    console.type("40")  # a short field is selected on arrival: typing replaces it
    wait_field(console, "steps", "40")
    with image_jobs_held(lab.servers["sd"]):
        console.press("ctrl+g")  # from the steps field
        console.wait_until(lambda t: "step 20/40" in t.text(), what="the job's progress")
        assert "%" in console.text()
    console.wait_for_text("saved · 768×768")
    wait_field(console, "prompt", "a lighthouse at dusk")
    [png] = saved_images(tmp_path)
    assert png.read_bytes().startswith(b"\x89PNG")
    sidecar = json.loads(png.with_suffix(".json").read_text(encoding="utf-8"))
    assert sidecar["provider"] == "sd"
    assert sidecar["request"]["prompt"] == "a lighthouse at dusk"
    assert (sidecar["request"]["steps"], sidecar["request"]["width"]) == (40, 768)


def test_tab_and_arrows_walk_the_form_and_lists_open_only_with_enter_or_space(console: RealTerminal,
                                                                                 tmp_path: Path) -> None:
    console.press("6")
    wait_focus(console, "prompt")
    start = FIELDS.index("prompt")
    for step in range(1, len(FIELDS) + 1):  # once around the form, back to the prompt: Tab never left the pane
        console.press("tab")
        wait_focus(console, FIELDS[(start + step) % len(FIELDS)])
    assert field_line(console, "sampler") and "Provider" not in console.text()
    for key, field in (("down", "negative"), ("down", "size"), ("up", "negative"), ("up", "prompt")):
        console.press(key)  # Down/Up move between fields too, from a text field as from a list
        wait_focus(console, field)
    console.press("shift+tab")
    wait_focus(console, "model")
    console.press("up")
    wait_focus(console, "backend")
    console.type("comfy")  # letters do not open the list (nor pick from it)
    console.press("down")
    wait_focus(console, "model")
    assert "cloud" not in console.text() and "sd" in field_line(console, "backend")
    console.press("up")
    wait_focus(console, "backend")
    console.press("space")  # the list opens with Space
    console.wait_for_text("cloud")
    console.type("c")  # an open list picks by typing: comfy, the first starting with c
    console.press("enter")
    console.wait_until(lambda t: "comfy" in field_line(t, "backend") and "cloud" not in t.text(),
                       what="comfy chosen and the list closed")
    console.press("i")
    wait_focus(console, "prompt")
    console.type("a red kite")
    wait_field(console, "prompt", "a red kite")
    console.press("shift+tab")
    wait_focus(console, "model")
    console.press("shift+tab")
    wait_focus(console, "backend")
    console.press("ctrl+g")  # from a list, not a text field
    console.wait_for_text("saved · 512×512")
    [png] = saved_images(tmp_path)
    sidecar = json.loads(png.with_suffix(".json").read_text(encoding="utf-8"))
    assert (sidecar["provider"], sidecar["request"]["prompt"]) == ("comfy", "a red kite")


def test_every_way_of_arriving_puts_the_focus_in_the_prompt(console: RealTerminal) -> None:
    """Digit, Tab from the chat, `:images`, the palette: each time the next letter typed lands in the prompt."""
    typed = ""

    def prompt_takes(letter: str) -> None:
        nonlocal typed
        wait_focus(console, "prompt")
        console.type(letter)
        typed += letter
        wait_field(console, "prompt", typed)

    def leave_to_health() -> None:
        console.press("escape")
        wait_focus(console, "backend")
        console.press("1")
        console.wait_for_text("Provider")

    console.press("6")
    prompt_takes("a")
    leave_to_health()
    console.press("5")
    console.wait_for_text("Message")  # the chat's prompt has the keyboard; Tab goes to the next pane
    console.press("tab")
    prompt_takes("b")
    leave_to_health()
    console.press("colon")
    console.type("images")
    console.press("enter")
    prompt_takes("c")
    leave_to_health()
    console.press("ctrl+p")
    console.wait_for_text("Search")
    console.type(":images")
    console.wait_for_text("show the Images pane")
    console.press("enter")
    console.wait_gone("Search")
    prompt_takes("d")


def test_esc_leaves_a_field_so_digits_switch_panes_and_i_types_again(console: RealTerminal) -> None:
    console.press("6")
    wait_focus(console, "prompt")
    console.type("ab1")  # a digit in a text field is text
    wait_field(console, "prompt", "ab1")
    console.press("escape")
    wait_focus(console, "backend")
    console.press("1")
    console.wait_for_text("Provider")
    console.press("6")
    wait_focus(console, "prompt")
    wait_field(console, "prompt", "ab1")
    console.press("escape")
    wait_focus(console, "backend")
    console.press("i")
    wait_focus(console, "prompt")
    console.type("c")
    wait_field(console, "prompt", "ab1c")
