"""Incremental server-sent-events decoding, in linear time and bounded memory (a hostile server picks the lines)."""

from __future__ import annotations

from dataclasses import dataclass

from providers.bounded_body import MAX_LINE_CHARS, line_too_long


@dataclass(frozen=True, slots=True)
class SSEEvent:
    event: str
    data: str


class SSEParser:
    """Incremental server-sent-events decoder (WHATWG event-stream rules, as httpx-sse applies them).

    `feed` takes decoded text as it arrives and returns the events it completed, so a reader needs no extra
    generator layer per event. Lines end at CRLF, CR or LF (a CRLF split across reads counts once); `:` lines
    are comments; an event is dispatched at a blank line when it has data, an event name, an id or a retry
    (named "message" when no `event:` line named it); a partial line or event at the end of the stream is dropped.
    A line, or an event's data, longer than `max_chars` is a ProtocolError; a partial line is kept as pieces and
    joined once, so a long line costs linear time."""

    __slots__ = ("_data", "_data_len", "_event", "_last_id", "_max", "_provider", "_retry", "_skip_lf", "_tail",
                 "_tail_len")

    def __init__(self, provider: str | None = None, max_chars: int = MAX_LINE_CHARS) -> None:
        self._tail: list[str] = []
        self._tail_len = 0
        self._skip_lf = False  # the previous piece ended in CR: a LF opening this one ends no extra line
        self._event = ""
        self._data: list[str] = []
        self._data_len = 0
        self._last_id = ""  # kept across events, as the spec says
        self._retry = False
        self._provider = provider
        self._max = max_chars

    def _hold(self, text: str) -> None:
        if text:
            self._tail.append(text)
            self._tail_len += len(text)
            if self._tail_len > self._max:
                raise line_too_long(self._provider, self._max)

    def feed(self, text: str) -> list[SSEEvent]:
        if self._skip_lf:
            self._skip_lf = False
            if text.startswith("\n"):
                text = text[1:]
        if "\r" in text:
            self._skip_lf = text.endswith("\r")
            text = text.replace("\r\n", "\n").replace("\r", "\n")
        if "\n" not in text:
            self._hold(text)
            return []
        lines = text.split("\n")
        if self._tail:
            lines[0] = "".join(self._tail) + lines[0]
            self._tail, self._tail_len = [], 0
        last = lines.pop()
        events: list[SSEEvent] = []
        for line in lines:
            if not line:
                if self._data or self._event or self._last_id or self._retry:
                    events.append(SSEEvent(self._event or "message", "\n".join(self._data)))
                    self._event, self._data, self._data_len, self._retry = "", [], 0, False
                continue
            if len(line) > self._max:
                raise line_too_long(self._provider, self._max)
            if line[0] == ":":
                continue
            name, _, value = line.partition(":")
            if value[:1] == " ":
                value = value[1:]
            if name == "data":
                self._data_len += len(value) + 1
                if self._data_len > self._max:
                    raise line_too_long(self._provider, self._max)
                self._data.append(value)
            elif name == "event":
                self._event = value
            elif name == "id":
                if "\0" not in value:
                    self._last_id = value
            elif name == "retry":
                try:
                    int(value)
                except ValueError:
                    continue
                self._retry = True
        self._hold(last)
        return events
