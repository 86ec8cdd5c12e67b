"""The Messages stream parser fed real and hostile bytes over loopback: a recorded llama.cpp transcript split at
awkward boundaries, in-stream `event: error`, and garbage that must only ever raise ProviderError."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from providers.adapters.anthropic import AnthropicAdapter
from providers.base import AdapterOptions, ChatChunk, ChatRequest, Message
from providers.emulators.faults import FaultPlan
from providers.emulators.server import EmulatorServer
from providers.errors import OverloadedError, ProtocolError, ProviderError, RateLimitedError, StreamBrokenError
from providers.http import make_client

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
RECORDED = (FIXTURES / "llamacpp_anthropic_messages_stream.sse").read_bytes()
RECORDED_MESSAGE = (FIXTURES / "llamacpp_anthropic_messages.json").read_bytes()
RECORDED_TEXT = "utors gminnpprocessing situation"


@dataclass
class Script:
    """What the replay server sends next: these pieces, one write each, as a body of this media type."""

    pieces: list[bytes] = field(default_factory=list)
    media_type: str = "text/event-stream"


@pytest.fixture(scope="module")
def replay() -> Iterator[tuple[EmulatorServer, Script]]:
    script = Script()

    async def messages(request: Request) -> Response:
        await request.body()

        async def body() -> AsyncIterator[bytes]:
            for piece in script.pieces:
                yield piece
                await asyncio.sleep(0.001)  # a separate TCP write per piece, so the client sees the splits

        return StreamingResponse(body(), media_type=script.media_type)

    server = EmulatorServer(app=Starlette(routes=[Route("/v1/messages", messages, methods=["POST"])]),
                            plan=FaultPlan()).start()
    yield server, script
    server.stop()


async def stream_once(url: str) -> list[ChatChunk]:
    async with make_client(timeout_s=5.0) as client:
        adapter = AnthropicAdapter(AdapterOptions(name="replay", base_url=url, kind="anthropic"), client)
        request = ChatRequest(model="tiny-llama-native", messages=(Message("user", "hi"),))
        return [chunk async for chunk in adapter.chat_stream(request)]


def split(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({c % (len(data) + 1) for c in cuts} | {0, len(data)})
    return [data[a:b] for a, b in itertools.pairwise(points) if b > a]


async def test_recorded_llamacpp_stream_served_whole_parses_text_usage_and_stop(replay) -> None:
    server, script = replay
    script.pieces, script.media_type = [RECORDED], "text/event-stream"
    chunks = await stream_once(server.url)
    assert "".join(c.text for c in chunks) == RECORDED_TEXT
    final = chunks[-1]
    assert final.finish_reason == "length"  # max_tokens
    assert final.usage is not None
    assert final.usage.prompt_tokens == 14  # input_tokens 1 + cache_read_input_tokens 13
    assert final.usage.completion_tokens == 5


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(cuts=st.lists(st.integers(min_value=0, max_value=len(RECORDED)), max_size=40))
def test_recorded_stream_split_at_any_boundaries_parses_the_same(replay, cuts: list[int]) -> None:
    server, script = replay
    script.pieces = split(RECORDED, cuts)
    chunks = asyncio.run(stream_once(server.url))
    assert "".join(c.text for c in chunks) == RECORDED_TEXT
    assert chunks[-1].usage is not None and chunks[-1].usage.total_tokens == 19


async def test_recorded_llamacpp_message_parses_without_streaming(replay) -> None:
    server, script = replay
    script.pieces, script.media_type = [RECORDED_MESSAGE], "application/json"
    try:
        async with make_client(timeout_s=5.0) as client:
            adapter = AnthropicAdapter(AdapterOptions(name="replay", base_url=server.url, kind="anthropic"), client)
            result = await adapter.chat(ChatRequest(model="tiny-llama-native", messages=(Message("user", "hi"),)))
    finally:
        script.media_type = "text/event-stream"
    assert result.text == "pointer HEondervan',\r" and result.model == "tiny-llama-native"
    assert result.finish_reason == "length"
    assert result.usage is not None and (result.usage.prompt_tokens, result.usage.completion_tokens) == (14, 5)


def without_message_stop(data: bytes) -> bytes:
    return data[: data.index(b"event: message_stop")]


async def test_stream_without_message_stop_is_broken_not_finished(replay) -> None:
    server, script = replay
    script.pieces = [without_message_stop(RECORDED)]
    with pytest.raises(StreamBrokenError) as caught:
        await stream_once(server.url)
    assert caught.value.partial == RECORDED_TEXT
    assert isinstance(caught.value.cause, ProtocolError)


async def test_error_event_before_text_raises_the_mapped_error(replay) -> None:
    server, script = replay
    script.pieces = [
        b'event: message_start\ndata: {"type":"message_start","message":{"usage":{"input_tokens":3}}}\n\n',
        b"event: ping\ndata: {\"type\": \"ping\"}\n\n",
        b'event: error\ndata: {"type":"error","error":{"type":"rate_limit_error","message":"slow down"}}\n\n',
    ]
    with pytest.raises(RateLimitedError):
        await stream_once(server.url)


async def test_overloaded_error_event_after_text_breaks_the_stream_keeping_text(replay) -> None:
    server, script = replay
    head = RECORDED[: RECORDED.index(b"event: content_block_stop")]
    script.pieces = [
        head,
        b'event: error\ndata: {"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}\n\n',
    ]
    with pytest.raises(StreamBrokenError) as caught:
        await stream_once(server.url)
    assert caught.value.partial == RECORDED_TEXT
    assert isinstance(caught.value.cause, OverloadedError) and caught.value.cause.status == 529


async def test_unknown_events_and_thinking_deltas_are_tolerated_but_not_shown(replay) -> None:
    server, script = replay
    extra = (
        b'event: content_block_delta\ndata: {"type":"content_block_delta","index":1,'
        b'"delta":{"type":"thinking_delta","thinking":"hmm"}}\n\n'
        b'event: some_future_event\ndata: {"type":"some_future_event"}\n\n'
        b": keep-alive comment\n\n"
    )
    script.pieces = [extra + RECORDED]
    chunks = await stream_once(server.url)
    assert "".join(c.text for c in chunks) == RECORDED_TEXT


EVENT_LINES = [
    b"event: message_start\n", b"event: content_block_delta\n", b"event: message_delta\n", b"event: error\n",
    b"event: message_stop\n", b"event: ping\n", b"data: {}\n", b"data: []\n", b"data: null\n", b"data: 42\n",
    b'data: {"type":"content_block_delta","delta":{"type":"text_delta","text":7}}\n',
    b'data: {"type":"content_block_delta","delta":"x"}\n', b'data: {"type":"message_start","message":[1]}\n',
    b'data: {"type":"message_delta","delta":null,"usage":{"output_tokens":"many"}}\n',
    b'data: {"type":"error","error":"not an object"}\n', b'data: {"type":"message_stop"}\n',
    b"data: {not json\n", b"\n", b"\n\n", b": comment\n", b"retry: 10\n", b"id: 1\n", b"\xff\xfe\n",
]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(lines=st.lists(st.one_of(st.sampled_from(EVENT_LINES), st.binary(max_size=40)), max_size=25))
def test_garbage_streams_raise_only_provider_errors(replay, lines: list[bytes]) -> None:
    server, script = replay
    script.pieces = [b"".join(lines)] if lines else []
    with contextlib.suppress(ProviderError):
        asyncio.run(stream_once(server.url))
