"""Deck-wide limits on one reply: how long a request may take and how long an answer may grow."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from config.bounds import Seconds
from config.fields import ConfigModel

AnswerChars = Annotated[int, Field(strict=True, ge=1_000, le=100_000_000)]
"""An answer length in characters: below a thousand cuts real answers, above 10^8 is no bound for memory."""


class ReplyLimitsConfig(ConfigModel):
    """Bounds every request gets unless its route says otherwise, so no server can hold a chat open forever
    (a byte every few seconds resets any read timeout) or grow an answer until memory runs out."""

    total_s: Seconds = 600.0
    """Deadline for a whole request, across every hop, for routes without `timeouts.total_s` and for
    PROVIDER/MODEL targets."""
    idle_s: Seconds = 120.0
    """Longest silence between two chunks of a stream once text has started, for routes without
    `timeouts.idle_s` and for PROVIDER/MODEL targets."""
    max_answer_chars: AnswerChars = 2_000_000
    """The longest answer kept, in characters; a stream that goes past it ends as cut, its text kept."""
