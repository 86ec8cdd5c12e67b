"""A loopback HTTP server that answers with whatever bytes a test hands it: gzip bombs, endless lines, one byte
every few seconds, escape sequences, echoed keys. Raw sockets, so nothing between it and the client fixes up
what a hostile server would send."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

Reply = Callable[["Request"], AsyncIterator[bytes]]
"""Given the request, the raw bytes to send: status line, headers and body, in as many pieces as it likes."""


@dataclass
class Request:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class HostileServer:
    url: str
    seen: list[Request] = field(default_factory=list)


def http_reply(body: bytes, *, status: int = 200, content_type: str = "application/json",
               headers: dict[str, str] | None = None) -> bytes:
    """A whole reply with Content-Length, for handlers that send one body at once."""
    lines = [f"HTTP/1.1 {status} X", f"Content-Type: {content_type}", f"Content-Length: {len(body)}",
             "Connection: close", *(f"{k}: {v}" for k, v in (headers or {}).items())]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def stream_head(*, status: int = 200, content_type: str = "text/event-stream",
                headers: dict[str, str] | None = None) -> bytes:
    """Status line and headers of a reply whose body follows until the connection closes."""
    lines = [f"HTTP/1.1 {status} X", f"Content-Type: {content_type}", "Connection: close",
             *(f"{k}: {v}" for k, v in (headers or {}).items())]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def canned(reply: bytes) -> Reply:
    async def send(_: Request) -> AsyncIterator[bytes]:
        yield reply
    return send


async def _read_request(reader: asyncio.StreamReader) -> Request:
    head = await reader.readuntil(b"\r\n\r\n")
    first, *header_lines = head.decode("latin-1").split("\r\n")
    method, path, _ = [*first.split(" "), "", ""][:3]
    headers = {}
    for line in header_lines:
        name, sep, value = line.partition(":")
        if sep:
            headers[name.strip().lower()] = value.strip()
    length = int(headers.get("content-length", "0") or 0)
    body = await reader.readexactly(length) if length else b""
    return Request(method, path, headers, body)


@contextmanager
def hostile_server(routes: dict[str, Reply], default: Reply | None = None) -> Iterator[HostileServer]:
    """Serve `routes` ("METHOD /path" or "/path" → Reply) on a free loopback port, in a thread of its own."""
    ready = threading.Event()
    state: dict[str, object] = {}
    server = HostileServer(url="")

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            request = await _read_request(reader)
            server.seen.append(request)
            path = request.path.split("?")[0]
            reply = routes.get(f"{request.method} {path}") or routes.get(path) or default
            if reply is None:
                writer.write(http_reply(b'{"error": "not found"}', status=404))
            else:
                async for piece in reply(request):
                    writer.write(piece)
                    await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.CancelledError):
            pass
        finally:
            writer.close()

    async def main() -> None:
        listener = await asyncio.start_server(handle, "127.0.0.1", 0)
        state["loop"], state["stop"] = asyncio.get_running_loop(), asyncio.Event()
        server.url = f"http://127.0.0.1:{listener.sockets[0].getsockname()[1]}"
        ready.set()
        async with listener:
            await state["stop"].wait()  # type: ignore[attr-defined]
            listener.close()
            for task in asyncio.all_tasks() - {asyncio.current_task()}:
                task.cancel()

    thread = threading.Thread(target=asyncio.run, args=(main(),), daemon=True)
    thread.start()
    ready.wait(30)
    try:
        yield server
    finally:
        loop: asyncio.AbstractEventLoop = state["loop"]  # type: ignore[assignment]
        loop.call_soon_threadsafe(state["stop"].set)  # type: ignore[attr-defined]
        thread.join(30)
