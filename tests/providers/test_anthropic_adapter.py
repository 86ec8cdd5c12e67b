"""AnthropicAdapter against the Anthropic emulator over loopback: chat, usage, catalog paging, health; the fault
→ error class table is test_fault_contract.py."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import httpx
import pytest

import providers.adapters.anthropic as anthropic_adapter
from providers.adapters.anthropic import AnthropicAdapter, build_body
from providers.base import AdapterOptions, ChatChunk, ChatRequest, Message
from providers.emulators.anthropic import ANSWER_TOKENS, MODELS
from providers.emulators.registry import start_emulator
from providers.emulators.server import EmulatorServer
from providers.emulators.text import count_tokens
from providers.errors import (
    AuthFailedError,
    ContextTooLongError,
)
from providers.health_policy import probe_health
from tests.waiting import HANG_S

MODEL = "claude-3-haiku-20240307"
TINY = "claude-tiny-emulated"
AdapterFactory = Callable[..., AnthropicAdapter]


@pytest.fixture(scope="module")
def shared_server() -> Iterator[EmulatorServer]:
    """One anthropic emulator for the tests that neither stop it nor change its server-wide faults."""
    server = start_emulator("anthropic")
    yield server
    server.stop()


@pytest.fixture
def make_adapter(client: httpx.AsyncClient) -> AdapterFactory:
    def make(server: EmulatorServer, *, key: str | None = "sk-ant-test-key-0000", timeout_s: float = 30.0,
             fault: str = "") -> AnthropicAdapter:
        options = AdapterOptions(
            name="claude", base_url=server.url, kind="anthropic", api_key=(lambda: key), timeout_s=timeout_s,
            headers={"x-emulator-fault": fault} if fault else {},
        )
        return AnthropicAdapter(options, client)
    return make


def ask(text: str = "hello there", *, model: str = MODEL, **extra: object) -> ChatRequest:
    return ChatRequest(model=model, messages=(Message("user", text),), **extra)  # type: ignore[arg-type]


async def drain(adapter: AnthropicAdapter, request: ChatRequest) -> list[ChatChunk]:
    return [chunk async for chunk in adapter.chat_stream(request)]


async def test_stream_yields_text_then_usage_and_stop_reason(shared_server, make_adapter) -> None:
    adapter = make_adapter(shared_server)
    chunks = await drain(adapter, ask("hello there", max_tokens=200))
    texts = [c.text for c in chunks if c.text]
    assert len(texts) == ANSWER_TOKENS
    final = chunks[-1]
    assert final.finish_reason == "stop"  # end_turn
    assert final.usage is not None
    assert final.usage.prompt_tokens == count_tokens("hello there")  # from message_start
    assert final.usage.completion_tokens == ANSWER_TOKENS  # from message_delta


async def test_stream_cut_short_by_max_tokens_reports_length(shared_server, make_adapter) -> None:
    adapter = make_adapter(shared_server)
    chunks = await drain(adapter, ask(max_tokens=3))
    assert len([c for c in chunks if c.text]) == 3
    assert chunks[-1].finish_reason == "length"
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens == 3


async def test_system_prompt_counts_as_input_and_is_sent_top_level(shared_server, make_adapter) -> None:
    request = ChatRequest(model=MODEL, messages=(Message("system", "be brief and kind"), Message("user", "hi")))
    body = build_body(request, stream=True)
    assert body["system"] == "be brief and kind"
    assert [m["role"] for m in body["messages"]] == ["user"]
    assert body["max_tokens"] == anthropic_adapter.DEFAULT_MAX_TOKENS
    result = await make_adapter(shared_server).chat(request)
    assert result.usage is not None and result.usage.prompt_tokens == count_tokens("be brief and kind hi")


async def test_assistant_prefix_becomes_a_trailing_prefill_turn(shared_server, make_adapter) -> None:
    request = ask("tell me", assistant_prefix="The answer is ")
    body = build_body(request, stream=True)
    assert body["messages"][-1] == {"role": "assistant", "content": "The answer is"}
    # The emulator rejects a prefill ending in whitespace, as the real API does.
    chunks = await drain(make_adapter(shared_server), request)
    assert chunks[-1].finish_reason == "stop"


def test_adjacent_turns_of_one_role_are_merged_so_roles_alternate() -> None:
    request = ChatRequest(model=MODEL, messages=(Message("user", "a"), Message("user", "b"),
                                                 Message("assistant", "c")), stop=("END",), temperature=0.2)
    body = build_body(request, stream=False)
    assert body["messages"] == [{"role": "user", "content": "a\n\nb"}, {"role": "assistant", "content": "c"}]
    assert body["stop_sequences"] == ["END"] and body["temperature"] == 0.2 and "stream" not in body


async def test_non_streaming_chat_returns_text_usage_and_finish(shared_server, make_adapter) -> None:
    adapter = make_adapter(shared_server)
    streamed = "".join(c.text for c in await drain(adapter, ask("same prompt", max_tokens=200)))
    result = await adapter.chat(ask("same prompt", max_tokens=200))
    assert result.text == streamed  # the emulator is deterministic per prompt
    assert result.finish_reason == "stop"
    assert result.usage is not None and result.usage.completion_tokens == ANSWER_TOKENS


async def test_list_models_follows_pages_until_has_more_is_false(shared_server, make_adapter, client,
                                                                 monkeypatch) -> None:
    monkeypatch.setattr(anthropic_adapter, "PAGE_SIZE", 3)
    seen: list[httpx.URL] = []

    async def record(request: httpx.Request) -> None:
        seen.append(request.url)

    client.event_hooks["request"].append(record)
    models = await make_adapter(shared_server).list_models()
    assert [m.name for m in models] == [m["id"] for m in MODELS]
    assert len(seen) == 3
    assert seen[1].params["after_id"] == MODELS[2]["id"]
    windows = {m.name: m.context_length for m in models}
    assert windows[TINY] == 64 and windows[MODEL] == 200_000


async def test_health_is_up_unauthorized_degraded_or_down_and_never_raises(emulator, make_adapter) -> None:
    server = emulator("anthropic")
    assert (await probe_health(make_adapter(server), HANG_S)).status == "up"
    assert (await probe_health(make_adapter(server, key=None), HANG_S)).status == "unauthorized"
    assert (await probe_health(make_adapter(server, fault="401"), HANG_S)).status == "unauthorized"
    assert (await probe_health(make_adapter(server, fault="529"), HANG_S)).status == "degraded"
    assert (await probe_health(make_adapter(server, fault="malformed"), HANG_S)).status == "down"
    server.refuse()
    down = await probe_health(make_adapter(server), HANG_S)
    assert down.status == "down" and "sk-ant" not in down.detail


async def test_prompt_over_the_window_is_context_too_long_with_counts(shared_server, make_adapter) -> None:
    adapter = make_adapter(shared_server)
    with pytest.raises(ContextTooLongError) as caught:
        await drain(adapter, ask("word " * 100, model=TINY))
    assert caught.value.n_ctx == 64 and caught.value.n_prompt == 100
    with pytest.raises(ContextTooLongError):
        await adapter.chat(ask("word " * 100, model=TINY))


async def test_error_messages_never_carry_the_api_key(shared_server, make_adapter) -> None:
    key = "sk-ant-api03-secretsecretsecret"
    adapter = make_adapter(shared_server, key=key, fault="401")
    with pytest.raises(AuthFailedError) as caught:
        await drain(adapter, ask())
    assert key not in str(caught.value)
