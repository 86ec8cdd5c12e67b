"""Copying (`y`) to the operator's clipboard with OSC 52: the terminal itself sets its clipboard, so it works over
SSH and, passed through, inside tmux. Whether the terminal took it cannot be known (it never answers), so the
message says where the text was sent, not that it arrived."""

from __future__ import annotations

import base64
from collections.abc import Mapping
from typing import Any

from rich.cells import cell_len, chop_cells
from textual.app import App

from providers.safe_text import one_line, terminal_safe

OSC52_LIMIT_BYTES = 100_000
"""Longer text is not sent: terminals drop (or choke on) a bigger OSC 52 write — xterm's default is ~100 kB."""
PREVIEW_CELLS = 48
"""How much of the copied text the message quotes."""
SENT = "sent to the terminal's clipboard (OSC 52)"


def osc52(text: str) -> str:
    """`ESC ] 52 ; c ; <base64> BEL`: set the clipboard (`c`) to `text`."""
    return f"\x1b]52;c;{base64.b64encode(text.encode('utf-8')).decode('ascii')}\a"


def tmux_passthrough(sequence: str) -> str:
    """`sequence` wrapped for tmux to hand on to the outer terminal: `ESC P tmux; … ESC \\`, every ESC inside
    doubled."""
    return "\x1bPtmux;" + sequence.replace("\x1b", "\x1b\x1b") + "\x1b\\"


def inside_tmux(environ: Mapping[str, str]) -> bool:
    return bool(environ.get("TMUX"))


def clipboard_writes(text: str, environ: Mapping[str, str]) -> list[str]:
    """What to write to the terminal to copy `text`. Inside tmux, both forms: tmux takes the plain sequence
    itself with `set-clipboard on`, and passes the wrapped one on with `allow-passthrough on` (either setting
    is enough; with both, the outer terminal is set twice to the same text)."""
    sequence = osc52(text)
    return [sequence, tmux_passthrough(sequence)] if inside_tmux(environ) else [sequence]


def preview(text: str) -> str:
    line = one_line(text).strip()
    if cell_len(line) <= PREVIEW_CELLS:
        return line
    return chop_cells(line, PREVIEW_CELLS - 1)[0] + "…"


def copy_text(app: App[Any], text: str, what: str) -> bool:
    """Copy `text` (the `what` the message names: "model name") through `app.copy_to_clipboard`, and say so.

    The text copied is the text shown: terminal-safe (a backend's escape sequences never reach a clipboard that
    is pasted into a shell). Over OSC52_LIMIT_BYTES nothing is sent and the message says it is too long."""
    safe = terminal_safe(text)
    if not safe.strip():
        app.notify(f"The {what} is empty: nothing copied.", severity="warning")
        return False
    size = len(safe.encode("utf-8"))
    if size > OSC52_LIMIT_BYTES:
        app.notify(f"The {what} is too long to copy ({size / 1000:.0f} kB; a terminal takes at most "
                   f"{OSC52_LIMIT_BYTES // 1000} kB through OSC 52): nothing copied.", title="Not copied",
                   severity="warning")
        return False
    app.copy_to_clipboard(safe)
    shown = preview(safe)
    length = "" if shown == safe else f" ({len(safe):,} characters)"
    app.notify(f"{what[:1].upper()}{what[1:]} “{shown}”{length} {SENT}.", title="Copied")
    return True
