"""Every injected fault × every chat-capable adapter → the right error class, over real loopback HTTP."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from providers.adapters import build_adapter
from providers.base import AdapterOptions, ChatRequest, Message
from providers.emulators.registry import start_emulator
from providers.emulators.server import EmulatorServer
from providers.errors import (
    AuthFailedError,
    ContextTooLongError,
    OverloadedError,
    ProtocolError,
    ProviderError,
    ProviderTimeoutError,
    QuotaExhaustedError,
    RateLimitedError,
    ServerError,
    StreamBrokenError,
    UnreachableError,
)
from providers.http import make_client

# adapter kind → (emulator kind, model, needs a key)
ADAPTERS: dict[str, tuple[str, str, bool]] = {
    "ollama": ("ollama", "llama3.2:1b", False),
    "openai": ("openai", "gpt-4o-mini", True),
    "vllm": ("vllm", "meta-llama/Llama-3.1-8B-Instruct", False),
    "llamacpp": ("llamacpp", "qwen2.5-7b-instruct-q4_k_m", False),
    "anthropic": ("anthropic", "claude-sonnet-4-5-20250929", True),
    "tgi": ("tgi", "TinyLlama/TinyLlama-1.1B-Chat-v1.0", False),
}

# fault → (error class, class of StreamBrokenError.cause or None)
STREAM_FAULTS: dict[str, tuple[type[ProviderError], type[ProviderError] | None]] = {
    "refuse": (UnreachableError, None),
    "stall_first:3": (ProviderTimeoutError, None),
    "stall_mid:3": (StreamBrokenError, ProviderTimeoutError),
    "cut": (StreamBrokenError, ProtocolError),
    "truncate": (StreamBrokenError, ProtocolError),
    "malformed": (StreamBrokenError, ProtocolError),
    "429:2": (RateLimitedError, None),
    "500": (ServerError, None),
    "503": (OverloadedError, None),
    "529": (OverloadedError, None),
    "402": (QuotaExhaustedError, None),
    "401": (AuthFailedError, None),
    "context": (ContextTooLongError, None),
}
NON_STREAM_FAULTS = ("cut", "truncate", "malformed")
REQUEST = ChatRequest(model="", messages=(Message("user", "Tell me about the lab."),), max_tokens=16)


@pytest.fixture(scope="module")
def servers() -> Iterator[dict[str, EmulatorServer]]:
    running = {kind: start_emulator(emulator_kind) for kind, (emulator_kind, _, _) in ADAPTERS.items()}
    yield running
    for server in running.values():
        server.stop()


def _adapter(kind: str, server: EmulatorServer):  # type: ignore[no-untyped-def]
    _, _, needs_key = ADAPTERS[kind]
    options = AdapterOptions(name=f"{kind}-under-test", base_url=server.url, kind=kind, timeout_s=1.0,
                             api_key=(lambda: "test-key") if needs_key else None)
    return build_adapter(options, make_client(timeout_s=1.0))


@pytest.mark.parametrize("fault", list(STREAM_FAULTS))
@pytest.mark.parametrize("kind", list(ADAPTERS))
async def test_streaming_fault_maps_to_its_class(servers: dict[str, EmulatorServer], kind: str, fault: str) -> None:
    server = servers[kind]
    server.set_faults(fault)
    adapter = _adapter(kind, server)
    expected, cause = STREAM_FAULTS[fault]
    request = ChatRequest(model=ADAPTERS[kind][1], messages=REQUEST.messages, max_tokens=REQUEST.max_tokens)
    try:
        with pytest.raises(expected) as info:
            async for _ in adapter.chat_stream(request):
                pass
    finally:
        server.set_faults("")
        await adapter.client.aclose()
    if cause is not None:
        assert isinstance(info.value, StreamBrokenError)
        assert info.value.partial, "text that arrived before the failure is kept"
        assert isinstance(info.value.cause, cause)
    if fault.startswith("429"):
        assert isinstance(info.value, RateLimitedError)
        assert info.value.retry_after == pytest.approx(2.0)
    assert "test-key" not in str(info.value)


@pytest.mark.parametrize("fault", NON_STREAM_FAULTS)
@pytest.mark.parametrize("kind", [k for k in ADAPTERS if k != "tgi"])
async def test_non_streaming_body_faults_are_protocol_errors(servers: dict[str, EmulatorServer], kind: str,
                                                             fault: str) -> None:
    server = servers[kind]
    server.set_faults(fault)
    adapter = _adapter(kind, server)
    request = ChatRequest(model=ADAPTERS[kind][1], messages=REQUEST.messages, max_tokens=REQUEST.max_tokens)
    try:
        with pytest.raises(ProtocolError):
            await adapter.chat(request)
    finally:
        server.set_faults("")
        await adapter.client.aclose()


@pytest.mark.parametrize("kind", list(ADAPTERS))
async def test_small_delay_still_answers(servers: dict[str, EmulatorServer], kind: str) -> None:
    server = servers[kind]
    server.set_faults("delay:0.1")
    adapter = _adapter(kind, server)
    request = ChatRequest(model=ADAPTERS[kind][1], messages=REQUEST.messages, max_tokens=REQUEST.max_tokens)
    try:
        text = "".join([chunk.text async for chunk in adapter.chat_stream(request)])
    finally:
        server.set_faults("")
        await adapter.client.aclose()
    assert text.strip()
