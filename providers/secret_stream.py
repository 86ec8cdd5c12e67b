"""Scrubbing known secrets from text that arrives in pieces (a streamed answer), where a key may be split."""

from __future__ import annotations

from config.secret_registry import scrub, unfinished_tail


class SecretStreamScrubber:
    """Feed pieces, get them back without any registered secret. The few characters at the end of a piece that
    could begin a secret are held until the next piece decides; `flush` returns them at the end of the stream.
    A proxy that echoes the key into an answer therefore never gets it onto a screen, even one token at a time."""

    __slots__ = ("_pending",)

    def __init__(self) -> None:
        self._pending = ""

    def feed(self, text: str) -> str:
        """The part of everything fed so far that is known to be free of secrets and not yet returned."""
        if not text and not self._pending:
            return ""
        cleaned = scrub(self._pending + text)
        hold = unfinished_tail(cleaned)
        self._pending = cleaned[len(cleaned) - hold:] if hold else ""
        return cleaned[: len(cleaned) - hold]

    @property
    def held(self) -> int:
        """How many characters are held back right now (never yet returned)."""
        return len(self._pending)

    def flush(self) -> str:
        """What is still held: the stream ended, so it cannot become a secret any more."""
        tail, self._pending = self._pending, ""
        return tail
