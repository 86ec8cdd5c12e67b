"""The shell's default key bindings, each with an id, and the `ui.keys` remapping from the config."""

from __future__ import annotations

from collections.abc import Mapping

from textual.binding import Binding

from console.panes import PANES

PANE_KEYS = "123456"


def pane_binding_id(pane_id: str) -> str:
    return f"pane-{pane_id}"


APP_BINDINGS: list[Binding] = [
    *(
        Binding(key, f"show_pane('{pane_id}')", title, id=pane_binding_id(pane_id), show=False)
        for key, (pane_id, title, _) in zip(PANE_KEYS, PANES, strict=False)
    ),
    # Priority: Tab switches panes rather than moving focus, even from a text field; dialogs keep their own Tab.
    Binding("tab", "next_pane", "Next pane", id="next-pane", priority=True, show=False),
    Binding("shift+tab", "previous_pane", "Previous pane", id="previous-pane", priority=True, show=False),
    # Priority: the command line and the filter open before the keys typed after them are handed out, so fast
    # typing (or a whole line arriving in one packet over SSH) lands in them; in a text field they type as usual.
    Binding("colon", "command_line", "Command", id="command-line", key_display=":", priority=True),
    Binding("slash", "filter", "Filter", id="filter", key_display="/", priority=True),
    # Priority while the filter line has the focus: the pane takes the keyboard back before the next key is
    # handed out, so `/ name Enter ctrl+d` typed ahead acts on the filtered table.
    Binding("enter", "submit_filter", "Apply filter", id="filter-submit", priority=True, show=False),
    Binding("question_mark", "help", "Help", id="help", key_display="?"),
    # E (shift+e): e is the Routes pane's explain; no pane or table binds E. The App's action_events opens the view.
    # Not in the footer, which keeps its room for the pane's own keys; `?` lists it.
    Binding("E", "events", "Events", id="events", show=False),
    Binding("escape", "step_back", "Back", id="back", show=False),
    Binding("ctrl+r", "refresh_now", "Refresh", id="refresh"),
    Binding("ctrl+p", "command_palette", "Palette", id="palette", priority=True, show=False),
    # Asks first while a pull, an image or a chat reply runs (pressed again, it quits).
    Binding("ctrl+q", "quit", "Quit", id="quit", priority=True),
    # Priority: ctrl+c must quit (cleanly) wherever focus is, as operators expect of a terminal tool; it never asks.
    Binding("ctrl+c", "interrupt", "Quit", id="interrupt", show=False, priority=True),
]
"""Global keys. Panes add their own (with ids) and the footer shows those of the focused pane."""


def keymap_from_config(keys: Mapping[str, str]) -> dict[str, str]:
    """`ui.keys` (binding id → key, several keys comma-separated) as a Textual keymap.

    Single characters are accepted as typed (`?`, `:`); Textual normalises them to key names. Spaces around the
    commas are dropped: Textual would take ` delete` for a key name. The ids are checked by the config schema
    against config/binding_ids.py."""
    keymap = {binding_id.strip(): ",".join(part.strip() for part in key.split(",") if part.strip())
              for binding_id, key in keys.items()}
    return {binding_id: key for binding_id, key in keymap.items() if binding_id and key}

