"""Reading a reply body within bounds: decompressed size counted while reading, lines of bounded length.

httpx inflates a whole network read at once (one 64 KiB read of a gzip bomb is ~64 MB), chains encodings
without a bound, and only lets a caller count bytes after they exist. Here the raw bytes are inflated by us in
pieces of at most `PIECE_BYTES`, counted as they come, and the read stops with a ProtocolError at the limit.
"""

from __future__ import annotations

import codecs
import zlib
from collections.abc import AsyncIterator, Iterator

import httpx

from providers.errors import ProtocolError

PIECE_BYTES = 256 * 1024
"""The most decoded bytes one step of inflation produces; keeps memory flat whatever the compression ratio."""

MAX_LINE_CHARS = 1024 * 1024
"""The longest SSE or NDJSON line (and SSE event) accepted; a longer one is a ProtocolError, not a buffer."""

ERROR_BODY_BYTES = 64 * 1024
"""How much of an error reply is read for its message; the rest is left unread."""


class _Inflater:
    """gzip or deflate (zlib-wrapped, or raw as some servers send it), inflated in bounded pieces."""

    def __init__(self, encoding: str) -> None:
        self._gzip = encoding == "gzip"
        self._raw_tried = False
        self._decoder = zlib.decompressobj(zlib.MAX_WBITS | 16 if self._gzip else zlib.MAX_WBITS)

    def feed(self, data: bytes) -> Iterator[bytes]:
        try:
            yield from self._inflate(data)
        except zlib.error:
            if self._gzip or self._raw_tried:
                raise
            # "deflate" without the zlib header: start again as raw deflate, as httpx does.
            self._raw_tried = True
            self._decoder = zlib.decompressobj(-zlib.MAX_WBITS)
            yield from self._inflate(data)

    def _inflate(self, data: bytes) -> Iterator[bytes]:
        decoder = self._decoder
        piece = decoder.decompress(data, PIECE_BYTES)
        self._raw_tried = True  # once any input was accepted, the format is settled
        if piece:
            yield piece
        while decoder.unconsumed_tail:
            piece = decoder.decompress(decoder.unconsumed_tail, PIECE_BYTES)
            if piece:
                yield piece

    def flush(self) -> bytes:
        return self._decoder.flush()


def _inflater(response: httpx.Response, provider: str | None) -> _Inflater | None:
    header = response.headers.get("content-encoding", "")
    codings = [c.strip().lower() for c in header.split(",") if c.strip() and c.strip().lower() != "identity"]
    if not codings:
        return None
    if len(codings) == 1 and codings[0] in ("gzip", "deflate"):
        return _Inflater(codings[0])
    # Layered or unrequested encodings (br, zstd, gzip twice) are not what make_client asks for.
    raise ProtocolError(f"unsupported content-encoding {header[:60]!r}", provider=provider)


async def iter_decoded(response: httpx.Response, provider: str | None, *, limit: int | None = None,
                       what: str = "reply") -> AsyncIterator[bytes]:
    """The decoded body in pieces of at most PIECE_BYTES; past `limit` decoded bytes, ProtocolError.
    The caller's `async with client.stream(...)` (or `aclose`) closes the connection."""
    inflater = _inflater(response, provider)
    total = 0
    try:
        async for raw in response.aiter_raw():  # as it arrives: a size here would hold a stream back
            pieces = inflater.feed(raw) if inflater is not None else (raw,)
            for piece in pieces:
                total += len(piece)
                if limit is not None and total > limit:
                    raise ProtocolError(f"{what} larger than {limit} bytes (decompressed)", provider=provider)
                yield piece
        if inflater is not None:
            tail = inflater.flush()
            if tail:
                total += len(tail)
                if limit is not None and total > limit:
                    raise ProtocolError(f"{what} larger than {limit} bytes (decompressed)", provider=provider)
                yield tail
    except zlib.error as exc:
        raise ProtocolError(f"{what}: bad compressed body: {exc}", provider=provider) from None


async def read_body(response: httpx.Response, provider: str | None, *, limit: int, what: str = "reply") -> bytes:
    """The whole decoded body, refused with ProtocolError as soon as it passes `limit` bytes."""
    buffer = bytearray()
    async for piece in iter_decoded(response, provider, limit=limit, what=what):
        buffer += piece
    return bytes(buffer)


async def read_error_bytes(response: httpx.Response, provider: str | None) -> bytes:
    """The first ERROR_BODY_BYTES of an error reply (enough for any message); the rest is not read."""
    buffer = bytearray()
    try:
        async for piece in iter_decoded(response, provider):
            buffer += piece[: ERROR_BODY_BYTES - len(buffer)]
            if len(buffer) >= ERROR_BODY_BYTES:
                break
    except ProtocolError as exc:
        if not buffer:
            return exc.message.encode("utf-8")
    return bytes(buffer)


async def read_error_body(response: httpx.Response, provider: str | None) -> str:
    """`read_error_bytes` as text, in the reply's charset."""
    return (await read_error_bytes(response, provider)).decode(_charset(response), "replace")


def _charset(response: httpx.Response) -> str:
    name = response.charset_encoding or "utf-8"
    try:
        codecs.lookup(name)
    except LookupError:
        return "utf-8"
    return name


async def iter_text(response: httpx.Response, provider: str | None, *,
                    limit: int | None = None) -> AsyncIterator[str]:
    """The decoded body as text pieces (charset from the content type, else UTF-8; bad bytes replaced)."""
    decoder = codecs.getincrementaldecoder(_charset(response))(errors="replace")
    async for piece in iter_decoded(response, provider, limit=limit):
        text = decoder.decode(piece)
        if text:
            yield text
    text = decoder.decode(b"", final=True)
    if text:
        yield text


def line_too_long(provider: str | None, limit: int = MAX_LINE_CHARS) -> ProtocolError:
    """The error for a line (or event) longer than `limit` characters."""
    return ProtocolError(f"a line longer than {limit} characters in the stream", provider=provider)


class LineSplitter:
    """Text pieces → complete lines (LF, CRLF), in time linear in the input and memory bounded by `max_chars`."""

    __slots__ = ("_max", "_pending", "_pending_len", "_provider")

    def __init__(self, provider: str | None, max_chars: int = MAX_LINE_CHARS) -> None:
        self._pending: list[str] = []
        self._pending_len = 0
        self._max = max_chars
        self._provider = provider

    def feed(self, text: str) -> list[str]:
        if "\n" not in text:
            self._hold(text)
            return []
        lines = text.split("\n")
        if self._pending:
            lines[0] = "".join(self._pending) + lines[0]
            self._pending, self._pending_len = [], 0
        last = lines.pop()
        for line in lines:
            if len(line) > self._max:
                raise line_too_long(self._provider, self._max)
        self._hold(last)
        return [line[:-1] if line.endswith("\r") else line for line in lines]

    def finish(self) -> str:
        """The last line when the body did not end in a newline."""
        rest = "".join(self._pending)
        self._pending, self._pending_len = [], 0
        return rest

    def _hold(self, text: str) -> None:
        if not text:
            return
        self._pending.append(text)
        self._pending_len += len(text)
        if self._pending_len > self._max:
            raise line_too_long(self._provider, self._max)
