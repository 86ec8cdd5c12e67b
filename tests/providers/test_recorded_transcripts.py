"""Adapters built by kind (build_adapter) against replies recorded from stock llama-server and LiteLLM
(../shared/fixtures, copied to tests/fixtures), replayed byte for byte from raw sockets: no framework between
the recording and the client adds, fixes or re-chunks anything. Streams are cut where a parser is most likely to
slip: inside multi-byte UTF-8 characters, between the two newlines that end an event, inside `data:`, between an
`event:` line and its `data:` line, and inside `[DONE]`.

What the parsers make of the same bodies in-process lives in test_openai_parse.py and test_anthropic_stream.py;
the starlette-served replays in test_openai_flavours.py."""

from __future__ import annotations

import asyncio
import itertools
import json
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest

from providers.adapters import build_adapter
from providers.base import Adapter, AdapterOptions, ChatChunk, ChatRequest, Message
from providers.errors import ContextTooLongError
from tests.hostile.hostile_server import HostileServer, Reply, Request, canned, hostile_server, http_reply, stream_head
from tests.providers.openai_stub_server import fixture_bytes

TIMEOUT_S = 30.0
"""Bounds a hang only: every reply here is sent at once."""
HELLO = ChatRequest(model="tiny-llama-native", messages=(Message("user", "hi"),), max_tokens=8)
KEY = "sk-recorded-0123456789abcdef"


def recorded(name: str, *, status: int = 200, content_type: str = "application/json") -> Reply:
    return canned(http_reply(fixture_bytes(name), status=status, content_type=content_type))


def awkward_cuts(body: bytes) -> list[int]:
    """Offsets inside every multi-byte UTF-8 character, between the newlines ending each event, inside each
    `data:` / `event:` prefix, between an `event:` line and its `data:` line, and inside `[DONE]`."""
    cuts = {i for i in range(1, len(body)) if body[i] & 0xC0 == 0x80}  # a UTF-8 continuation byte
    for marker, offset in ((b"\n\n", 1), (b"data: ", 2), (b"data: ", 5), (b"event: ", 3), (b"\ndata:", 1),
                           (b"[DONE]", 3)):
        start = 0
        while (found := body.find(marker, start)) >= 0:
            cuts.add(found + offset)
            start = found + 1
    return sorted(c for c in cuts if 0 < c < len(body))


def pieces(body: bytes, cuts: list[int]) -> list[bytes]:
    bounds = [0, *cuts, len(body)]
    return [body[a:b] for a, b in itertools.pairwise(bounds) if b > a]


def replayed_stream(body: bytes, cuts: list[int]) -> Reply:
    """A 200 event stream whose body goes out in separate writes, cut at `cuts`."""
    async def send(_: Request) -> AsyncIterator[bytes]:
        yield stream_head()
        for piece in pieces(body, cuts):
            yield piece
            await asyncio.sleep(0.001)  # a separate TCP write per piece, so the client reads the cuts
    return send


def adapter(kind: str, server: HostileServer, client: httpx.AsyncClient) -> Adapter:
    options = AdapterOptions(name=f"recorded-{kind}", base_url=server.url, kind=kind, timeout_s=TIMEOUT_S,
                             api_key=lambda: KEY)
    return build_adapter(options, client)


async def collect(stream: AsyncIterator[ChatChunk]) -> list[ChatChunk]:
    return [chunk async for chunk in stream]


# ------------------------------------------------------------------ llama-server

@pytest.fixture
def llama_server() -> Iterator[HostileServer]:
    """The recorded llama-server (`--metrics --slots -c 512`, one idle model) on its GET routes."""
    routes = {
        "GET /health": recorded("llamacpp_health.json"),
        "GET /props": recorded("llamacpp_props.json"),
        "GET /slots": recorded("llamacpp_slots.json"),
        "GET /v1/models": recorded("llamacpp_v1_models.json"),
        "GET /metrics": recorded("llamacpp_metrics.txt", content_type="text/plain; version=0.0.4"),
    }
    with hostile_server(routes) as server:
        yield server


async def test_llama_server_health_reads_props_slots_and_metrics(llama_server: HostileServer,
                                                                client: httpx.AsyncClient) -> None:
    health = await adapter("llamacpp", llama_server, client).health()
    assert (health.status, health.version, health.models_loaded) == ("up", "b1-0c1e570", ("tiny-llama-native",))
    # Slot 3 served a task before the recording and still carries its id_task/params: idle all the same.
    assert health.metrics == {
        "requests_running": 0.0, "requests_waiting": 0.0, "prompt_tokens_per_s": 151.883,
        "generation_tokens_per_s": 1121.26, "prompt_tokens_total": 16.0, "generation_tokens_total": 17.0,
        "slots_busy": 0.0, "slots_total": 4.0, "n_ctx": 512.0,
    }
    assert health.detail == "0/4 slots busy · 0 running · 0 waiting"
    asked = {r.path for r in llama_server.seen}
    assert {"/health", "/props", "/slots", "/metrics", "/v1/models"} <= asked


async def test_llama_server_model_list_uses_the_running_context(llama_server: HostileServer,
                                                                client: httpx.AsyncClient) -> None:
    [model] = await adapter("llamacpp", llama_server, client).list_models()
    # meta.n_ctx (512, the running -c) rather than n_ctx_train; the Ollama-style `models` array is ignored.
    assert (model.name, model.context_length, model.loaded, model.size_bytes, model.parameter_size) == (
        "tiny-llama-native", 512, True, 16712960, "4.2M")


STREAMS = [
    # fixture, kind, text, finish, (prompt, completion) tokens from the stream's own usage chunk
    ("llamacpp_chat_stream.sse", "llamacpp", "cancelání stup relax canción dabei", "length", (14, 6)),
    ("litellm_chat_stream.sse", "litellm", "Hello from the LiteLLM proxy mock.", "stop", (8, 9)),
    ("llamacpp_python_chat_stream.sse", "llamacpp", "н iPhone vida식endencies британ", "length", None),
]


@pytest.mark.parametrize(("name", "kind", "text", "finish", "usage"), STREAMS, ids=[s[0] for s in STREAMS])
async def test_recorded_stream_cut_at_awkward_bytes(name: str, kind: str, text: str, finish: str,
                                                    usage: tuple[int, int] | None,
                                                    client: httpx.AsyncClient) -> None:
    body = fixture_bytes(name)
    cuts = awkward_cuts(body)
    with hostile_server({"POST /v1/chat/completions": replayed_stream(body, cuts)}) as server:
        chunks = await collect(adapter(kind, server, client).chat_stream(HELLO))
        [request] = [r for r in server.seen if r.path == "/v1/chat/completions"]
    assert "".join(c.text for c in chunks) == text
    assert [c.finish_reason for c in chunks if c.finish_reason] == [finish]
    if usage is not None:  # llama-cpp-python sends none; counting it is the deck's job, not the parser's
        [reported] = [c.usage for c in chunks if c.usage]
        assert (reported.prompt_tokens, reported.completion_tokens) == usage
    assert request.headers["authorization"] == f"Bearer {KEY}"
    assert json.loads(request.body)["stream"] is True


def test_the_awkward_cuts_do_split_characters_events_and_done() -> None:
    """Guards the test above: its cuts really land inside what they claim to."""
    body = fixture_bytes("llamacpp_chat_stream.sse")
    cut = pieces(body, awkward_cuts(body))
    assert any(p[-1] >= 0xC0 for p in cut)  # a piece ends on the first byte of "á", "í" or "ó"
    assert any(p.endswith(b"}\n") for p in cut) and b"\n" in cut and b"da" in cut
    assert any(p.endswith(b"[DO") for p in cut) and b"".join(cut) == body


async def test_llama_server_timings_and_plain_chat(client: httpx.AsyncClient) -> None:
    body = fixture_bytes("llamacpp_chat_stream.sse")
    routes = {"POST /v1/chat/completions": replayed_stream(body, awkward_cuts(body))}
    with hostile_server(routes) as server:
        chunks = await collect(adapter("llamacpp", server, client).chat_stream(HELLO))
    [timings] = [c.timings for c in chunks if c.timings]
    assert (timings.prompt_tokens, timings.completion_tokens, timings.completion_ms) == (1, 6, 2.648)
    with hostile_server({"POST /v1/chat/completions": recorded("llamacpp_chat.json")}) as server:
        result = await adapter("llamacpp", server, client).chat(HELLO)
    assert (result.text, result.finish_reason) == (" coordinatescas импе Burgexit expectation reallyCharacter",
                                                   "length")
    assert result.usage is not None and (result.usage.prompt_tokens, result.usage.completion_tokens) == (14, 8)


async def test_llama_server_context_error_is_context_too_long_in_one_line(client: httpx.AsyncClient) -> None:
    routes = {"POST /v1/chat/completions": recorded("llamacpp_context_exceeded.json", status=400)}
    with hostile_server(routes) as server:
        lab = adapter("llamacpp", server, client)
        with pytest.raises(ContextTooLongError) as streamed:
            await collect(lab.chat_stream(HELLO))
        with pytest.raises(ContextTooLongError) as plain:
            await lab.chat(HELLO)
    for caught in (streamed.value, plain.value):
        assert (caught.n_ctx, caught.n_prompt, caught.status) == (512, 814, 400)
        assert "\n" not in caught.brief and "exceeds the available context size" in caught.brief


# ------------------------------------------------------------------ llama-server's Anthropic Messages route

async def test_anthropic_kind_against_a_llama_server(client: httpx.AsyncClient) -> None:
    """`kind: anthropic` pointed at llama-server: its /v1/models is OpenAI-shaped (no has_more, no
    max_input_tokens) and its Messages stream has no ping and counts the cached prompt apart."""
    body = fixture_bytes("llamacpp_anthropic_messages_stream.sse")
    routes = {"GET /v1/models": recorded("llamacpp_v1_models.json"),
              "POST /v1/messages": replayed_stream(body, awkward_cuts(body))}
    with hostile_server(routes) as server:
        lab = adapter("anthropic", server, client)
        health = await lab.health()
        models = await lab.list_models()
        chunks = await collect(lab.chat_stream(HELLO))
        [request] = [r for r in server.seen if r.path == "/v1/messages"]
    assert health.status == "up"
    assert [(m.name, m.context_length) for m in models] == [("tiny-llama-native", None)]
    assert "".join(c.text for c in chunks) == "utors gminnpprocessing situation"
    final = chunks[-1]
    assert final.finish_reason == "length" and final.usage is not None
    assert (final.usage.prompt_tokens, final.usage.completion_tokens) == (14, 5)  # 1 new + 13 cached
    assert request.headers["x-api-key"] == KEY and request.headers["anthropic-version"] == "2023-06-01"
    assert json.loads(request.body)["max_tokens"] == 8


async def test_anthropic_kind_plain_message_from_a_llama_server(client: httpx.AsyncClient) -> None:
    with hostile_server({"POST /v1/messages": recorded("llamacpp_anthropic_messages.json")}) as server:
        result = await adapter("anthropic", server, client).chat(HELLO)
    # The raw text keeps the model's "\r": making it terminal-safe is the display's job.
    assert (result.text, result.model, result.finish_reason) == ("pointer HEondervan',\r", "tiny-llama-native",
                                                                  "length")
    assert result.usage is not None and (result.usage.prompt_tokens, result.usage.completion_tokens) == (14, 5)


# ------------------------------------------------------------------ LiteLLM proxy

async def test_litellm_readiness_without_a_version_is_up(client: httpx.AsyncClient) -> None:
    """LiteLLM 1.106.2 without a database answers readiness with no `litellm_version` (the docs show one)."""
    routes = {
        # Not recorded: the documented liveliness answer. The probe reads only its status.
        "GET /health/liveliness": canned(http_reply(b'"I\'m alive!"')),
        "GET /health/readiness": recorded("litellm_health_readiness.json"),
        "GET /v1/models": recorded("litellm_v1_models.json"),
    }
    with hostile_server(routes) as server:
        lab = adapter("litellm", server, client)
        health = await lab.health()
        models = await lab.list_models()
        assert "/health" not in {r.path for r in server.seen}  # that route calls every model behind the proxy
    assert (health.status, health.version, health.detail) == ("up", None, "db: Not connected")
    assert health.models_loaded == ()  # a proxy holds nothing in memory itself
    assert [(m.name, m.context_length, m.loaded) for m in models] == [("gpt-4o-mini", 128000, False),
                                                                      ("tiny-llama", None, False)]
