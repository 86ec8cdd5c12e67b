"""The event journal: a bounded, timestamped history of what happened, newest last, for the Events view.

The Deck owns one and writes into it (providers/journal_notes.py says what each happening reads as); front ends
read it through the Deck (`events()`, `latest_event_seq()`). It holds at most `capacity` entries: the oldest
go first. Every text is stored one-line (summary, subject) or multi-line (detail) terminal-safe, redacted of
anything that looks like a credential, and cut to a bound, so the journal's memory stays bounded however long
an error body a backend sends.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from providers.errors import redact
from providers.safe_text import one_line, terminal_safe

EventKind = Literal["health", "probe", "breaker", "request", "pull", "delete", "load", "unload", "restart",
                    "switch", "config", "upload"]
"""`switch` is an image checkpoint switched to; `upload` a file sent to Dropbox. Seven letters at most: the Events
view's kind column."""
EventLevel = Literal["info", "warning", "error"]

DEFAULT_CAPACITY = 1000
"""Entries kept. A day of a busy console fits; the ledger keeps every request for longer."""
SUBJECT_CHARS = 120
SUMMARY_CHARS = 400
DETAIL_CHARS = 4000


@dataclass(frozen=True, slots=True)
class JournalNote:
    """What to record, before the journal gives it a number and a time. `at` (epoch seconds) for a happening
    from the past (a ledger row); None means now."""

    kind: EventKind
    subject: str
    """Whom it concerns: a provider, or a route alias (or `PROVIDER/MODEL`) for a request."""
    summary: str
    level: EventLevel = "info"
    detail: str = ""
    at: float | None = None


@dataclass(frozen=True, slots=True)
class JournalEntry:
    """One recorded happening. `seq` grows by one per entry, over the journal's whole life."""

    seq: int
    at: float
    """Wall-clock time, epoch seconds."""
    kind: EventKind
    level: EventLevel
    subject: str
    summary: str
    detail: str

    def matches(self, needle: str) -> bool:
        """Whether the kind, subject, summary or detail holds `needle` (lower-case), for the `/` filter."""
        return any(needle in text.lower() for text in (self.kind, self.subject, self.summary, self.detail))


def _clean_line(text: str, limit: int) -> str:
    return one_line(redact(text[: limit * 2]))[:limit]


def _clean_block(text: str, limit: int) -> str:
    return terminal_safe(redact(text[: limit * 2])).strip()[:limit]


class EventJournal:
    """At most `capacity` entries, oldest first. Written on the event loop; readers get copies."""

    def __init__(self, capacity: int = DEFAULT_CAPACITY, *, clock: Callable[[], float] = time.time) -> None:
        if capacity < 1:
            raise ValueError("an event journal keeps at least one entry")
        self.capacity = capacity
        self._clock = clock
        self._entries: deque[JournalEntry] = deque(maxlen=capacity)
        self._seq = 0

    def add(self, note: JournalNote) -> JournalEntry:
        """Record `note` as the newest entry; the oldest is dropped when the journal is full."""
        self._seq += 1
        entry = JournalEntry(
            seq=self._seq, at=self._clock() if note.at is None else note.at, kind=note.kind, level=note.level,
            subject=_clean_line(note.subject, SUBJECT_CHARS), summary=_clean_line(note.summary, SUMMARY_CHARS),
            detail=_clean_block(note.detail, DETAIL_CHARS),
        )
        self._entries.append(entry)
        return entry

    def entries(self) -> list[JournalEntry]:
        """Every entry kept, oldest first."""
        return list(self._entries)

    @property
    def latest_seq(self) -> int:
        """The number of the newest entry (0 before the first): a reader compares it to see whether to look."""
        return self._seq

    def __len__(self) -> int:
        return len(self._entries)
