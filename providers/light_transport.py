"""A lighter httpx transport for plain-HTTP servers: h11 over asyncio streams, keep-alive per origin.

httpx's default transport (httpcore over anyio) spends about 0.45 ms of CPU on each loopback request on the lab's
2-core box, most of it in layers a local server does not need (anyio socket wrappers, a pool that scans every
connection on each request); h11 straight over asyncio streams spends about 0.08 ms. Health probes of 100
providers once a second are 100–200 requests a second, so that difference is most of an idle console's CPU
(bench/monitor_cpu.py). httpx's client layer (timeouts, headers, decoding, the error classes the rest of llmdeck
maps) stays the same: only the wire under it changes. TLS (`https://`) is handed to httpx's own transport.

Failures raise httpx's own exceptions, so providers/http.py maps them exactly as before: a refused or unreachable
host is `ConnectError`, a connect or read deadline `ConnectTimeout` / `ReadTimeout`, bytes that are not HTTP/1.1
`RemoteProtocolError`.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import h11
import httpx

READ_CHUNK = 65_536
MAX_IDLE_PER_ORIGIN = 8
"""Idle keep-alive connections kept per (host, port); more at once are closed when their answer ends."""
MAX_HEAD_BYTES = 64 * 1024
"""h11's own cap on a response's status line and headers: a server cannot make us buffer endless headers."""

Origin = tuple[str, int]


class _Connection:
    """One HTTP/1.1 connection and its h11 state."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.h11 = h11.Connection(h11.CLIENT, max_incomplete_event_size=MAX_HEAD_BYTES)

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.writer.close()

    @property
    def reusable(self) -> bool:
        return self.h11.our_state is h11.IDLE and self.h11.their_state is h11.IDLE and not self.reader.at_eof()


def _seconds(timeouts: dict[str, Any], name: str) -> float | None:
    value = timeouts.get(name)
    return float(value) if isinstance(value, int | float) else None


class _StaleConnectionError(Exception):
    """A reused keep-alive connection turned out closed before any byte of the answer: safe to send again."""


class LightTransport(httpx.AsyncBaseTransport):
    """Plain HTTP/1.1 with keep-alive; `https://` goes to `tls` (httpx's default transport unless given)."""

    def __init__(self, tls: httpx.AsyncBaseTransport | None = None, *, max_connections: int = 100) -> None:
        self._tls = tls or httpx.AsyncHTTPTransport(trust_env=False)
        self._idle: dict[Origin, list[_Connection]] = {}
        self._open: set[_Connection] = set()
        self._slots = asyncio.Semaphore(max_connections)
        """Requests in flight (answers still being read) at most; more wait, up to the pool timeout."""

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if request.url.scheme != "http":
            return await self._tls.handle_async_request(request)
        timeouts: dict[str, Any] = request.extensions.get("timeout", {})
        origin = (request.url.host, request.url.port or 80)
        pool_s = _seconds(timeouts, "pool")
        try:
            async with asyncio.timeout(pool_s):
                await self._slots.acquire()
        except TimeoutError:
            raise httpx.PoolTimeout(f"no free connection within {pool_s:g}s", request=request) from None
        try:
            return await self._send(request, origin, timeouts)  # from here on, the answer's body holds the slot
        except BaseException:
            self._slots.release()
            raise

    async def _send(self, request: httpx.Request, origin: Origin, timeouts: dict[str, Any]) -> httpx.Response:
        # A reused connection the server closed while idle fails before any byte of the answer: the server never
        # read the request, so it is sent once more on a fresh connection — when its body can be sent again.
        replayable = isinstance(request.stream, httpx.ByteStream)
        for attempt in range(2):
            connection, reused = await self._checkout(origin, request, _seconds(timeouts, "connect"))
            try:
                return await self._exchange(connection, request, timeouts, reused=reused)
            except _StaleConnectionError:
                self._discard(connection)
                if attempt == 0 and replayable:
                    continue
                raise httpx.RemoteProtocolError("server closed the connection without answering",
                                                request=request) from None
            except BaseException:
                self._discard(connection)
                raise
        raise AssertionError("unreachable")  # pragma: no cover - the loop returns or raises

    async def _checkout(self, origin: Origin, request: httpx.Request,
                        connect_s: float | None) -> tuple[_Connection, bool]:
        idle = self._idle.get(origin, [])
        while idle:
            connection = idle.pop()
            if connection.reusable:
                return connection, True
            self._discard(connection)
        try:
            async with asyncio.timeout(connect_s):
                reader, writer = await asyncio.open_connection(origin[0], origin[1], limit=READ_CHUNK)
        except TimeoutError:
            raise httpx.ConnectTimeout(f"no connection within {connect_s:g}s", request=request) from None
        except OSError as exc:
            raise httpx.ConnectError(str(exc) or type(exc).__name__, request=request) from None
        connection = _Connection(reader, writer)
        self._open.add(connection)
        return connection, False

    async def _exchange(self, connection: _Connection, request: httpx.Request, timeouts: dict[str, Any], *,
                        reused: bool) -> httpx.Response:
        target = request.url.raw_path
        headers = [(name, value) for name, value in request.headers.raw]
        try:
            async with asyncio.timeout(_seconds(timeouts, "write")):
                connection.writer.write(connection.h11.send(h11.Request(
                    method=request.method.encode(), target=target, headers=headers)))
                async for chunk in request.stream:  # type: ignore[union-attr]
                    connection.writer.write(connection.h11.send(h11.Data(data=chunk)))
                connection.writer.write(connection.h11.send(h11.EndOfMessage()))
                await connection.writer.drain()
        except TimeoutError:
            raise httpx.WriteTimeout("request not sent in time", request=request) from None
        except h11.LocalProtocolError as exc:
            raise httpx.LocalProtocolError(str(exc), request=request) from None
        except OSError as exc:
            if reused:
                raise _StaleConnectionError from None
            raise httpx.WriteError(str(exc) or type(exc).__name__, request=request) from None
        event = await self._next_event(connection, request, timeouts, reused=reused)
        while isinstance(event, h11.InformationalResponse):
            event = await self._next_event(connection, request, timeouts, reused=False)
        if not isinstance(event, h11.Response):
            raise httpx.RemoteProtocolError(f"expected a response, got {type(event).__name__}", request=request)
        return httpx.Response(
            event.status_code, headers=list(event.headers), stream=_Body(self, connection, request, timeouts),
            extensions={"http_version": b"HTTP/" + event.http_version, "reason_phrase": event.reason},
        )

    async def _next_event(self, connection: _Connection, request: httpx.Request, timeouts: dict[str, Any], *,
                          reused: bool = False) -> Any:
        read_s = _seconds(timeouts, "read")
        while True:
            try:
                event = connection.h11.next_event()
            except h11.RemoteProtocolError as exc:
                raise httpx.RemoteProtocolError(str(exc), request=request) from None
            if event is not h11.NEED_DATA:
                return event
            try:
                async with asyncio.timeout(read_s):
                    data = await connection.reader.read(READ_CHUNK)
            except TimeoutError:
                raise httpx.ReadTimeout(f"no data within {read_s:g}s", request=request) from None
            except OSError as exc:
                if reused and connection.h11.their_state is h11.SEND_RESPONSE:
                    raise _StaleConnectionError from None
                raise httpx.ReadError(str(exc) or type(exc).__name__, request=request) from None
            if not data and reused and connection.h11.their_state is h11.SEND_RESPONSE:
                raise _StaleConnectionError
            connection.h11.receive_data(data)

    def release(self, connection: _Connection, origin: Origin) -> None:
        """Back to the idle list if both sides finished cleanly and the server keeps it open; else closed."""
        with contextlib.suppress(h11.LocalProtocolError):
            if connection.h11.our_state is h11.DONE and connection.h11.their_state is h11.DONE:
                connection.h11.start_next_cycle()
        idle = self._idle.setdefault(origin, [])
        if connection.reusable and len(idle) < MAX_IDLE_PER_ORIGIN:
            idle.append(connection)
        else:
            self._discard(connection)

    def _discard(self, connection: _Connection) -> None:
        connection.close()
        self._open.discard(connection)

    def free_slot(self) -> None:
        self._slots.release()

    async def aclose(self) -> None:
        for connection in list(self._open):
            self._discard(connection)
        self._idle.clear()
        await self._tls.aclose()


class _Body(httpx.AsyncByteStream):
    """A response body read as it arrives; the connection goes back to the pool only after a clean end."""

    def __init__(self, transport: LightTransport, connection: _Connection, request: httpx.Request,
                 timeouts: dict[str, Any]) -> None:
        self._transport = transport
        self._connection = connection
        self._request = request
        self._timeouts = timeouts
        self._finished = False
        self._closed = False

    async def __aiter__(self) -> AsyncIterator[bytes]:
        while not self._finished:
            event = await self._transport._next_event(self._connection, self._request, self._timeouts)
            if isinstance(event, h11.Data):
                yield bytes(event.data)
            elif isinstance(event, h11.EndOfMessage):
                self._finished = True
            elif isinstance(event, h11.ConnectionClosed):
                raise httpx.RemoteProtocolError("server closed the connection mid-answer", request=self._request)

    async def aclose(self) -> None:
        if self._closed:
            return
        self._closed = True
        origin = (self._request.url.host, self._request.url.port or 80)
        if self._finished:
            self._transport.release(self._connection, origin)
        else:
            self._transport._discard(self._connection)
        self._transport.free_slot()
