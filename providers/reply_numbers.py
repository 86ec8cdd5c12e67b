"""Numbers a reply claims (token counts, live prices), checked before anything adds them up.

A count of 300 digits overflows SQLite, a negative one pays back a day's budget, 2^53 spends it all: a number out
of range is a ProtocolError for the reply, never a value the ledger or a budget takes.
"""

from __future__ import annotations

import math

from providers.errors import ProtocolError

MAX_TOKENS = 1_000_000_000
"""More tokens than any context window holds, by orders of magnitude: a reply claiming more is lying."""

MAX_USD_PER_TOKEN = 0.01
"""$10,000 per million tokens: a hundred times the dearest model; a live price above it is not taken."""


def number_text(value: object) -> str:
    """A number short enough for a message, however many digits it has (str() of a huge int may even raise)."""
    if isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > 64:
        digits = math.floor(math.log10(abs(value))) + 1
        if 10 ** (digits - 1) > abs(value):  # log10 rounds 99…9 up to the next power of ten
            digits -= 1
        return f"{'-' if value < 0 else ''}a number of about {digits} digits"
    return repr(value)[:40]


def token_count(value: object, what: str, provider: str | None = None) -> int | None:
    """A token count from a reply: None when absent or not a number; the count when it is a whole number in
    0..MAX_TOKENS; otherwise ProtocolError."""
    if value is None or isinstance(value, bool) or not isinstance(value, int | float):
        return None
    if isinstance(value, float) and (not math.isfinite(value) or not value.is_integer()):
        raise ProtocolError(f"{what} is {number_text(value)}, not a token count", provider=provider)
    if not 0 <= value <= MAX_TOKENS:
        raise ProtocolError(f"{what} is {number_text(value)}, outside 0..{MAX_TOKENS}", provider=provider)
    return int(value)


def check_tokens(value: int, what: str) -> None:
    """Raise ProtocolError unless `value` is a count in 0..MAX_TOKENS (the invariant of Usage)."""
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_TOKENS:
        raise ProtocolError(f"{what} is {number_text(value)}, outside 0..{MAX_TOKENS}")


def usd_per_token(value: float | None) -> float | None:
    """A live price per token when it is finite and in 0..MAX_USD_PER_TOKEN, else None (the price stays unknown)."""
    if value is None or not math.isfinite(value) or not 0 <= value <= MAX_USD_PER_TOKEN:
        return None
    return value

