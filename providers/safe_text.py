"""Outside text made safe for a terminal: escape sequences removed, other controls shown as visible symbols.

Every string a backend chose (model text, names, error bodies, details, titles) passes through here before it
reaches a terminal, a Textual widget or an exported file. The rules:

- A complete escape sequence is removed: CSI (`ESC [` or C1 `0x9B` ... final byte), OSC (`ESC ]` or `0x9D` ...
  ended by BEL or ST), DCS / SOS / PM / APC strings (`ESC P`, `ESC X`, `ESC ^`, `ESC _` or their C1 forms ...
  ended by ST), and the short `ESC` + intermediates + final forms (`ESC c`, `ESC ( B`, `ESC 7`). Colour codes a
  tool left in its output vanish instead of littering the text; a clipboard write (OSC 52), a title (OSC 0), a
  link (OSC 8) or a screen switch (`CSI ?1049l`) never runs.
- What is left is shown, not obeyed: ESC becomes `␛` and every other C0 control its Unicode control picture
  (BEL `␇`, NUL `␀`, a lone CR `␍` ...), DEL `␡`, a C1 control (U+0080-U+009F) `�`. A sequence that never ends
  is therefore visible as `␛]52;…`, never half-applied.
- Newline and tab stay (CRLF becomes LF); the one-line form turns every line break and tab into a space.
- Bidi embeddings, overrides and isolates (U+202A-U+202E, U+2066-U+2069) are removed: they can make text read
  in a different order than the bytes say ("Trojan Source"). The marks U+200E, U+200F and U+061C stay: real
  right-to-left text needs them and they cannot reorder a run of strong characters.
- A lone surrogate (JSON can carry `\\ud800`) becomes `�`, so writing the text as UTF-8 can never fail.

Everything runs in time linear in the text: possessive regexes whose bodies stop at the next control character,
and `str.translate`. The result is idempotent and contains no C0 control but newline and tab, no DEL, no C1.
"""

from __future__ import annotations

import re
from typing import Final

_C1_CSI, _C1_OSC, _C1_ST = "\x9b", "\x9d", "\x9c"
_STRING_BODY = r"[^\x00-\x1f\x7f-\x9f]*+"
"""The text inside an OSC or DCS-like string: printable only, so a scan stops at the next control (linear)."""
_ST = r"(?:\x07|\x1b\\|\x9c)"

_SEQUENCE: Final = re.compile(
    r"(?:\x1b\[|\x9b)[0-?]*+[ -/]*+[@-~]"              # CSI ... final byte
    r"|(?:\x1b\]|\x9d)" + _STRING_BODY + _ST +          # OSC ... BEL or ST
    r"|(?:\x1b[PX^_]|[\x90\x98\x9e\x9f])" + _STRING_BODY + _ST +  # DCS, SOS, PM, APC ... ST
    r"|\x1b(?:[ -/]++[0-~]|[0-OQ-WYZ\\`a-~])"          # ESC (intermediates) final: ESC c, ESC ( B, ESC 7
)
"""A complete sequence. ESC followed by `[ ] P X ^ _` is only removed with its whole body and end, so one that
never ends shows as `␛]…` rather than losing just its first two characters."""

_UNSAFE_MULTI_LINE: Final = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\ud800-\udfff]")
"""Anything the slow path has to change in multi-line text (newline and tab stay)."""
_UNSAFE_ONE_LINE: Final = re.compile(r"[\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\u2028\u2029\ud800-\udfff]")

_PICTURES: Final[dict[int, str | None]] = {code: chr(0x2400 + code) for code in range(0x20)}
_PICTURES[0x7F] = "\u2421"  # ␡
_PICTURES.update(dict.fromkeys(range(0x80, 0xA0), "\ufffd"))
_PICTURES.update(dict.fromkeys((*range(0x202A, 0x202F), *range(0x2066, 0x206A))))
_PICTURES.update(dict.fromkeys(range(0xD800, 0xE000), "\ufffd"))
_PICTURES[0x09] = "\t"
_PICTURES[0x0A] = "\n"

_MULTI_LINE: Final = str.maketrans(_PICTURES)
_ONE_LINE: Final = str.maketrans({**_PICTURES, 0x09: " ", 0x0A: " ", 0x0D: " ", 0x2028: " ", 0x2029: " "})

STREAM_HOLD_CHARS: Final = 4096
"""How much of an unfinished escape sequence a stream holds back waiting for its end. Longer than this, the
sequence is shown as visible text (safe either way): a bound on memory and on the rescans per chunk."""


def terminal_safe(text: str, *, keep_newlines: bool = True) -> str:
    """`text` with escape sequences removed and every other control shown visibly (see the module's rules).

    With `keep_newlines` (the default), newlines and tabs stay and CRLF becomes LF; without it, the result is one
    line: every line break and tab becomes a space. The result is idempotent and linear-time in `text`.
    """
    if keep_newlines:
        if _UNSAFE_MULTI_LINE.search(text) is None:
            return text
        return _SEQUENCE.sub("", text).replace("\r\n", "\n").translate(_MULTI_LINE)
    if _UNSAFE_ONE_LINE.search(text) is None:
        return text
    return _SEQUENCE.sub("", text).replace("\r\n", " ").translate(_ONE_LINE)


def one_line(text: str) -> str:
    """`terminal_safe` for a name, a cell or a one-line message: line breaks and tabs become spaces."""
    return terminal_safe(text, keep_newlines=False)


_PENDING: Final = re.compile(
    r"(?:(?:\x1b\[|\x9b)[0-?]*+[ -/]*+"
    r"|(?:\x1b[\]PX^_]|[\x9d\x90\x98\x9e\x9f])" + _STRING_BODY + r"\x1b?"
    r"|\x1b[ -/]*+"
    r"|\r)\Z"
)
"""The unfinished start of a sequence (or a CR that may be the first half of CRLF) at the end of a chunk."""


class TerminalSafeStream:
    """`terminal_safe` for text that arrives in pieces: a sequence split across two chunks is still removed whole.

    `feed` returns the safe text that can be shown now and holds back an unfinished sequence at the end (at most
    `STREAM_HOLD_CHARS`); `finish` returns what is left, shown visibly. Concatenating every output equals
    `terminal_safe` of the whole text, for sequences shorter than the hold.
    """

    def __init__(self, *, keep_newlines: bool = True) -> None:
        self._keep_newlines = keep_newlines
        self._held = ""

    def feed(self, text: str) -> str:
        """The safe part of everything fed so far that was not returned before."""
        pending = self._held + text
        self._held = ""
        start = max(0, len(pending) - STREAM_HOLD_CHARS)
        match = _PENDING.search(pending, start)
        # A sequence begun before `start` is longer than the hold: it is not found here and is shown as text.
        if match is not None:
            self._held = pending[match.start():]
            pending = pending[:match.start()]
        return terminal_safe(pending, keep_newlines=self._keep_newlines)

    def finish(self) -> str:
        """The held-back tail (an unfinished sequence), shown visibly; the stream can be fed again afterwards."""
        held, self._held = self._held, ""
        return terminal_safe(held, keep_newlines=self._keep_newlines)
