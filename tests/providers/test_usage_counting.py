"""A reply without usage (llama-cpp-python 0.3.36's stream, recorded) is counted: by the server's tokenize route
when it has one, else characters/4; either way marked estimated, in the result, the ledger, metrics and limits."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from config.schema import DeckConfig
from providers.adapters.openai_compat import OpenAICompatAdapter
from providers.base import AdapterOptions, ChatRequest, Message, Usage
from providers.deck import Deck
from providers.emulators.faults import FaultPlan
from providers.emulators.openai_state import ServerState
from providers.emulators.server import EmulatorServer
from providers.monitor import MonitorPolicy
from providers.router import Router, estimate_tokens
from providers.usage_count import count_usage, estimate_tokens_of
from tests.conftest import EmulatorFactory
from tests.providers.openai_stub_server import Canned, StubServer, fixture_bytes, serve

RECORDED_TEXT = "н iPhone vida식endencies британ"
HELLO = ChatRequest(model="tiny-llama", messages=(Message("system", "be brief"), Message("user", "hi there")),
                    max_tokens=8)
NO_USAGE_STREAM = {"POST /v1/chat/completions": Canned.fixture("llamacpp_python_chat_stream.sse")}


def adapter(kind: str, base_url: str, client: httpx.AsyncClient) -> OpenAICompatAdapter:
    return OpenAICompatAdapter(AdapterOptions(name="pyllama", base_url=base_url, kind=kind), client)


def bodies(server: StubServer, path: str) -> list[dict[str, object]]:
    return [json.loads(seen.body) for seen in server.seen if seen.path == path]


def _events(body: bytes) -> list[bytes]:
    return [line.removeprefix(b"data: ") for line in body.split(b"\n") if line.startswith(b"data: ")]


async def test_the_llama_cpp_python_emulator_streams_like_the_recording(emulator: EmulatorFactory,
                                                                       client: httpx.AsyncClient) -> None:
    server = emulator("llama_cpp_python")
    reply = await client.post(f"{server.url}/v1/chat/completions", json={
        "model": "tiny-llama", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 6, "stream": True,
        "stream_options": {"include_usage": True}})
    emulated, recorded = _events(reply.content), _events(fixture_bytes("llamacpp_python_chat_stream.sse"))
    assert emulated[-1] == recorded[-1] == b"[DONE]"
    chunks, want = [json.loads(e) for e in emulated[:-1]], [json.loads(e) for e in recorded[:-1]]
    assert all(set(c) == set(want[0]) for c in chunks), "the recorded keys: no usage, no system_fingerprint"
    assert [c["choices"][0]["delta"] for c in (chunks[0], chunks[-1])] == [{"role": "assistant"}, {}]
    assert chunks[-1]["choices"][0]["finish_reason"] == want[-1]["choices"][0]["finish_reason"] == "length"
    listing = (await client.get(f"{server.url}/v1/models")).json()
    assert listing == json.loads(fixture_bytes("llamacpp_python_v1_models.json"))
    assert (await client.post(f"{server.url}/tokenize", json={"content": "a b"})).status_code == 404
    counted = await client.post(f"{server.url}/extras/tokenize", json={"input": "a b"})
    assert len(counted.json()["tokens"]) == 3  # BOS and two words


async def test_recorded_stream_is_counted_by_extras_tokenize_after_tokenize_404(client: httpx.AsyncClient) -> None:
    routes = {**NO_USAGE_STREAM, "POST /extras/tokenize": Canned(b'{"tokens": [1, 9, 9, 9, 9]}')}
    with serve(routes) as server:
        router = Router({"pyllama": adapter("llamacpp", server.url, client)}, [])
        routed = await router.chat("pyllama/tiny-llama", HELLO)
        assert routed.text == RECORDED_TEXT
        assert routed.usage == Usage(prompt_tokens=5, completion_tokens=5, estimated=True)
        # llama-server's route first (404 from this server), then llama-cpp-python's, for the prompt and answer.
        assert server.paths() == ["/v1/chat/completions", "/tokenize", "/extras/tokenize", "/extras/tokenize"]
        asked = bodies(server, "/extras/tokenize")
        assert [b["input"] for b in asked] == ["be brief\nhi there", RECORDED_TEXT]
        assert all(b["model"] == "tiny-llama" for b in asked)
        assert bodies(server, "/tokenize")[0]["content"] == "be brief\nhi there"

        await router.chat("pyllama/tiny-llama", HELLO)  # the 404 is remembered: /tokenize is not asked again
        assert server.paths()[4:] == ["/v1/chat/completions", "/extras/tokenize", "/extras/tokenize"]


async def test_without_a_tokenize_route_the_estimate_is_characters_over_four(client: httpx.AsyncClient) -> None:
    with serve(dict(NO_USAGE_STREAM)) as server:  # every other path is a 404
        routed = await Router({"pyllama": adapter("llamacpp", server.url, client)}, []).chat(
            "pyllama/tiny-llama", HELLO)
        assert server.paths() == ["/v1/chat/completions", "/tokenize", "/extras/tokenize"]
    assert routed.usage == Usage(prompt_tokens=estimate_tokens_of("be brief\nhi there"),
                                 completion_tokens=estimate_tokens_of(RECORDED_TEXT), estimated=True)
    assert routed.usage.completion_tokens == -(-len(RECORDED_TEXT) // 4) > 0


async def test_a_failing_tokenizer_falls_back_to_the_estimate(client: httpx.AsyncClient) -> None:
    routes = {**NO_USAGE_STREAM, "POST /tokenize": Canned(b'{"error": "boom"}', status=500)}
    with serve(routes) as server:
        routed = await Router({"pyllama": adapter("llamacpp", server.url, client)}, []).chat(
            "pyllama/tiny-llama", HELLO)
        assert "/extras/tokenize" not in server.paths()  # a 500 is not "no such route"
    assert routed.usage is not None and routed.usage.estimated
    assert routed.usage.completion_tokens == estimate_tokens_of(RECORDED_TEXT)


async def test_a_tokenizer_that_never_answers_is_given_up_within_the_bound(client: httpx.AsyncClient) -> None:
    asked = asyncio.Event()

    async def hang(request: Request) -> Response:
        asked.set()
        await asyncio.Event().wait()  # until the server is stopped
        return Response(b"")

    server = EmulatorServer(app=Starlette(routes=[Route("/tokenize", hang, methods=["POST"])]),
                            plan=FaultPlan()).start()
    try:
        usage = await count_usage(adapter("llamacpp", server.url, client), HELLO, RECORDED_TEXT, left_s=0.5)
    finally:
        server.stop()
    assert asked.is_set()
    assert usage == Usage(prompt_tokens=estimate_tokens_of("be brief\nhi there"),
                          completion_tokens=estimate_tokens_of(RECORDED_TEXT), estimated=True)


async def test_a_server_that_sends_usage_is_not_counted(client: httpx.AsyncClient) -> None:
    routes = {"POST /v1/chat/completions": Canned.fixture("llamacpp_chat_stream.sse"),
              "POST /tokenize": Canned(b'{"tokens": [1]}')}
    with serve(routes) as server:
        routed = await Router({"box": adapter("llamacpp", server.url, client)}, []).chat("box/x", HELLO)
        assert server.paths() == ["/v1/chat/completions"]
    assert routed.usage == Usage(prompt_tokens=14, completion_tokens=6, estimated=False)


async def test_vllm_counts_with_its_tokenize_route(emulator: EmulatorFactory, client: httpx.AsyncClient) -> None:
    server = emulator("vllm")
    lab = OpenAICompatAdapter(AdapterOptions(name="vllm", base_url=server.url, kind="vllm"), client)
    model = "meta-llama/Llama-3.1-8B-Instruct"
    counts = await lab.count_tokens(model, ["three little words", ""])
    assert counts == [4, 0]  # BOS + three words; an empty text is not sent
    state: ServerState = server.app.state.openai
    assert state.tokenize_calls == 1


async def test_counted_tokens_feed_the_ledger_metrics_and_tpm_limit(emulator: EmulatorFactory,
                                                                    tmp_path: Path) -> None:
    server = emulator("llama_cpp_python")
    request = ChatRequest(model="", messages=(Message("user", "count these words please"),), max_tokens=8)
    # A tpm limit that the request's own up-front estimate fits: only the counted answer tokens can fill it.
    config = DeckConfig.model_validate({"providers": [
        {"name": "pyllama", "kind": "llamacpp", "base_url": server.url, "tpm": estimate_tokens(request) + 1}]})
    deck = Deck(config, tmp_path / "data", monitor_policy=MonitorPolicy(interval_s=30.0))
    await deck.start()
    try:
        limiter = deck.router.limiters["pyllama"]
        run = await deck.chat("pyllama/tiny-llama", request)
        assert run.error is None
        usage = run.routed.usage
        words = len(run.text.split())
        assert usage == Usage(prompt_tokens=5, completion_tokens=words + 1, estimated=True)  # BOS + words
        assert server.app.state.openai.tokenize_calls == 2

        assert deck.ledger is not None
        [row] = deck.ledger.recent_requests()
        assert (row.usage_estimated, row.prompt_tokens, row.completion_tokens) == (True, 5, words + 1)

        summary = deck.metrics.summary("pyllama")
        assert summary.completion_tokens == summary.estimated_tokens == words + 1

        assert limiter.blocked(deck.router.clock()) is not None, "the counted answer tokens count against tpm"
    finally:
        await deck.stop()
