"""A small HTTP server for `/metrics`, on the Deck's own event loop: `llmdeck serve-metrics` and the console (when
`ui.metrics_listen` is set) both run one for as long as their Deck runs.

It lives on the event loop, not in a thread, so a scrape reads the Deck between two of its steps, never in the
middle of one. It is bounded: at most `MAX_CONNECTIONS` connections at once (more are closed unanswered), a request
head of at most `HEAD_LIMIT` bytes that must arrive within `READ_TIMEOUT_S`, one request per connection. It
speaks just enough HTTP/1.1 for Prometheus: GET or HEAD of /metrics (a query string is ignored).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, generate_latest

from providers.metrics_export import deck_registry

if TYPE_CHECKING:
    from providers.deck import Deck

MAX_CONNECTIONS = 16
HEAD_LIMIT = 8192
READ_TIMEOUT_S = 10.0
WRITE_TIMEOUT_S = 10.0
METRICS_PATH = "/metrics"
TEXT_FORMAT = "text/plain; version=0.0.4; charset=utf-8"
"""The Prometheus text format, which every Prometheus reads; the metric names here are all plain ASCII."""

_REASONS = {200: "OK", 400: "Bad Request", 404: "Not Found", 405: "Method Not Allowed",
            500: "Internal Server Error"}


class MetricsServer:
    """Serves one registry; `start` binds (OSError when the address cannot be used), `stop` ends every
    connection and closes the socket."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry
        self._server: asyncio.Server | None = None
        self._handlers: set[asyncio.Task[None]] = set()

    async def start(self, host: str, port: int) -> None:
        """Listen on `host`:`port` (0: a free port; see `address`)."""
        self._server = await asyncio.start_server(self._accept, host, port, limit=HEAD_LIMIT)

    @property
    def address(self) -> tuple[str, int]:
        """The (address, port) listened on."""
        if self._server is None or not self._server.sockets:
            raise RuntimeError("the metrics server is not listening")
        name = self._server.sockets[0].getsockname()
        return str(name[0]), int(name[1])

    @property
    def url(self) -> str:
        host, port = self.address
        shown = f"[{host}]" if ":" in host else host
        return f"http://{shown}:{port}{METRICS_PATH}"

    async def stop(self) -> None:
        server, self._server = self._server, None
        if server is None:
            return
        server.close()
        handlers = list(self._handlers)
        for task in handlers:
            task.cancel()
        for task in handlers:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await server.wait_closed()

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is None or len(self._handlers) >= MAX_CONNECTIONS or self._server is None:
            writer.transport.abort()
            return
        self._handlers.add(task)
        answered = False
        try:
            await self._serve(reader, writer)
            answered = True
        except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, TimeoutError, ValueError):
            pass  # the client went away, sent too much, or read too slowly: nothing more to do for it
        finally:
            self._handlers.discard(task)
            if not answered:  # cut short (an error, a timeout, the server stopping): drop the connection now
                writer.transport.abort()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        async with asyncio.timeout(READ_TIMEOUT_S):
            head = await reader.readuntil(b"\r\n\r\n")
        status, body, extra = self._answer(head)
        method = head.split(b" ", 1)[0]
        headers = [f"HTTP/1.1 {status} {_REASONS[status]}", f"Content-Length: {len(body)}", "Connection: close",
                   *extra]
        writer.write(("\r\n".join(headers) + "\r\n\r\n").encode("ascii"))
        if method != b"HEAD":
            writer.write(body)
        writer.close()  # sends what is buffered, then closes
        async with asyncio.timeout(WRITE_TIMEOUT_S):
            await writer.wait_closed()

    def _answer(self, head: bytes) -> tuple[int, bytes, list[str]]:
        parts = head.split(b"\r\n", 1)[0].split(b" ")
        if len(parts) != 3 or not parts[2].startswith(b"HTTP/1."):
            return 400, b"bad request\n", ["Content-Type: text/plain; charset=utf-8"]
        method, target = parts[0], parts[1].split(b"?", 1)[0]
        if target != METRICS_PATH.encode("ascii"):
            return 404, b"not found: llmdeck serves /metrics\n", ["Content-Type: text/plain; charset=utf-8"]
        if method not in (b"GET", b"HEAD"):
            return 405, b"only GET and HEAD\n", ["Allow: GET, HEAD", "Content-Type: text/plain; charset=utf-8"]
        try:
            body = generate_latest(self.registry)
        except Exception as exc:  # a scrape fails alone; the Deck and the console go on
            return 500, f"collecting the metrics failed: {type(exc).__name__}\n".encode(), []
        return 200, body, [f"Content-Type: {TEXT_FORMAT}"]


@asynccontextmanager
async def metrics_endpoint(deck: Deck, host: str, port: int) -> AsyncIterator[MetricsServer]:
    """Serve `deck`'s metrics on `host`:`port` inside the block (OSError when it cannot listen); stopped on
    leaving, before the Deck itself stops."""
    server = MetricsServer(deck_registry(deck))
    await server.start(host, port)
    try:
        yield server
    finally:
        await server.stop()
