"""The fault contract: each fault the emulators inject, on each kind that serves the operation, reaches the caller
as the promised error class, over real loopback HTTP. One table per operation (streamed chat, plain chat, model
list, image); what only one adapter promises beyond it stays in that adapter's own test module."""

from __future__ import annotations

from collections.abc import Iterator, Mapping

import httpx
import pytest
from _pytest.mark import ParameterSet

from providers.adapters import build_adapter
from providers.base import Adapter, AdapterOptions, ChatChunk, ChatRequest, ImageRequest, Message
from providers.emulators.comfyui_jobs import CHECKPOINTS
from providers.emulators.faults import FAULT_HEADER
from providers.emulators.registry import start_emulator
from providers.emulators.server import EmulatorServer, stop_all
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
from tests.conftest import EmulatorFactory
from tests.waiting import HANG_S

Expected = type[ProviderError] | None
"""The error class a fault must arrive as; None: the answer arrives."""

CHAT_MODELS = {
    "ollama": "llama3.2:1b",
    "openai": "gpt-4o-mini",
    "vllm": "meta-llama/Llama-3.1-8B-Instruct",
    "llamacpp": "qwen2.5-7b-instruct-q4_k_m",
    "anthropic": "claude-sonnet-4-5-20250929",
    "tgi": "TinyLlama/TinyLlama-1.1B-Chat-v1.0",
}
IMAGE_MODELS = {"a1111": None, "comfyui": CHECKPOINTS[0]}
KEY = "lab-contract-key-4711"
"""Sent to every kind (the hosted ones refuse to call without one); no error message may carry it."""
STALL_TIMEOUT_S = 2.0
"""The adapter's read timeout where a stall is the fault: what the test waits for, 24 times over, so kept short;
still far above the milliseconds the emulator takes between the chunks it does send — and above the second a
loaded machine may pause a process for (at 1 s, a cut once arrived as a timeout under two CPU burners)."""
STALL = "6"
"""Well past STALL_TIMEOUT_S; the stalled handler finishes on its own afterwards."""
TIMEOUT_S = HANG_S
"""Every other fault is met long before this, however loaded the machine: it only bounds a hang."""
RETRY_AFTER = 7
MAX_TOKENS = 12

BROKEN_BODY = ("cut", "truncate", "malformed")
STREAM: dict[str, Expected] = {
    "delay:0.05": None,
    "refuse": UnreachableError,
    f"stall_first:{STALL}": ProviderTimeoutError,
    f"stall_mid:{STALL}": StreamBrokenError,
    **dict.fromkeys(BROKEN_BODY, StreamBrokenError),
    "context": ContextTooLongError,
    "401": AuthFailedError,
    "402": QuotaExhaustedError,
    f"429:{RETRY_AFTER}": RateLimitedError,
    "500": ServerError,
    "503": OverloadedError,
    "529": OverloadedError,
}
"""Streamed chat: fault → error class."""
STREAM_CAUSES: dict[str, type[ProviderError]] = {
    f"stall_mid:{STALL}": ProviderTimeoutError, **dict.fromkeys(BROKEN_BODY, ProtocolError),
}
"""A stream broken after text arrived keeps the text and says why it broke."""
PLAIN: dict[str, Expected] = {
    **STREAM, f"stall_mid:{STALL}": None, **dict.fromkeys(BROKEN_BODY, ProtocolError),
}
"""Plain chat: a mid-stream stall does not apply to one body, and a broken body is a protocol error."""
PLAIN_BY_KIND = {**dict.fromkeys(CHAT_MODELS, PLAIN), "tgi": STREAM}
"""TGI's plain chat collects its stream (/generate's details carry no input length): it fails as the stream does."""
MODELS: dict[str, Expected] = {
    **dict.fromkeys(BROKEN_BODY, ProtocolError), f"429:{RETRY_AFTER}": RateLimitedError, "500": ServerError,
}
IMAGE: dict[str, Expected] = {
    "refuse": UnreachableError, "401": AuthFailedError, f"429:{RETRY_AFTER}": RateLimitedError, "500": ServerError,
    "503": OverloadedError, **dict.fromkeys(BROKEN_BODY, ProtocolError),
}


def cases(tables: Mapping[str, dict[str, Expected]]) -> list[ParameterSet]:
    """(kind, fault, expected) for each kind and the faults of its table."""
    return [pytest.param(kind, fault, expected, id=f"{kind}-{fault}")
            for kind, table in tables.items() for fault, expected in table.items()]


@pytest.fixture(scope="module")
def servers() -> Iterator[dict[str, EmulatorServer]]:
    """One emulator per kind for the module; every fault but `refuse` strikes per request (the fault header)."""
    running = {kind: start_emulator(kind) for kind in (*CHAT_MODELS, *IMAGE_MODELS)}
    yield running
    stop_all(running.values())


def faulty(kind: str, fault: str, servers: dict[str, EmulatorServer], emulator: EmulatorFactory,
           client: httpx.AsyncClient) -> Adapter:
    """An adapter of `kind` whose every request meets `fault`; `refuse` needs a server of its own that stops
    listening."""
    server = emulator(kind, faults=fault) if fault == "refuse" else servers[kind]
    headers = {} if fault == "refuse" else {FAULT_HEADER: fault}
    timeout_s = STALL_TIMEOUT_S if fault.startswith("stall") else TIMEOUT_S
    options = AdapterOptions(name=f"{kind}-under-test", base_url=server.url, kind=kind, timeout_s=timeout_s,
                             api_key=lambda: KEY, headers=headers)
    return build_adapter(options, client)


def chat_request(kind: str) -> ChatRequest:
    return ChatRequest(model=CHAT_MODELS[kind], messages=(Message("user", "Report the lab status."),),
                       max_tokens=MAX_TOKENS)


def assert_promised(error: ProviderError | None, fault: str, expected: Expected) -> None:
    """The class, and what every error of the contract carries: the status it came with, the wait a 429 asked
    for, and never the key."""
    assert type(error) is (expected or type(None)), f"{fault}: got {error!r}"
    if error is None:
        return
    assert KEY not in str(error) and KEY not in repr(error)
    status = fault.partition(":")[0]
    if status.isdigit():
        assert error.status == int(status)
    if isinstance(error, RateLimitedError):
        assert error.retry_after == RETRY_AFTER


@pytest.mark.parametrize(("kind", "fault", "expected"), cases(dict.fromkeys(CHAT_MODELS, STREAM)))
async def test_a_streamed_chat_meets_each_fault_as_its_error(kind: str, fault: str, expected: Expected,
                                                            servers: dict[str, EmulatorServer],
                                                            emulator: EmulatorFactory,
                                                            client: httpx.AsyncClient) -> None:
    chunks: list[ChatChunk] = []
    error = None
    try:
        async for chunk in faulty(kind, fault, servers, emulator, client).chat_stream(chat_request(kind)):
            chunks.append(chunk)
    except ProviderError as exc:
        error = exc
    assert_promised(error, fault, expected)
    text = "".join(chunk.text for chunk in chunks)
    if error is None:
        assert len(text.split()) == MAX_TOKENS
    elif isinstance(error, StreamBrokenError):
        assert error.partial and error.partial == text  # what reached the caller is kept
        assert isinstance(error.cause, STREAM_CAUSES[fault])
    else:
        assert not chunks, "an error before any text comes before any chunk"


@pytest.mark.parametrize(("kind", "fault", "expected"), cases(PLAIN_BY_KIND))
async def test_a_plain_chat_meets_each_fault_as_its_error(kind: str, fault: str, expected: Expected,
                                                         servers: dict[str, EmulatorServer],
                                                         emulator: EmulatorFactory,
                                                         client: httpx.AsyncClient) -> None:
    answer, error = None, None
    try:
        answer = await faulty(kind, fault, servers, emulator, client).chat(chat_request(kind))
    except ProviderError as exc:
        error = exc
    assert_promised(error, fault, expected)
    if error is None:
        assert answer is not None and answer.text.strip()
    elif isinstance(error, StreamBrokenError):
        assert error.partial and isinstance(error.cause, STREAM_CAUSES[fault])


@pytest.mark.parametrize(("kind", "fault", "expected"), cases(dict.fromkeys(CHAT_MODELS, MODELS)))
async def test_a_model_list_meets_each_fault_as_its_error(kind: str, fault: str, expected: Expected,
                                                         servers: dict[str, EmulatorServer],
                                                         emulator: EmulatorFactory,
                                                         client: httpx.AsyncClient) -> None:
    with pytest.raises(ProviderError) as caught:
        await faulty(kind, fault, servers, emulator, client).list_models()
    assert_promised(caught.value, fault, expected)


@pytest.mark.parametrize(("kind", "fault", "expected"), cases(dict.fromkeys(IMAGE_MODELS, IMAGE)))
async def test_an_image_meets_each_fault_as_its_error(kind: str, fault: str, expected: Expected,
                                                     servers: dict[str, EmulatorServer], emulator: EmulatorFactory,
                                                     client: httpx.AsyncClient) -> None:
    request = ImageRequest("a red cube", model=IMAGE_MODELS[kind], width=64, height=48, steps=4)
    with pytest.raises(ProviderError) as caught:
        await faulty(kind, fault, servers, emulator, client).generate_image(request)
    assert_promised(caught.value, fault, expected)


async def test_a_refused_server_listening_again_is_served_by_the_same_adapter(client: httpx.AsyncClient) -> None:
    server = start_emulator("llamacpp", faults="refuse")
    try:
        adapter = build_adapter(AdapterOptions(name="lc", base_url=server.url, kind="llamacpp",
                                               timeout_s=TIMEOUT_S), client)
        with pytest.raises(UnreachableError):
            _ = [chunk async for chunk in adapter.chat_stream(chat_request("llamacpp"))]
        server.set_faults("")  # listening again
        assert "".join([chunk.text async for chunk in adapter.chat_stream(chat_request("llamacpp"))])
    finally:
        server.stop()


async def test_server_wide_faults_can_be_set_at_run_time(servers: dict[str, EmulatorServer],
                                                         client: httpx.AsyncClient) -> None:
    url = servers["openai"].url
    assert (await client.post(url + "/_emulator/faults", json={"spec": "529"})).json() == {"spec": "529"}
    try:
        adapter = build_adapter(AdapterOptions(name="o", base_url=url, kind="openai", api_key=lambda: KEY), client)
        with pytest.raises(OverloadedError):
            await adapter.chat(chat_request("openai"))
    finally:
        await client.post(url + "/_emulator/faults", json={"spec": ""})
