"""TGIAdapter against the TGI emulator over loopback: streamed chat, usage, context errors, health; the fault
→ error class table is test_fault_contract.py."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import httpx
import pytest

from providers.adapters.huggingface import TURN_STOP, TGIAdapter, build_body, parse_event, render_prompt
from providers.base import AdapterOptions, ChatChunk, ChatRequest, Message
from providers.emulators.registry import start_emulator
from providers.emulators.server import EmulatorServer
from providers.emulators.text import count_tokens
from providers.emulators.tgi import ANSWER_TOKENS, MAX_INPUT_TOKENS, MAX_TOTAL_TOKENS, MODEL_ID
from providers.errors import (
    ContextTooLongError,
    OverloadedError,
    ProtocolError,
    ServerError,
)
from providers.health_policy import probe_health
from tests.waiting import HANG_S

AdapterFactory = Callable[..., TGIAdapter]


@pytest.fixture(scope="module")
def shared_server() -> Iterator[EmulatorServer]:
    """One tgi emulator for the tests that neither stop it nor change its server-wide faults."""
    server = start_emulator("tgi")
    yield server
    server.stop()


@pytest.fixture
def make_adapter(client: httpx.AsyncClient) -> AdapterFactory:
    def make(server: EmulatorServer, *, timeout_s: float = 30.0, fault: str = "") -> TGIAdapter:
        options = AdapterOptions(name="tgi", base_url=server.url, kind="tgi", timeout_s=timeout_s,
                                 headers={"x-emulator-fault": fault} if fault else {})
        return TGIAdapter(options, client)
    return make


def ask(text: str = "hello there", **extra: object) -> ChatRequest:
    return ChatRequest(model=MODEL_ID, messages=(Message("user", text),), **extra)  # type: ignore[arg-type]


async def drain(adapter: TGIAdapter, request: ChatRequest) -> list[ChatChunk]:
    return [chunk async for chunk in adapter.chat_stream(request)]


async def test_stream_yields_text_and_final_details_as_usage(shared_server, make_adapter) -> None:
    request = ask("hello there", max_tokens=100)
    chunks = await drain(make_adapter(shared_server), request)
    texts = [c.text for c in chunks if c.text]
    assert len(texts) == ANSWER_TOKENS
    assert "</s>" not in "".join(texts)  # the special end-of-sequence token is not answer text
    final = chunks[-1]
    assert final.finish_reason == "stop"  # eos_token
    assert final.usage is not None
    assert final.usage.prompt_tokens == count_tokens(render_prompt(request))  # details.input_length
    assert final.usage.completion_tokens == ANSWER_TOKENS + 1  # TGI counts the eos token


async def test_stream_stopped_by_max_new_tokens_reports_length(shared_server, make_adapter) -> None:
    chunks = await drain(make_adapter(shared_server), ask(max_tokens=4))
    assert len([c for c in chunks if c.text]) == 4
    assert chunks[-1].finish_reason == "length"
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens == 4


async def test_non_streaming_chat_collects_the_same_answer(shared_server, make_adapter) -> None:
    adapter = make_adapter(shared_server)
    streamed = "".join(c.text for c in await drain(adapter, ask("same", max_tokens=50)))
    result = await adapter.chat(ask("same", max_tokens=50))
    assert result.text == streamed and result.finish_reason == "stop" and result.ttft_ms is not None


def test_prompt_template_labels_roles_and_ends_on_the_assistant_turn() -> None:
    request = ChatRequest(model=MODEL_ID, messages=(Message("system", "be terse"), Message("user", "hi")),
                          assistant_prefix="Well,")
    assert render_prompt(request) == "System: be terse\n\nUser: hi\n\nAssistant: Well,"


def test_body_leaves_out_sampling_values_tgi_rejects_and_caps_stop_sequences() -> None:
    body = build_body(ask(temperature=0.0, top_p=1.0, seed=7, stop=("a", "b", "c", "d", "e")))
    params = body["parameters"]
    assert "temperature" not in params and params["do_sample"] is False
    assert "top_p" not in params and params["seed"] == 7
    assert params["stop"] == ["a", "b", "c", TURN_STOP] and params["details"] is True


async def test_greedy_request_is_accepted_although_tgi_refuses_temperature_zero(shared_server,
                                                                               make_adapter) -> None:
    server = shared_server
    async with httpx.AsyncClient() as raw:
        refused = await raw.post(f"{server.url}/generate", json={"inputs": "x", "parameters": {"temperature": 0}})
    assert refused.status_code == 422 and refused.json()["error_type"] == "validation"
    chunks = await drain(make_adapter(server), ask(temperature=0.0, top_p=1.0, max_tokens=3))
    assert chunks[-1].finish_reason == "length"


async def test_prompt_over_max_input_is_context_too_long(shared_server, make_adapter) -> None:
    with pytest.raises(ContextTooLongError) as caught:
        await drain(make_adapter(shared_server), ask("word " * (MAX_INPUT_TOKENS + 10)))
    assert caught.value.n_ctx == MAX_INPUT_TOKENS and caught.value.status == 422


async def test_prompt_plus_max_new_tokens_over_total_is_context_too_long_with_counts(shared_server,
                                                                                     make_adapter) -> None:
    with pytest.raises(ContextTooLongError) as caught:
        await drain(make_adapter(shared_server), ask("word " * 300, max_tokens=300))
    assert caught.value.n_ctx == MAX_TOTAL_TOKENS
    assert caught.value.n_prompt is not None and caught.value.n_prompt >= 300


async def test_health_reports_version_and_model_and_list_models_the_window(emulator, make_adapter) -> None:
    server = emulator("tgi")
    adapter = make_adapter(server)
    health = await probe_health(adapter, HANG_S)
    assert health.status == "up" and health.version == "3.3.6" and health.models_loaded == (MODEL_ID,)
    models = await adapter.list_models()
    assert [(m.name, m.context_length, m.loaded) for m in models] == [(MODEL_ID, MAX_TOTAL_TOKENS, True)]
    info = await adapter.info()
    assert info.max_input_tokens == MAX_INPUT_TOKENS
    assert (await probe_health(make_adapter(server, fault="503"), HANG_S)).status == "degraded"
    assert (await probe_health(make_adapter(server, fault="401"), HANG_S)).status == "unauthorized"
    server.refuse()
    assert (await probe_health(adapter, HANG_S)).status == "down"


async def test_generate_route_answers_with_details(shared_server) -> None:
    server = shared_server
    async with httpx.AsyncClient() as raw:
        reply = await raw.post(f"{server.url}/generate",
                               json={"inputs": "User: hi\n\nAssistant:", "parameters": {"max_new_tokens": 3,
                                                                                        "details": True}})
    body = reply.json()
    assert reply.status_code == 200 and len(body["details"]["tokens"]) == 3
    assert body["details"]["finish_reason"] == "length" and body["generated_text"]


def test_in_stream_error_events_map_by_error_type() -> None:
    with pytest.raises(OverloadedError):
        parse_event('{"error":"Model is overloaded","error_type":"overloaded"}', "tgi")
    with pytest.raises(ServerError):
        parse_event('{"error":"Request failed during generation: CUDA out of memory","error_type":"generation"}',
                    "tgi")
    with pytest.raises(ProtocolError):
        parse_event("[1, 2]", "tgi")
