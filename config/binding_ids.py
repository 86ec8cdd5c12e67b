"""The ids `ui.keys` may remap: every console key binding that has an id, written out here because config/ does
not import the console (tests/config/test_binding_ids.py checks this list against the console's bindings)."""

from __future__ import annotations

import difflib
import re

BINDING_IDS: tuple[str, ...] = (
    # The shell (console/keymap.py): pane digits, pane switching, the command line, filter, help and quitting.
    "pane-health", "pane-models", "pane-graphs", "pane-routes", "pane-chat", "pane-images",
    "next-pane", "previous-pane", "command-line", "filter", "filter-submit", "help", "events", "back", "refresh",
    "palette", "quit", "interrupt",
    # Tables shared by the panes and dialogs: vim movement, sort, the wide view.
    "table-down", "table-up", "table-top", "table-bottom", "table-page-down", "table-page-up",
    "table-sort", "table-sort-reverse", "table-wide",
    # Copy (`y`) in the Health, Models, Chat and Images panes and the confirmation dialogs.
    "copy",
    # Health pane.
    "health-details", "health-probe",
    # Models pane.
    "models-pull", "models-delete", "models-unload", "models-load", "models-restart", "models-details",
    "models-switch-checkpoint", "models-cancel-pull",
    # Graphs pane.
    "graphs-range-longer", "graphs-range-shorter", "graphs-freeze",
    # Routes pane.
    "routes-test-fire", "routes-explain",
    # Chat pane.
    "chat.cancel", "chat.target", "chat.type", "chat.settings", "chat.new", "chat.sessions", "chat.export",
    # Images pane and its form.
    "images.generate", "images.interrupt", "images.prompt", "images.upload",
    "form.next-field", "form.previous-field", "form.field-below", "form.field-above",
    # Dialogs and screens.
    "command-cancel", "command-complete", "command-history-older", "command-history-newer", "confirm-cancel",
    "confirm-switch", "details-close",
    "model-details-close", "help-close", "keys-close", "keys-delete", "onboarding-close", "plan-close",
    "plan-refresh", "pull-dialog-cancel", "sessions.close", "sessions.new", "sessions.rename", "sessions.delete",
    "sessions.upload",
    "chat-settings.cancel", "chat-settings.save", "source-back", "target-picker-cancel",
    # Events view.
    "events-back", "events-filter", "events-follow",
)
"""Every binding id of the console, grouped by where the binding lives."""

RENAMED: dict[str, str] = {"models-sort": "table-sort"}
"""Ids that moved (the sort key went from the Models pane to every table): the error names the new id."""

_KNOWN = frozenset(BINDING_IDS)
_WORD_BREAK = re.compile(r"[-._]")


def _closest_id(name: str) -> str | None:
    """The known id a mistyped one most likely meant: a near spelling, else an id that has it as a word
    (`pull` → `models-pull`, since ids are named PLACE-ACTION)."""
    near = difflib.get_close_matches(name, BINDING_IDS, n=1, cutoff=0.6)
    if near:
        return near[0]
    words = set(_WORD_BREAK.split(name.lower())) - {""}
    holding = [known for known in BINDING_IDS if words and words <= set(_WORD_BREAK.split(known))]
    if not holding:
        return None
    return max(holding, key=lambda known: difflib.SequenceMatcher(None, name, known).ratio())


def check_binding_id(name: str) -> str:
    """A `ui.keys` id as written; ValueError naming the likely id for one the console does not have."""
    if name.strip() in _KNOWN:
        return name
    guess = RENAMED.get(name.strip()) or _closest_id(name.strip())
    if guess:
        raise ValueError(f"unknown key binding id '{name}' — did you mean '{guess}'?")
    raise ValueError(f"unknown key binding id '{name}' — ids name a place and an action, e.g. models-pull or "
                     "routes-test-fire; README.md (Remapping keys) lists them all")


__all__ = ["BINDING_IDS", "check_binding_id"]
