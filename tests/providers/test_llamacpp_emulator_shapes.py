"""The llama.cpp emulators answer every route recorded from the stock servers (tests/fixtures, a copy of
../shared/fixtures) in the recorded shape: the same keys, JSON types and status codes, values aside. Lists are
compared by their first item; Prometheus text by its metric names and HELP/TYPE lines."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from providers.emulators.text import Pace
from tests.conftest import EmulatorFactory
from tests.providers.openai_stub_server import fixture_bytes
from tests.providers.recorded import same_shape, shape
from tests.waiting import bounded, wait_for_condition

CHAT = {"model": "tiny-llama-native", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 8}
MESSAGES = {"model": "tiny-llama-native", "max_tokens": 5, "messages": [{"role": "user", "content": "hi"}]}


def mismatches(emulated: Any, recorded: Any, path: str = "$") -> list[str]:
    """Where `emulated` leaves the recorded shape: keys missing or extra, JSON types that differ (shape() and
    same_shape() decide a leaf, so a recorded null matches any value), lists by their first item."""
    if isinstance(emulated, dict) and isinstance(recorded, dict):
        found = [f"{path}.{key}: missing" for key in recorded.keys() - emulated.keys()]
        found += [f"{path}.{key}: not recorded" for key in emulated.keys() - recorded.keys()]
        for key in recorded.keys() & emulated.keys():
            found += mismatches(emulated[key], recorded[key], f"{path}.{key}")
        return sorted(found)
    if isinstance(emulated, list) and isinstance(recorded, list):
        if recorded and not emulated:
            return [f"{path}: empty where the recording has items"]
        return mismatches(emulated[0], recorded[0], f"{path}[0]") if recorded and emulated else []
    if same_shape(shape(emulated), shape(recorded)):
        return []
    return [f"{path}: {shape(emulated)} where the recording has {shape(recorded)}"]


def assert_recorded_shape(emulated: Any, recorded: Any) -> None:
    assert mismatches(emulated, recorded) == []


def sse_events(body: bytes) -> list[tuple[str | None, Any]]:
    """(event name or None, parsed data) per event; `[DONE]` stays a string."""
    events: list[tuple[str | None, Any]] = []
    for block in body.decode().split("\n\n"):
        lines = dict(line.split(": ", 1) for line in block.strip().split("\n") if ": " in line)
        if "data" in lines:
            data = lines["data"]
            events.append((lines.get("event"), data if data == "[DONE]" else json.loads(data)))
    return events


def prometheus_heads(text: str) -> tuple[set[str], set[str]]:
    """The metric names that carry samples, and every HELP/TYPE line."""
    heads = {line for line in text.splitlines() if line.startswith(("# HELP ", "# TYPE "))}
    names = {line.split(" ")[0].split("{")[0] for line in text.splitlines() if line and not line.startswith("#")}
    return names, heads


# ------------------------------------------------------------------ the GET routes

@pytest.mark.parametrize(("route", "fixture"), [
    ("/health", "llamacpp_health.json"), ("/props", "llamacpp_props.json"),
    ("/v1/models", "llamacpp_v1_models.json"),
])
async def test_llamacpp_get_route_has_the_recorded_shape(route: str, fixture: str, emulator: EmulatorFactory,
                                                         http: httpx.AsyncClient) -> None:
    reply = await http.get(emulator("llamacpp").url + route)
    assert reply.status_code == 200
    assert_recorded_shape(reply.json(), json.loads(fixture_bytes(fixture)))


async def test_llamacpp_props_params_are_the_recorded_generation_settings(emulator: EmulatorFactory,
                                                                         http: httpx.AsyncClient) -> None:
    """The ~40 sampling settings by name, so that a missing one is named when this fails."""
    props = (await http.get(emulator("llamacpp").url + "/props")).json()
    recorded = json.loads(fixture_bytes("llamacpp_props.json"))
    params = props["default_generation_settings"]["params"]
    assert sorted(params) == sorted(recorded["default_generation_settings"]["params"])
    assert params["samplers"] == recorded["default_generation_settings"]["params"]["samplers"]
    assert props["modalities"] == {"vision": False, "video": False, "audio": False}


async def test_llamacpp_metrics_have_the_recorded_names_help_and_types(emulator: EmulatorFactory,
                                                                       http: httpx.AsyncClient) -> None:
    server = emulator("llamacpp")
    assert (await http.post(server.url + "/v1/chat/completions", json=CHAT)).status_code == 200
    reply = await http.get(server.url + "/metrics")
    assert reply.status_code == 200 and reply.headers["content-type"].startswith("text/plain")
    emulated_names, emulated_heads = prometheus_heads(reply.text)
    recorded_names, recorded_heads = prometheus_heads(fixture_bytes("llamacpp_metrics.txt").decode())
    assert sorted(emulated_names ^ recorded_names) == []
    assert sorted(emulated_heads ^ recorded_heads) == []


# ------------------------------------------------------------------ /slots: never used, busy, idle after a task

async def test_llamacpp_slots_have_the_recorded_shapes_before_during_and_after_a_task(
        emulator: EmulatorFactory, http: httpx.AsyncClient) -> None:
    recorded = json.loads(fixture_bytes("llamacpp_slots.json"))
    unused, served = recorded[0], recorded[3]  # slot 3 had served task 18 when it was recorded
    server = emulator("llamacpp", pace=Pace(tokens_per_s=1))  # a 30-token answer holds its slot for 30 s
    fresh = (await http.get(server.url + "/slots")).json()
    for slot in fresh:
        assert_recorded_shape(slot, unused)

    body = {**CHAT, "max_tokens": 30, "stream": True}
    async with http.stream("POST", server.url + "/v1/chat/completions", json=body) as stream:
        lines = stream.aiter_lines()
        await bounded(anext(lines), what="the role chunk")  # the task holds its slot from here on
        busy = (await http.get(server.url + "/slots")).json()
    [working] = [slot for slot in busy if slot["is_processing"]]
    assert_recorded_shape(working, served)
    assert working["next_token"][0]["has_next_token"] is True

    state = server.app.state.openai
    await wait_for_condition(lambda: not state.inflight, what="the closed stream to end its task")
    # A second task: one token, so the slow pace (a pause between tokens) does not hold it.
    assert (await http.post(server.url + "/v1/chat/completions", json={**CHAT, "max_tokens": 1})).status_code == 200
    after = (await http.get(server.url + "/slots")).json()
    used = [slot for slot in after if "id_task" in slot]
    assert used and not any(slot["is_processing"] for slot in after)
    for slot in used:  # idle, yet keeping its last task, params and next_token as llama-server does
        assert_recorded_shape(slot, served)
        assert slot["next_token"][0]["has_next_token"] is False
    for slot in after:
        if "id_task" not in slot:
            assert_recorded_shape(slot, unused)
    # Task ids count tasks, not slots: two tasks, two ids, whichever slots they took.
    ids = {working["id_task"], *(slot["id_task"] for slot in used)}
    assert len(ids) == 2


# ------------------------------------------------------------------ chat, plain and streamed

async def test_llamacpp_chat_has_the_recorded_shape(emulator: EmulatorFactory, http: httpx.AsyncClient) -> None:
    reply = await http.post(emulator("llamacpp").url + "/v1/chat/completions", json=CHAT)
    assert reply.status_code == 200
    assert_recorded_shape(reply.json(), json.loads(fixture_bytes("llamacpp_chat.json")))


async def test_llamacpp_stream_has_the_recorded_chunks(emulator: EmulatorFactory, http: httpx.AsyncClient) -> None:
    body = {**CHAT, "stream": True, "stream_options": {"include_usage": True}}
    reply = await http.post(emulator("llamacpp").url + "/v1/chat/completions", json=body)
    assert reply.status_code == 200 and reply.headers["content-type"].startswith("text/event-stream")
    emulated = [data for _, data in sse_events(reply.content)]
    recorded = [data for _, data in sse_events(fixture_bytes("llamacpp_chat_stream.sse"))]
    assert emulated[-1] == recorded[-1] == "[DONE]"
    # role chunk, content chunks, the finish chunk, the usage chunk (with timings)
    assert_recorded_shape(emulated[0], recorded[0])
    for chunk in emulated[1:-3]:
        assert_recorded_shape(chunk, recorded[1])
    assert_recorded_shape(emulated[-3], recorded[-3])
    assert_recorded_shape(emulated[-2], recorded[-2])


async def test_llamacpp_context_exceeded_has_the_recorded_status_and_body(emulator: EmulatorFactory,
                                                                          http: httpx.AsyncClient) -> None:
    body = {**CHAT, "messages": [{"role": "user", "content": "word " * 5000}]}
    reply = await http.post(emulator("llamacpp").url + "/v1/chat/completions", json=body)
    assert reply.status_code == 400
    assert_recorded_shape(reply.json(), json.loads(fixture_bytes("llamacpp_context_exceeded.json")))


# ------------------------------------------------------------------ the Anthropic Messages API

async def test_llamacpp_anthropic_message_has_the_recorded_shape(emulator: EmulatorFactory,
                                                                 http: httpx.AsyncClient) -> None:
    reply = await http.post(emulator("llamacpp").url + "/v1/messages", json=MESSAGES)
    assert reply.status_code == 200
    message = reply.json()
    assert_recorded_shape(message, json.loads(fixture_bytes("llamacpp_anthropic_messages.json")))
    assert message["stop_reason"] == "max_tokens" and message["usage"]["output_tokens"] == 5


async def test_llamacpp_anthropic_stream_has_the_recorded_events(emulator: EmulatorFactory,
                                                                 http: httpx.AsyncClient) -> None:
    reply = await http.post(emulator("llamacpp").url + "/v1/messages", json={**MESSAGES, "stream": True})
    assert reply.status_code == 200 and reply.headers["content-type"].startswith("text/event-stream")
    emulated = sse_events(reply.content)
    recorded = sse_events(fixture_bytes("llamacpp_anthropic_messages_stream.sse"))
    assert [name for name, _ in emulated] == [name for name, _ in recorded]  # no ping, five deltas
    for (name, data), (_, want) in zip(emulated, recorded, strict=True):
        assert data["type"] == name
        assert_recorded_shape(data, want)


async def test_llamacpp_anthropic_context_exceeded_is_llama_servers_400(emulator: EmulatorFactory,
                                                                        http: httpx.AsyncClient) -> None:
    body = {**MESSAGES, "messages": [{"role": "user", "content": "word " * 5000}]}
    reply = await http.post(emulator("llamacpp").url + "/v1/messages", json=body)
    assert reply.status_code == 400
    assert_recorded_shape(reply.json(), json.loads(fixture_bytes("llamacpp_context_exceeded.json")))


# ------------------------------------------------------------------ llama-cpp-python

async def test_llama_cpp_python_models_and_stream_have_the_recorded_shapes(emulator: EmulatorFactory,
                                                                          http: httpx.AsyncClient) -> None:
    server = emulator("llama_cpp_python")
    models = await http.get(server.url + "/v1/models")
    assert models.status_code == 200
    assert_recorded_shape(models.json(), json.loads(fixture_bytes("llamacpp_python_v1_models.json")))
    reply = await http.post(server.url + "/v1/chat/completions", json={**CHAT, "stream": True})
    emulated = [data for _, data in sse_events(reply.content)]
    recorded = [data for _, data in sse_events(fixture_bytes("llamacpp_python_chat_stream.sse"))]
    assert emulated[-1] == recorded[-1] == "[DONE]"
    assert_recorded_shape(emulated[0], recorded[0])
    for chunk in emulated[1:-2]:
        assert_recorded_shape(chunk, recorded[1])
    assert_recorded_shape(emulated[-2], recorded[-2])
