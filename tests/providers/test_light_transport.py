"""The plain-HTTP transport under httpx: keep-alive, a stale connection sent again only when that is safe, a cap on
connections, and every way a server can fail mapped to the httpx error the rest of llmdeck already handles."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

import httpx
import pytest

from providers.errors import ProtocolError, ProviderTimeoutError, UnreachableError
from providers.http import error_from_transport, make_client, request_json
from providers.light_transport import LightTransport
from tests.waiting import HANG_S, wait_for_condition

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter, "RawServer"], Awaitable[None]]


@dataclass
class RawServer:
    url: str = ""
    connections: int = 0
    requests: list[bytes] = field(default_factory=list)
    closed_by_client: int = 0
    release: asyncio.Event = field(default_factory=asyncio.Event)


async def read_request(reader: asyncio.StreamReader) -> bytes:
    head = await reader.readuntil(b"\r\n\r\n")
    length = next((int(line.split(b":")[1]) for line in head.split(b"\r\n")
                   if line.lower().startswith(b"content-length:")), 0)
    return head + (await reader.readexactly(length) if length else b"")


def answer(body: bytes, *, extra: bytes = b"") -> bytes:
    return b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n%s\r\n%s" % (
        len(body), extra, body)


@asynccontextmanager
async def raw_server(handler: Handler) -> AsyncIterator[RawServer]:
    state = RawServer()

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        state.connections += 1
        try:
            await handler(reader, writer, state)
        except (asyncio.IncompleteReadError, ConnectionError):
            state.closed_by_client += 1
        finally:
            writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    state.url = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"
    async with server:
        yield state
        server.close()


async def keep_alive(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, state: RawServer) -> None:
    while True:
        state.requests.append(await read_request(reader))
        writer.write(answer(b'{"n": %d}' % len(state.requests)))
        await writer.drain()


async def closes_when_idle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, state: RawServer) -> None:
    """The first connection answers once, keeping it alive, then closes it as the next request comes in, unread
    (a keep-alive timeout racing the client); later connections answer every request."""
    first = state.connections == 1
    state.requests.append(await read_request(reader))
    writer.write(answer(b'{"n": %d}' % len(state.requests)))
    await writer.drain()
    if first:
        await reader.readuntil(b"\r\n\r\n")
        return
    await keep_alive(reader, writer, state)


@pytest.fixture
async def light_client() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(transport=LightTransport(), timeout=HANG_S) as http:
        yield http


async def test_answers_come_over_one_kept_alive_connection(light_client: httpx.AsyncClient) -> None:
    async with raw_server(keep_alive) as server:
        replies = [(await light_client.get(f"{server.url}/x")).json()["n"] for _ in range(3)]
        posted = await light_client.post(f"{server.url}/y", json={"a": 1})
    assert replies == [1, 2, 3]
    assert posted.json() == {"n": 4}
    assert server.connections == 1
    assert server.requests[3].startswith(b"POST /y HTTP/1.1") and server.requests[3].endswith(b'{"a":1}')


async def test_a_connection_the_server_closed_while_idle_is_sent_again_once(light_client: httpx.AsyncClient) -> None:
    async with raw_server(closes_when_idle) as server:
        first = (await light_client.get(f"{server.url}/x")).json()
        second = (await light_client.post(f"{server.url}/y", json={"again": True})).json()
    assert (first, second) == ({"n": 1}, {"n": 2})
    assert server.connections == 2
    assert len(server.requests) == 2  # the server dropped the first copy unread: nothing was done twice


async def test_a_body_that_cannot_be_sent_again_is_not_replayed_on_a_stale_connection() -> None:
    transport = LightTransport()
    async with raw_server(closes_when_idle) as server, httpx.AsyncClient(transport=transport,
                                                                           timeout=HANG_S) as client:
        await client.get(f"{server.url}/x")

        async def streamed() -> AsyncIterator[bytes]:
            yield b"part"

        with pytest.raises(httpx.RemoteProtocolError) as caught:
            await client.post(f"{server.url}/y", content=streamed())
        assert "connection dropped" in str(error_from_transport(caught.value, "p"))
    assert server.connections == 1  # not sent again: a one-shot body cannot be replayed


async def test_bytes_that_are_not_http_are_a_dropped_connection_with_the_reason() -> None:
    async def ssh(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, state: RawServer) -> None:
        writer.write(b"SSH-2.0-OpenSSH_9.2p1 Debian-2\r\n")
        await writer.drain()
        await reader.read(1)

    async with raw_server(ssh) as server, make_client(light=True) as client:
        with pytest.raises(ProtocolError, match="connection dropped: RemoteProtocolError"):
            await request_json(client, "GET", f"{server.url}/api/version", provider="p")


async def test_an_answer_cut_short_is_an_error_and_its_connection_is_not_kept(light_client: httpx.AsyncClient) -> None:
    async def cut(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, state: RawServer) -> None:
        state.requests.append(await read_request(reader))
        if len(state.requests) == 1:
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n" + b"x" * 10)
            await writer.drain()
            return
        writer.write(answer(b"{}"))
        await writer.drain()

    async with raw_server(cut) as server:
        with pytest.raises(httpx.RemoteProtocolError):
            await light_client.get(f"{server.url}/x")
        assert (await light_client.get(f"{server.url}/x")).json() == {}
    assert server.connections == 2


async def test_headers_without_end_are_refused_before_they_fill_memory(light_client: httpx.AsyncClient) -> None:
    async def endless_header(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, state: RawServer) -> None:
        await read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nX-Fill: ")
        for _ in range(64):
            writer.write(b"a" * 8192)
            await writer.drain()
        await reader.read(1)

    async with raw_server(endless_header) as server:
        with pytest.raises(httpx.RemoteProtocolError):
            await light_client.get(f"{server.url}/x")


async def test_a_server_that_never_answers_is_a_read_timeout_and_a_closed_port_unreachable() -> None:
    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, state: RawServer) -> None:
        await read_request(reader)
        await reader.read(1)

    async with raw_server(silent) as server, make_client(light=True, timeout_s=0.5) as client:
        with pytest.raises(ProviderTimeoutError):  # the deadline is what is tested here
            await request_json(client, "GET", f"{server.url}/x", provider="p")
        url = server.url
    async with make_client(light=True) as client:
        with pytest.raises(UnreachableError):
            await request_json(client, "GET", f"{url}/x", provider="p")


async def test_leaving_a_streamed_answer_midway_closes_its_connection(light_client: httpx.AsyncClient) -> None:
    async def drip(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, state: RawServer) -> None:
        await read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n")
        writer.write(b"6\r\ndata:1\r\n")
        await writer.drain()
        await reader.read(1)  # returns b"" once the client closes its end
        state.closed_by_client += 1

    async with raw_server(drip) as server:
        async with light_client.stream("GET", f"{server.url}/s") as response:
            async for chunk in response.aiter_bytes():
                assert chunk == b"data:1"
                break
        await wait_for_condition(lambda: server.closed_by_client == 1)


async def test_requests_beyond_the_connection_cap_wait_for_a_free_one() -> None:
    async def held(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, state: RawServer) -> None:
        while True:
            state.requests.append(await read_request(reader))
            await state.release.wait()
            writer.write(answer(b"{}"))
            await writer.drain()

    async with raw_server(held) as server, httpx.AsyncClient(transport=LightTransport(max_connections=2),
                                                             timeout=HANG_S) as client:
        calls = [asyncio.create_task(client.get(f"{server.url}/x")) for _ in range(3)]
        await wait_for_condition(lambda: len(server.requests) == 2)
        assert server.connections == 2  # the third waits for a slot rather than opening a third connection
        server.release.set()
        replies = await asyncio.gather(*calls)
    assert [reply.status_code for reply in replies] == [200, 200, 200]
    assert len(server.requests) == 3 and server.connections == 2
