"""The OpenAI-compatible emulator's bodies have the shapes the real servers recorded, and its PNGs are valid."""

from __future__ import annotations

import json
import zlib
from collections.abc import Iterator

import httpx
import pytest

from providers.adapters.prometheus import parse_prometheus
from providers.emulators.png import gradient_png, png_size, solid_png
from providers.emulators.registry import start_emulator
from providers.emulators.server import EmulatorServer
from tests.providers.openai_stub_server import fixture_bytes


@pytest.fixture(scope="module")
def llamacpp() -> Iterator[EmulatorServer]:
    server = start_emulator("llamacpp")
    yield server
    server.stop()


def keys(value: object) -> set[str]:
    assert isinstance(value, dict)
    return set(value)


async def test_llamacpp_model_list_has_the_recorded_shape(llamacpp: EmulatorServer, http: httpx.AsyncClient) -> None:
    recorded = json.loads(fixture_bytes("llamacpp_v1_models.json"))
    emulated = (await http.get(llamacpp.url + "/v1/models")).json()
    assert keys(emulated) == keys(recorded)
    assert keys(recorded["data"][0]) <= keys(emulated["data"][0])
    assert keys(recorded["data"][0]["meta"]) - {"ftype"} <= keys(emulated["data"][0]["meta"])


async def test_llamacpp_context_error_has_the_recorded_shape(llamacpp: EmulatorServer,
                                                             http: httpx.AsyncClient) -> None:
    recorded = json.loads(fixture_bytes("llamacpp_context_exceeded.json"))
    reply = await http.post(llamacpp.url + "/v1/chat/completions",
                            json={"model": "m", "messages": [{"role": "user", "content": "word " * 5000}]})
    emulated = reply.json()
    assert reply.status_code == 400
    assert keys(emulated["error"]) == keys(recorded["error"])
    assert emulated["error"]["type"] == "exceed_context_size_error" and emulated["error"]["n_ctx"] == 4096
    assert emulated["error"]["message"].endswith("exceeds the available context size (4096 tokens), try increasing it")


async def test_llamacpp_props_slots_and_metrics_have_the_recorded_names(llamacpp: EmulatorServer,
                                                                       http: httpx.AsyncClient) -> None:
    props = (await http.get(llamacpp.url + "/props")).json()
    assert {"default_generation_settings", "total_slots", "model_path", "build_info"} <= keys(props)
    recorded_slot = json.loads(fixture_bytes("llamacpp_slots.json"))[0]
    slots = (await http.get(llamacpp.url + "/slots")).json()
    assert len(slots) == props["total_slots"] and keys(recorded_slot) <= keys(slots[0])
    recorded_names = {s.name for s in parse_prometheus(fixture_bytes("llamacpp_metrics.txt").decode())}
    emulated_names = {s.name for s in parse_prometheus((await http.get(llamacpp.url + "/metrics")).text)}
    wanted = {"llamacpp:prompt_tokens_total", "llamacpp:tokens_predicted_total", "llamacpp:requests_processing",
              "llamacpp:requests_deferred", "llamacpp:prompt_tokens_seconds", "llamacpp:predicted_tokens_seconds"}
    assert wanted <= recorded_names & emulated_names


async def test_llamacpp_stream_chunks_have_the_recorded_shape(llamacpp: EmulatorServer,
                                                              http: httpx.AsyncClient) -> None:
    def events(body: bytes) -> list[dict[str, object]]:
        lines = [line[6:] for line in body.decode().split("\n\n") if line.startswith("data: {")]
        return [json.loads(line) for line in lines]

    recorded = events(fixture_bytes("llamacpp_chat_stream.sse"))
    reply = await http.post(llamacpp.url + "/v1/chat/completions", json={
        "model": "m", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 3, "stream": True,
        "stream_options": {"include_usage": True}})
    emulated = events(reply.content)
    assert reply.content.endswith(b"data: [DONE]\n\n")
    assert keys(recorded[0]) <= keys(emulated[0]) and keys(recorded[-1]) <= keys(emulated[-1])
    assert emulated[-1]["choices"] == [] and keys(emulated[-1]["timings"]) == keys(recorded[-1]["timings"])


async def test_vllm_metrics_name_both_kv_gauges_and_a_ttft_histogram(http: httpx.AsyncClient) -> None:
    server = start_emulator("vllm")
    try:
        text = (await http.get(server.url + "/metrics")).text
        assert (await http.get(server.url + "/health")).content == b""
    finally:
        server.stop()
    names = {s.name for s in parse_prometheus(text)}
    assert {"vllm:num_requests_running", "vllm:num_requests_waiting", "vllm:kv_cache_usage_perc",
            "vllm:gpu_cache_usage_perc", "vllm:time_to_first_token_seconds_bucket",
            "vllm:time_to_first_token_seconds_count"} <= names


def test_solid_and_gradient_pngs_decode_to_their_pixels() -> None:
    solid = solid_png(3, 2, (10, 20, 30))
    assert png_size(solid) == (3, 2)
    idat_start = solid.index(b"IDAT") + 4
    pixels = zlib.decompress(solid[idat_start:solid.index(b"IEND") - 8])
    assert pixels == (b"\x00" + bytes((10, 20, 30)) * 3) * 2
    assert png_size(gradient_png(40, 30, seed=3)) == (40, 30)
    assert gradient_png(8, 8, seed=1) != gradient_png(8, 8, seed=2)
    assert png_size(b"GIF89a....") is None
    with pytest.raises(ValueError, match="outside"):
        solid_png(0, 10, (0, 0, 0))
