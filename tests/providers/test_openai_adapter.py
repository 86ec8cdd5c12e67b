"""OpenAICompatAdapter against the openai / vllm / llamacpp emulators over real loopback HTTP."""

from __future__ import annotations

import asyncio
import math
import struct
import zlib
from collections.abc import AsyncIterator

import httpx
import pytest

from providers.adapters import build_adapter
from providers.adapters.openai_compat import OpenAICompatAdapter
from providers.base import AdapterOptions, ChatChunk, ChatRequest, ImageProgress, ImageRequest, Message
from providers.emulators import openai as openai_emulator
from providers.emulators.faults import FaultPlan
from providers.emulators.png import PNG_SIGNATURE
from providers.emulators.registry import start_emulator
from providers.emulators.server import EmulatorServer
from providers.emulators.text import Pace
from providers.errors import ContextTooLongError, UnreachableError, UnsupportedError
from providers.health_policy import probe_health
from tests.waiting import HANG_S

FLAVOURS = ("openai", "vllm", "llamacpp")
CHAT_MODEL = {"openai": "gpt-4o-mini", "vllm": "meta-llama/Llama-3.1-8B-Instruct",
              "llamacpp": "llama-3.2-3b-instruct-q4_k_m"}
WINDOW = {"openai": None, "vllm": 8192, "llamacpp": 4096}


def request_for(flavour: str, prompt: str = "Say hello to the lab.", max_tokens: int | None = 5) -> ChatRequest:
    return ChatRequest(model=CHAT_MODEL[flavour], messages=(Message("user", prompt),), max_tokens=max_tokens)


def adapter(flavour: str, url: str, client: httpx.AsyncClient, key: str | None = "sk-lab-0001") -> OpenAICompatAdapter:
    options = AdapterOptions(name=f"lab-{flavour}", base_url=url, kind=flavour, api_key=(lambda: key) if key else None)
    built = build_adapter(options, client)
    assert isinstance(built, OpenAICompatAdapter)
    return built


async def collect(stream: AsyncIterator[ChatChunk]) -> list[ChatChunk]:
    return [chunk async for chunk in stream]


@pytest.mark.parametrize("flavour", FLAVOURS)
async def test_streamed_chat_has_text_usage_and_finish(flavour: str, openai_servers: dict[str, EmulatorServer],
                                                       client: httpx.AsyncClient) -> None:
    chunks = await collect(adapter(flavour, openai_servers[flavour].url, client).chat_stream(request_for(flavour)))
    text = "".join(c.text for c in chunks)
    usage = next(c.usage for c in chunks if c.usage)
    assert len(text.split()) == 5 and text[0].isupper()
    assert usage.completion_tokens == 5 and usage.prompt_tokens > 0
    assert [c.finish_reason for c in chunks if c.finish_reason] == ["length"]
    timings = next((c.timings for c in chunks if c.timings), None)
    assert (timings is not None) == (flavour == "llamacpp")


@pytest.mark.parametrize("flavour", FLAVOURS)
async def test_non_streaming_chat_gives_the_same_answer_as_the_stream(
        flavour: str, openai_servers: dict[str, EmulatorServer], client: httpx.AsyncClient) -> None:
    lab = adapter(flavour, openai_servers[flavour].url + "/v1", client)  # a base URL ending in /v1 works too
    request = request_for(flavour, max_tokens=None)
    streamed = "".join(c.text for c in await collect(lab.chat_stream(request)))
    result = await lab.chat(request)
    assert result.text == streamed and result.finish_reason == "stop"
    assert result.usage is not None and result.usage.completion_tokens == len(streamed.split())
    assert result.total_ms is not None and result.total_ms > 0


@pytest.mark.parametrize("flavour", FLAVOURS)
async def test_models_list_with_context_windows(flavour: str, openai_servers: dict[str, EmulatorServer],
                                                client: httpx.AsyncClient) -> None:
    models = {m.name: m for m in await adapter(flavour, openai_servers[flavour].url, client).list_models()}
    chat = models[CHAT_MODEL[flavour]]
    assert chat.context_length == WINDOW[flavour]
    assert chat.loaded == (flavour != "openai")
    if flavour == "openai":
        assert (models["text-embedding-3-small"].kind, models["gpt-image-1"].kind) == ("embed", "image")


async def test_vllm_health_reports_version_and_live_load(openai_servers: dict[str, EmulatorServer],
                                                         client: httpx.AsyncClient) -> None:
    lab = adapter("vllm", openai_servers["vllm"].url, client)
    slow = EmulatorServer(app=openai_emulator.build(plan=FaultPlan(), pace=Pace(tokens_per_s=20), seed=0,
                                                    flavour="vllm"), plan=FaultPlan()).start()
    try:
        slow_lab = adapter("vllm", slow.url, client)
        streams = [slow_lab.chat_stream(request_for("vllm", f"question {i}", 20)) for i in range(2)]
        for stream in streams:
            await anext(stream)  # the role chunk has no text; wait for real text
            await anext(stream)
        busy = await probe_health(slow_lab, HANG_S)
        assert busy.status == "up" and busy.version == "0.10.1.1"
        assert busy.metrics["requests_running"] == 2 and busy.metrics["requests_waiting"] == 0
        assert 0 < busy.metrics["kv_cache_usage"] < 1
        assert "2 running" in busy.detail
        for stream in streams:
            await stream.aclose()
    finally:
        slow.stop()
    await collect(lab.chat_stream(request_for("vllm")))
    idle = await probe_health(lab, HANG_S)
    assert idle.metrics["requests_running"] == 0
    assert idle.metrics["ttft_p50_s"] >= 0 and "ttft_mean_s" in idle.metrics
    assert idle.models_loaded == ("meta-llama/Llama-3.1-8B-Instruct", "sql-lora")


async def test_llamacpp_health_reports_slots_context_and_build(openai_servers: dict[str, EmulatorServer],
                                                               client: httpx.AsyncClient) -> None:
    slow = EmulatorServer(app=openai_emulator.build(plan=FaultPlan(), pace=Pace(tokens_per_s=20), seed=0,
                                                    flavour="llamacpp"), plan=FaultPlan()).start()
    try:
        lab = adapter("llamacpp", slow.url, client)
        stream = lab.chat_stream(request_for("llamacpp", max_tokens=20))
        await anext(stream)
        await anext(stream)
        health = await probe_health(lab, HANG_S)
        await stream.aclose()
    finally:
        slow.stop()
    assert health.status == "up" and health.version == "b6123-e3a1f00"
    assert (health.metrics["slots_busy"], health.metrics["slots_total"], health.metrics["n_ctx"]) == (1, 4, 4096)
    assert health.metrics["requests_running"] == 1
    assert health.models_loaded == ("llama-3.2-3b-instruct-q4_k_m",)
    assert health.detail.startswith("1/4 slots busy")


async def test_openai_health_probes_the_model_list(openai_servers: dict[str, EmulatorServer],
                                                   client: httpx.AsyncClient) -> None:
    health = await probe_health(adapter("openai", openai_servers["openai"].url, client), HANG_S)
    assert health.status == "up" and health.latency_ms is not None and health.models_loaded == ()


async def test_hosted_flavour_without_a_key_is_unauthorized_without_a_call(client: httpx.AsyncClient) -> None:
    health = await probe_health(adapter("openai", "http://127.0.0.1:9", client, key=None), HANG_S)
    assert health.status == "unauthorized" and "no" in health.detail  # a call to port 9 would have been down
    local = await probe_health(adapter("llamacpp", "http://127.0.0.1:9", client, key=None), HANG_S)
    assert local.status == "down"


@pytest.mark.parametrize(("flavour", "fault", "status", "detail"), [
    ("llamacpp", "503", "degraded", "Loading model"),
    ("vllm", "503", "down", "engine not healthy"),
    ("openai", "401", "unauthorized", "Incorrect API key"),
    ("vllm", "401", "unauthorized", "Unauthorized"),
    ("openai", "500", "degraded", "server had an error"),
])
async def test_health_statuses_from_faults(flavour: str, fault: str, status: str, detail: str,
                                           client: httpx.AsyncClient) -> None:
    server = start_emulator(flavour, faults=fault)
    try:
        health = await probe_health(adapter(flavour, server.url, client), HANG_S)
    finally:
        server.stop()
    assert health.status == status and detail in health.detail


async def test_unreachable_server_is_down_for_health_and_unreachable_for_chat(client: httpx.AsyncClient) -> None:
    server = start_emulator("vllm", faults="refuse")
    try:
        lab = adapter("vllm", server.url, client)
        assert (await probe_health(lab, HANG_S)).status == "down"
        with pytest.raises(UnreachableError):
            await collect(lab.chat_stream(request_for("vllm")))
    finally:
        server.stop()


@pytest.mark.parametrize("flavour", FLAVOURS)
async def test_embeddings_are_unit_vectors_in_input_order(flavour: str, openai_servers: dict[str, EmulatorServer],
                                                          client: httpx.AsyncClient) -> None:
    lab = adapter(flavour, openai_servers[flavour].url, client)
    model = "text-embedding-3-small" if flavour == "openai" else CHAT_MODEL[flavour]
    first, second = await lab.embed(model, ["alpha", "beta"])
    again = await lab.embed(model, ["beta"])
    assert len(first) == 16 and first != second and again == [second]
    assert math.isclose(sum(v * v for v in first), 1.0, rel_tol=1e-6)


def png_facts(data: bytes) -> tuple[int, int, int]:
    """(width, height, decoded scanline bytes) after checking the signature and every chunk's CRC."""
    assert data.startswith(PNG_SIGNATURE)
    position, width, height, idat = 8, 0, 0, b""
    while position < len(data):
        (length,) = struct.unpack(">I", data[position:position + 4])
        kind, payload = data[position + 4:position + 8], data[position + 8:position + 8 + length]
        (crc,) = struct.unpack(">I", data[position + 8 + length:position + 12 + length])
        assert crc == zlib.crc32(kind + payload) & 0xFFFFFFFF
        if kind == b"IHDR":
            width, height = struct.unpack(">II", payload[:8])
        idat += payload if kind == b"IDAT" else b""
        position += 12 + length
    return width, height, len(zlib.decompress(idat))


@pytest.mark.parametrize("model", ["gpt-image-1", "dall-e-3"])
async def test_openai_images_are_valid_pngs_of_the_asked_size(model: str, openai_servers: dict[str, EmulatorServer],
                                                              client: httpx.AsyncClient) -> None:
    seen: list[float] = []

    async def on_progress(progress: ImageProgress) -> None:
        seen.append(progress.fraction)

    result = await adapter("openai", openai_servers["openai"].url, client).generate_image(
        ImageRequest(prompt="a lighthouse at dusk", width=96, height=64, model=model), on_progress)
    assert png_facts(result.png) == (96, 64, 64 * (1 + 3 * 96))
    assert (result.width, result.height, result.model) == (96, 64, model)
    assert seen == [0.0, 1.0]
    assert ("revised_prompt" in result.info) == (model == "dall-e-3")


async def test_images_are_unsupported_on_vllm(openai_servers: dict[str, EmulatorServer],
                                              client: httpx.AsyncClient) -> None:
    with pytest.raises(UnsupportedError):
        await adapter("vllm", openai_servers["vllm"].url, client).generate_image(ImageRequest(prompt="x"))


@pytest.mark.parametrize(("flavour", "window"), [("vllm", 8192), ("llamacpp", 4096)])
async def test_prompt_over_the_window_is_context_too_long_with_sizes(
        flavour: str, window: int, openai_servers: dict[str, EmulatorServer], client: httpx.AsyncClient) -> None:
    lab = adapter(flavour, openai_servers[flavour].url, client)
    long_prompt = "word " * (window + 50)
    with pytest.raises(ContextTooLongError) as caught:
        await collect(lab.chat_stream(request_for(flavour, long_prompt)))
    assert caught.value.n_ctx == window and caught.value.n_prompt is not None and caught.value.n_prompt > window
    with pytest.raises(ContextTooLongError):
        await lab.chat(request_for(flavour, long_prompt))


async def test_llamacpp_router_mode_loads_and_unloads(client: httpx.AsyncClient) -> None:
    router = EmulatorServer(app=openai_emulator.build(plan=FaultPlan(), pace=Pace(), seed=0,
                                                      flavour="llamacpp_router"), plan=FaultPlan()).start()
    try:
        lab = adapter("llamacpp", router.url, client)
        assert lab.capabilities.load and lab.capabilities.unload
        before = {m.name: m.loaded for m in await lab.list_models()}
        assert before == {"qwen2.5-7b-instruct-q4_k_m": True, "llama-3.2-3b-instruct-q4_k_m": False,
                          "nomic-embed-text-v1.5": False}
        await lab.load("llama-3.2-3b-instruct-q4_k_m")
        await lab.unload("qwen2.5-7b-instruct-q4_k_m")
        after = {m.name: m.loaded for m in await lab.list_models()}
        assert after["llama-3.2-3b-instruct-q4_k_m"] and not after["qwen2.5-7b-instruct-q4_k_m"]
        assert lab.describe_call("unload", "x") == f"POST {router.url}/models/unload x"
    finally:
        router.stop()


async def test_single_model_llamacpp_says_load_is_unsupported(openai_servers: dict[str, EmulatorServer],
                                                              client: httpx.AsyncClient) -> None:
    with pytest.raises(UnsupportedError, match="router mode"):
        await adapter("llamacpp", openai_servers["llamacpp"].url, client).load("other")
    with pytest.raises(UnsupportedError):
        await adapter("openai", openai_servers["openai"].url, client).unload("gpt-4o")


async def test_closing_a_stream_early_frees_the_server(client: httpx.AsyncClient) -> None:
    slow = EmulatorServer(app=openai_emulator.build(plan=FaultPlan(), pace=Pace(tokens_per_s=20), seed=0,
                                                    flavour="vllm"), plan=FaultPlan()).start()
    try:
        lab = adapter("vllm", slow.url, client)
        stream = lab.chat_stream(request_for("vllm", max_tokens=50))
        await anext(stream)
        await anext(stream)
        await stream.aclose()
        for _ in range(50):  # the server notices the closed connection within a token or two
            if (await probe_health(lab, HANG_S)).metrics.get("requests_running") == 0:
                break
            await asyncio.sleep(0.02)
        assert (await probe_health(lab, HANG_S)).metrics["requests_running"] == 0
    finally:
        slow.stop()
