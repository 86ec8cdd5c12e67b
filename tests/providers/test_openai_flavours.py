"""Flavour extras against recorded bodies replayed byte for byte on loopback (llama.cpp, LiteLLM), and against
small stand-ins for the servers we have no recording of (LM Studio, OpenRouter, DeepSeek, Portkey, …)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from providers.adapters.openai_compat import OpenAICompatAdapter
from providers.base import AdapterOptions, ChatChunk, ChatRequest, Message
from providers.errors import AuthFailedError, ContextTooLongError, StreamBrokenError
from tests.providers.openai_stub_server import Canned, StubServer, fixture_bytes, serve

HELLO = ChatRequest(model="tiny-llama-native", messages=(Message("user", "hi"),), max_tokens=8)
SECRET = "sk-test-0123456789abcdefXYZ"


def adapter(kind: str, base_url: str, client: httpx.AsyncClient, *, key: str | None = None,
            headers: dict[str, str] | None = None) -> OpenAICompatAdapter:
    options = AdapterOptions(name=f"lab-{kind}", base_url=base_url, kind=kind, timeout_s=2.0,
                             api_key=(lambda: key) if key else None, headers=headers or {})
    return OpenAICompatAdapter(options, client)


async def collect(stream: AsyncIterator[ChatChunk]) -> list[ChatChunk]:
    return [chunk async for chunk in stream]


def body_of(server: StubServer, path: str) -> dict[str, object]:
    seen = next(s for s in server.seen if s.path == path)
    parsed: dict[str, object] = json.loads(seen.body)
    return parsed


LLAMACPP_ROUTES = {
    "POST /v1/chat/completions": Canned.fixture("llamacpp_chat_stream.sse"),
    "GET /v1/models": Canned.fixture("llamacpp_v1_models.json"),
    "GET /props": Canned.fixture("llamacpp_props.json"),
    "GET /slots": Canned.fixture("llamacpp_slots.json"),
    "GET /health": Canned.fixture("llamacpp_health.json"),
    "GET /metrics": Canned.fixture("llamacpp_metrics.txt"),
}


@pytest.fixture(scope="module")
def llamacpp() -> Iterator[StubServer]:
    with serve(dict(LLAMACPP_ROUTES)) as server:
        yield server


async def test_recorded_llamacpp_stream_over_http(llamacpp: StubServer, client: httpx.AsyncClient) -> None:
    chunks = await collect(adapter("llamacpp", llamacpp.url, client, key=SECRET).chat_stream(HELLO))
    assert "".join(c.text for c in chunks) == "cancelání stup relax canción dabei"
    usage = next(c.usage for c in chunks if c.usage)
    timings = next(c.timings for c in chunks if c.timings)
    assert (usage.prompt_tokens, usage.completion_tokens, timings.completion_tokens) == (14, 6, 6)
    request = next(s for s in llamacpp.seen if s.path == "/v1/chat/completions")
    assert request.headers["authorization"] == f"Bearer {SECRET}"
    assert request.headers["accept"] == "text/event-stream"
    assert json.loads(request.body)["stream_options"] == {"include_usage": True}


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(cuts=st.lists(st.integers(min_value=1, max_value=len(fixture_bytes("litellm_chat_stream.sse")) - 1),
                     min_size=1, max_size=25))
async def test_recorded_litellm_stream_split_anywhere_over_http(cuts: list[int], client: httpx.AsyncClient) -> None:
    routes = {"POST /v1/chat/completions": Canned.fixture("litellm_chat_stream.sse", splits=tuple(cuts))}
    with serve(routes) as server:
        chunks = await collect(adapter("litellm", server.url, client).chat_stream(HELLO))
    assert "".join(c.text for c in chunks) == "Hello from the LiteLLM proxy mock."
    assert [c.finish_reason for c in chunks if c.finish_reason] == ["stop"]


async def test_recorded_stream_cut_before_done_is_stream_broken(client: httpx.AsyncClient) -> None:
    body = fixture_bytes("llamacpp_python_chat_stream.sse").replace(b"data: [DONE]\n\n", b"")
    routes = {"POST /v1/chat/completions": Canned(body, content_type="text/event-stream")}
    with serve(routes) as server, pytest.raises(StreamBrokenError) as caught:
        await collect(adapter("llamacpp", server.url, client).chat_stream(HELLO))
    assert caught.value.partial == "н iPhone vida식endencies британ"


async def test_recorded_context_error_stream_and_plain(client: httpx.AsyncClient) -> None:
    canned = Canned.fixture("llamacpp_context_exceeded.json", status=400)
    with serve({"POST /v1/chat/completions": canned}) as server:
        lab = adapter("llamacpp", server.url, client)
        with pytest.raises(ContextTooLongError) as streamed:
            await collect(lab.chat_stream(HELLO))
        with pytest.raises(ContextTooLongError) as plain:
            await lab.chat(HELLO)
    for caught in (streamed, plain):
        assert (caught.value.n_ctx, caught.value.n_prompt) == (512, 814)


async def test_recorded_llamacpp_plain_chat(client: httpx.AsyncClient) -> None:
    with serve({"POST /v1/chat/completions": Canned.fixture("llamacpp_chat.json")}) as server:
        result = await adapter("llamacpp", server.url, client).chat(HELLO)
        assert body_of(server, "/v1/chat/completions")["stream"] is False
    assert result.finish_reason == "length" and result.timings is not None


async def test_recorded_llamacpp_models_and_health(llamacpp: StubServer, client: httpx.AsyncClient) -> None:
    lab = adapter("llamacpp", llamacpp.url, client)
    [model] = await lab.list_models()
    assert (model.name, model.context_length, model.loaded) == ("tiny-llama-native", 512, True)
    health = await lab.health()
    assert health.status == "up" and health.version == "b1-0c1e570"
    assert health.models_loaded == ("tiny-llama-native",)
    assert (health.metrics["slots_busy"], health.metrics["slots_total"], health.metrics["n_ctx"]) == (0, 4, 512)
    assert health.metrics["generation_tokens_per_s"] == 1121.26


async def test_llamacpp_python_models_without_props_still_list(client: httpx.AsyncClient) -> None:
    with serve({"GET /v1/models": Canned.fixture("llamacpp_python_v1_models.json")}) as server:
        models = await adapter("llamacpp", server.url, client).list_models()
    assert [(m.name, m.context_length, m.loaded) for m in models] == [("tiny-llama", None, True)]


async def test_litellm_health_never_calls_the_expensive_health_route(client: httpx.AsyncClient) -> None:
    routes = {
        "GET /health/liveliness": Canned(b'"I\'m alive!"'),
        "GET /health/readiness": Canned.fixture("litellm_health_readiness.json"),
        "GET /v1/models": Canned.fixture("litellm_v1_models.json"),
        "GET /health": Canned(b'{"healthy_count": 0}'),
    }
    with serve(routes) as server:
        lab = adapter("litellm", server.url, client, key=SECRET)
        health = await lab.health()
        models = await lab.list_models()
        assert "/health" not in server.paths()
        assert {"/health/liveliness", "/health/readiness", "/v1/models"} <= set(server.paths())
    assert health.status == "up" and health.detail == "db: Not connected"
    assert [m.context_length for m in models] == [128000, None]


async def test_lmstudio_catalog_states_and_load_unload(client: httpx.AsyncClient) -> None:
    v0 = {"object": "list", "data": [
        {"id": "qwen2.5-7b-instruct", "object": "model", "type": "llm", "arch": "qwen2", "quantization": "Q4_K_M",
         "state": "loaded", "max_context_length": 32768},
        {"id": "text-embedding-nomic-embed-text-v1.5", "object": "model", "type": "embeddings",
         "state": "not-loaded", "max_context_length": 2048},
    ]}
    v1 = {"models": [{"key": "qwen2.5-7b-instruct", "loaded_instances": [{"id": "qwen2.5-7b-instruct:2"}]}]}
    routes = {
        "GET /api/v0/models": Canned(json.dumps(v0).encode()),
        "GET /api/v1/models": Canned(json.dumps(v1).encode()),
        "POST /api/v1/models/load": Canned(b'{"type":"llm","instance_id":"x","status":"loaded"}'),
        "POST /api/v1/models/unload": Canned(b'{"instance_id":"qwen2.5-7b-instruct:2"}'),
    }
    with serve(routes) as server:
        lab = adapter("lmstudio", server.url, client)
        models = await lab.list_models()
        health = await lab.health()
        await lab.load("text-embedding-nomic-embed-text-v1.5")
        await lab.unload("qwen2.5-7b-instruct")
        assert body_of(server, "/api/v1/models/load") == {"model": "text-embedding-nomic-embed-text-v1.5"}
        assert body_of(server, "/api/v1/models/unload") == {"instance_id": "qwen2.5-7b-instruct:2"}
    assert [(m.name, m.loaded, m.kind, m.context_length) for m in models] == [
        ("qwen2.5-7b-instruct", True, "chat", 32768), ("text-embedding-nomic-embed-text-v1.5", False, "embed", 2048)]
    assert health.models_loaded == ("qwen2.5-7b-instruct",)


@pytest.mark.parametrize("suffix", ["", "/api", "/api/v1"])
async def test_openrouter_prices_credits_and_base_url_forms(suffix: str, client: httpx.AsyncClient) -> None:
    models = {"data": [{"id": "openai/gpt-4o-mini", "context_length": 128000,
                        "pricing": {"prompt": "0.00000015", "completion": "0.0000006"}}]}
    key = {"data": {"label": "sk-or-v1-abc...890", "limit": 100, "limit_remaining": 74.5, "usage": 25.5}}
    routes = {"GET /api/v1/models": Canned(json.dumps(models).encode()),
              "GET /api/v1/key": Canned(json.dumps(key).encode())}
    with serve(routes) as server:
        lab = adapter("openrouter", server.url + suffix, client, key=SECRET)
        assert lab.prices() == {}
        [model] = await lab.list_models()
        health = await lab.health()
    assert model.context_length == 128000
    assert lab.prices() == {"openai/gpt-4o-mini": (1.5e-7, 6e-7)}
    assert health.status == "up" and health.metrics == {"credits_used_usd": 25.5, "credits_remaining_usd": 74.5}


async def test_deepseek_balance_and_v1_alias(client: httpx.AsyncClient) -> None:
    balance = {"is_available": True, "balance_infos": [
        {"currency": "CNY", "total_balance": "110.00", "granted_balance": "10.00", "topped_up_balance": "100.00"}]}
    routes = {"GET /user/balance": Canned(json.dumps(balance).encode()),
              "POST /chat/completions": Canned.fixture("llamacpp_chat.json")}
    with serve(routes) as server:
        lab = adapter("deepseek", server.url + "/v1", client, key=SECRET)
        health = await lab.health()
        assert (await lab.chat(HELLO)).text
    assert health.status == "up" and health.metrics == {"balance_cny": 110.0}
    assert health.detail == "balance 110.00 CNY"


async def test_portkey_sends_its_headers_and_keys_never_reach_error_messages(client: httpx.AsyncClient) -> None:
    refusal = {"error": {"message": f"Incorrect API key provided: {SECRET}", "type": "invalid_request_error",
                         "code": "invalid_api_key"}}
    routes = {"POST /v1/chat/completions": Canned(json.dumps(refusal).encode(), status=401)}
    portkey_headers = {"x-portkey-provider": "openai", "x-portkey-config": "pc-lab-123"}
    with serve(routes) as server:
        lab = adapter("portkey", server.url + "/v1", client, key=SECRET, headers=portkey_headers)
        with pytest.raises(AuthFailedError) as caught:
            await collect(lab.chat_stream(HELLO))
        seen = server.seen[0].headers
    assert seen["x-portkey-provider"] == "openai" and seen["x-portkey-config"] == "pc-lab-123"
    assert seen["authorization"] == f"Bearer {SECRET}"
    assert SECRET not in str(caught.value) and SECRET not in repr(caught.value)


@pytest.mark.parametrize(("kind", "probe", "models_path"), [
    ("localai", "/readyz", "/v1/models"), ("openwebui", "/health", "/api/models"),
    ("huggingface", None, "/v1/models"), ("textgen", None, "/v1/models"),
])
async def test_plain_flavours_probe_their_routes(kind: str, probe: str | None, models_path: str,
                                                 client: httpx.AsyncClient) -> None:
    routes = {f"GET {models_path}": Canned.fixture("llamacpp_python_v1_models.json")}
    if probe:
        routes[f"GET {probe}"] = Canned(b"OK", content_type="text/plain")
    with serve(routes) as server:
        health = await adapter(kind, server.url, client, key=SECRET).health()
        assert server.paths() == ([probe] if probe else []) + [models_path]
    assert health.status == "up"


async def test_textgen_is_not_sent_stream_options(client: httpx.AsyncClient) -> None:
    with serve({"POST /v1/chat/completions": Canned.fixture("llamacpp_python_chat_stream.sse")}) as server:
        chunks = await collect(adapter("textgen", server.url, client).chat_stream(HELLO))
        assert "stream_options" not in body_of(server, "/v1/chat/completions")
    assert chunks[-1].finish_reason == "length"
