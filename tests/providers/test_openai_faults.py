"""Every fault of the emulator contract, per flavour, arrives at the adapter as the promised error class."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import httpx
import pytest

from providers.adapters.openai_compat import OpenAICompatAdapter
from providers.base import AdapterOptions, ChatChunk, ChatRequest, Message
from providers.emulators.faults import FAULT_HEADER
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

FLAVOURS = ("openai", "vllm", "llamacpp")
MODEL = {"openai": "gpt-4o-mini", "vllm": "meta-llama/Llama-3.1-8B-Instruct", "llamacpp": "any"}
TIMEOUT_S = 1.0
STALL = "3"  # well past the adapter's timeout; the stalled handler finishes on its own afterwards

STREAM_FAULTS: dict[str, type[ProviderError] | None] = {
    "delay:0.05": None,
    f"stall_first:{STALL}": ProviderTimeoutError,
    f"stall_mid:{STALL}": StreamBrokenError,
    "cut": StreamBrokenError,
    "truncate": StreamBrokenError,
    "malformed": StreamBrokenError,
    "context": ContextTooLongError,
    "401": AuthFailedError,
    "402": QuotaExhaustedError,
    "429:7": RateLimitedError,
    "500": ServerError,
    "503": OverloadedError,
    "529": OverloadedError,
}
PLAIN_FAULTS: dict[str, type[ProviderError] | None] = {
    **STREAM_FAULTS, f"stall_mid:{STALL}": None, "cut": ProtocolError, "truncate": ProtocolError,
    "malformed": ProtocolError,
}
STREAM_CAUSES: dict[str, type[ProviderError]] = {
    f"stall_mid:{STALL}": ProviderTimeoutError, "cut": ProtocolError, "truncate": ProtocolError,
    "malformed": ProtocolError,
}


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    async with make_client() as shared:
        yield shared


@pytest.fixture(scope="module")
def servers() -> Iterator[dict[str, EmulatorServer]]:
    started = {flavour: start_emulator(flavour) for flavour in FLAVOURS}
    yield started
    for server in started.values():
        server.stop()


def faulty(flavour: str, url: str, client: httpx.AsyncClient, fault: str) -> OpenAICompatAdapter:
    options = AdapterOptions(name=f"lab-{flavour}", base_url=url, kind=flavour, timeout_s=TIMEOUT_S,
                             headers={FAULT_HEADER: fault})
    return OpenAICompatAdapter(options, client)


def request(flavour: str) -> ChatRequest:
    return ChatRequest(model=MODEL[flavour], messages=(Message("user", "Report the lab status."),), max_tokens=12)


async def drain(stream: AsyncIterator[ChatChunk]) -> tuple[str, ProviderError | None]:
    text = ""
    try:
        async for chunk in stream:
            text += chunk.text
    except ProviderError as exc:
        return text, exc
    return text, None


@pytest.mark.parametrize("flavour", FLAVOURS)
@pytest.mark.parametrize("fault", list(STREAM_FAULTS))
async def test_streaming_fault_maps_to_its_error(flavour: str, fault: str, servers: dict[str, EmulatorServer],
                                                 client: httpx.AsyncClient) -> None:
    text, error = await drain(faulty(flavour, servers[flavour].url, client, fault).chat_stream(request(flavour)))
    expected = STREAM_FAULTS[fault]
    if expected is None:
        assert error is None and len(text.split()) == 12
        return
    assert type(error) is expected, f"{fault}: got {error!r}"
    if isinstance(error, StreamBrokenError):
        assert error.partial and error.partial == text  # what reached the caller is kept
        assert isinstance(error.cause, STREAM_CAUSES[fault])
    if isinstance(error, RateLimitedError):
        assert error.retry_after == 7
    if isinstance(error, ProviderTimeoutError):
        assert text == ""


@pytest.mark.parametrize("flavour", FLAVOURS)
@pytest.mark.parametrize("fault", list(PLAIN_FAULTS))
async def test_non_streaming_fault_maps_to_its_error(flavour: str, fault: str, servers: dict[str, EmulatorServer],
                                                     client: httpx.AsyncClient) -> None:
    lab = faulty(flavour, servers[flavour].url, client, fault)
    expected = PLAIN_FAULTS[fault]
    if expected is None:
        assert (await lab.chat(request(flavour))).text
        return
    with pytest.raises(expected) as caught:
        await lab.chat(request(flavour))
    assert type(caught.value) is expected


@pytest.mark.parametrize("fault", ["cut", "malformed", "429", "500"])
async def test_model_list_faults_are_errors_too(fault: str, servers: dict[str, EmulatorServer],
                                                client: httpx.AsyncClient) -> None:
    expected = {"cut": ProtocolError, "malformed": ProtocolError, "429": RateLimitedError, "500": ServerError}
    with pytest.raises(expected[fault]):
        await faulty("vllm", servers["vllm"].url, client, fault).list_models()


async def test_refused_connection_is_unreachable(client: httpx.AsyncClient) -> None:
    server = start_emulator("llamacpp", faults="refuse")
    try:
        lab = OpenAICompatAdapter(AdapterOptions(name="lc", base_url=server.url, kind="llamacpp",
                                                 timeout_s=TIMEOUT_S), client)
        text, error = await drain(lab.chat_stream(request("llamacpp")))
        assert text == "" and isinstance(error, UnreachableError)
        server.set_faults("")  # listening again: the same adapter recovers
        text, error = await drain(lab.chat_stream(request("llamacpp")))
        assert error is None and text
    finally:
        server.stop()


async def test_server_wide_faults_can_be_set_at_run_time(servers: dict[str, EmulatorServer],
                                                         client: httpx.AsyncClient) -> None:
    url = servers["openai"].url
    assert (await client.post(url + "/_emulator/faults", json={"spec": "529"})).json() == {"spec": "529"}
    try:
        lab = OpenAICompatAdapter(AdapterOptions(name="o", base_url=url, kind="openai"), client)
        with pytest.raises(OverloadedError):
            await lab.chat(request("openai"))
    finally:
        await client.post(url + "/_emulator/faults", json={"spec": ""})
