"""OllamaAdapter against the Ollama emulator over real loopback HTTP. The fault → error class table is
test_fault_contract.py; here only what Ollama alone does with a fault (stall phases, error lines, pulls)."""

from __future__ import annotations

import json
import math
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import StreamingResponse
from starlette.routing import Route

from providers.adapters.ollama import OllamaAdapter
from providers.base import AdapterOptions, ChatChunk, ChatRequest, Message
from providers.emulators.faults import FAULT_HEADER, FaultPlan
from providers.emulators.registry import start_emulator
from providers.emulators.server import EmulatorServer
from providers.emulators.text import Pace
from providers.errors import (
    BadRequestError,
    ContextTooLongError,
    NotFoundError,
    ProtocolError,
    ProviderError,
    ProviderTimeoutError,
    ServerError,
    StreamBrokenError,
)
from providers.health_policy import probe_health
from tests.emulator_control import ollama_state, pulls_held
from tests.hostile.hostile_server import canned, hostile_server, http_reply
from tests.waiting import HANG_S, bounded, wait_for_condition

HELLO = ChatRequest(model="llama3.2:1b", messages=(Message("user", "Say hello to the lab."),))


@pytest.fixture(scope="module")
def shared() -> Iterator[EmulatorServer]:
    """One emulator for the tests that do not care about model state; faults come per request (header)."""
    server = start_emulator("ollama")
    yield server
    server.stop()


def ollama(server: EmulatorServer, client: httpx.AsyncClient, timeout_s: float = 30.0,
           headers: dict[str, str] | None = None) -> OllamaAdapter:
    options = AdapterOptions(name="lab-ollama", base_url=server.url, kind="ollama", timeout_s=timeout_s,
                             headers=headers or {})
    return OllamaAdapter(options, client)


def faulty(server: EmulatorServer, client: httpx.AsyncClient, fault: str, timeout_s: float = 1.0) -> OllamaAdapter:
    return ollama(server, client, timeout_s, headers={FAULT_HEADER: fault})


async def drain(stream: AsyncIterator[ChatChunk]) -> tuple[list[ChatChunk], ProviderError | None]:
    """Every chunk until the end or the first error (returned, not raised)."""
    chunks: list[ChatChunk] = []
    try:
        async for chunk in stream:
            chunks.append(chunk)
    except ProviderError as exc:
        return chunks, exc
    return chunks, None


async def test_health_reports_version_loaded_models_and_vram(emulator: Any, client: httpx.AsyncClient) -> None:
    adapter = ollama(emulator("ollama"), client)
    await adapter.load("llama3.2:1b")
    health = await probe_health(adapter, HANG_S)
    assert health.status == "up"
    assert health.version == "0.12.6"
    assert health.models_loaded == ("llama3.2:1b",)
    assert health.vram_used_bytes is not None and health.vram_used_bytes > 1_321_098_329
    assert health.latency_ms is not None and health.latency_ms > 0


async def test_health_is_down_without_raising_when_nothing_listens(emulator: Any, client: httpx.AsyncClient) -> None:
    health = await probe_health(ollama(emulator("ollama", faults="refuse"), client), HANG_S)
    assert health.status == "down"
    assert "ConnectError" in health.detail


async def test_health_is_degraded_when_the_queue_is_full(emulator: Any, client: httpx.AsyncClient) -> None:
    health = await probe_health(ollama(emulator("ollama", faults="503"), client), HANG_S)
    assert health.status == "degraded"
    assert "server busy" in health.detail


async def test_list_models_merges_installed_with_loaded_state(emulator: Any, client: httpx.AsyncClient) -> None:
    adapter = ollama(emulator("ollama"), client)
    await adapter.load("qwen2.5:7b", keep_alive=-1)
    models = {m.name: m for m in await adapter.list_models()}
    assert set(models) == {"llama3.2:1b", "qwen2.5:7b", "mistral:7b", "nomic-embed-text:latest"}
    qwen = models["qwen2.5:7b"]
    assert qwen.loaded and qwen.size_vram_bytes and qwen.size_vram_bytes > qwen.size_bytes  # weights + KV cache
    assert qwen.expires_at is not None and int(qwen.expires_at[:4]) > 2200  # keep_alive -1: until unloaded
    assert (qwen.quantization, qwen.parameter_size, qwen.family) == ("Q4_K_M", "7.6B", "qwen2")
    assert not models["llama3.2:1b"].loaded
    assert models["llama3.2:1b"].context_length == 131072
    assert models["nomic-embed-text:latest"].kind == "embed"
    assert models["mistral:7b"].kind == "chat"


async def test_show_returns_the_details_view(shared: EmulatorServer, client: httpx.AsyncClient) -> None:
    details = await ollama(shared, client).show("llama3.2:1b")
    assert details.context_length == 131072
    assert details.capabilities == ("completion", "tools")
    assert details.quantization == "Q8_0"
    assert "FROM " in details.modelfile and details.template.startswith("<|start_header_id|>")
    assert "stop" in details.parameters
    assert details.model_info["general.architecture"] == "llama"


async def test_chat_stream_yields_text_then_finish_usage_and_timings(shared: EmulatorServer,
                                                                     client: httpx.AsyncClient) -> None:
    adapter = ollama(shared, client)
    chunks, error = await drain(adapter.chat_stream(HELLO))
    assert error is None
    text = "".join(c.text for c in chunks)
    final = chunks[-1]
    assert final.finish_reason == "stop"
    assert final.usage is not None and final.usage.completion_tokens == 24 == len([c for c in chunks if c.text])
    assert final.usage.prompt_tokens > 0
    assert final.timings is not None and final.timings.completion_ms and final.timings.completion_ms > 0
    assert final.timings.tokens_per_s is not None and final.timings.tokens_per_s > 0
    whole = await adapter.chat(HELLO)
    assert whole.text == text  # same prompt and seed: the same answer streamed or not
    assert whole.usage == final.usage and whole.finish_reason == "stop"


async def test_chat_sends_num_predict_stop_and_seed(shared: EmulatorServer, client: httpx.AsyncClient) -> None:
    adapter = ollama(shared, client)
    short = await adapter.chat(ChatRequest(model="llama3.2:1b", messages=HELLO.messages, max_tokens=5))
    assert short.finish_reason == "length" and short.usage is not None and short.usage.completion_tokens == 5
    full = await adapter.chat(HELLO)
    stop_word = full.text.split()[3]
    stopped = await adapter.chat(ChatRequest(model="llama3.2:1b", messages=HELLO.messages, stop=(stop_word,)))
    assert stop_word not in stopped.text and full.text.startswith(stopped.text)
    reseeded = await adapter.chat(ChatRequest(model="llama3.2:1b", messages=HELLO.messages, seed=7))
    assert reseeded.text != full.text


async def test_assistant_prefix_goes_out_as_a_trailing_assistant_message(shared: EmulatorServer,
                                                                          client: httpx.AsyncClient) -> None:
    adapter = ollama(shared, client)
    plain = await adapter.chat(HELLO)
    continued = await adapter.chat(ChatRequest(model="llama3.2:1b", messages=HELLO.messages,
                                               assistant_prefix="Hello lab, the"))
    assert plain.usage is not None and continued.usage is not None
    # The emulator counts 4 template tokens per message plus the words: one more message of three words.
    assert continued.usage.prompt_tokens == plain.usage.prompt_tokens + 4 + 3


async def test_closing_a_chat_stream_closes_the_http_stream(emulator: Any, client: httpx.AsyncClient) -> None:
    server = emulator("ollama", pace=Pace(tokens_per_s=30))
    stream = ollama(server, client).chat_stream(HELLO)
    first = [await anext(stream), await anext(stream)]
    await stream.aclose()
    assert all(c.text for c in first)
    await wait_for_condition(lambda: ollama_state(server).cancelled["chat"] == 1,
                             what="the server to see the chat cancelled")


async def test_pull_reports_one_monotonic_fraction_and_installs_the_model(emulator: Any,
                                                                          client: httpx.AsyncClient) -> None:
    adapter = ollama(emulator("ollama"), client)
    steps = [progress async for progress in adapter.pull("gemma2:2b")]
    fractions = [p.fraction for p in steps if p.fraction is not None]
    assert fractions == sorted(fractions)
    assert len([f for f in fractions if 0 < f < 1]) >= 10
    assert steps[0].status == "pulling manifest" and steps[0].fraction is None
    assert steps[-1].done and steps[-1].fraction == 1.0 and steps[-1].status == "success"
    assert steps[-1].total_bytes == steps[-1].completed_bytes == 1_629_518_495
    catalog = {m.name: m for m in await adapter.list_models()}
    assert catalog["gemma2:2b"].quantization == "Q4_0"


async def test_pull_of_a_name_outside_the_library_still_installs(emulator: Any, client: httpx.AsyncClient) -> None:
    adapter = ollama(emulator("ollama"), client)
    last = [p async for p in adapter.pull("acme-coder:13b")][-1]
    assert last.done
    catalog = {m.name: m for m in await adapter.list_models()}
    assert catalog["acme-coder:13b"].parameter_size == "13.0B"
    assert 7e9 < (catalog["acme-coder:13b"].size_bytes or 0) < 9e9


async def test_closing_a_pull_midway_cancels_it(emulator: Any, client: httpx.AsyncClient) -> None:
    server = emulator("ollama")
    adapter = ollama(server, client)
    with pulls_held(server) as state:  # the pull cannot end before the client closes it, however slow the machine
        pull = adapter.pull("llama3.1:8b")
        seen = 0.0
        while seen <= 0.2:
            progress = await bounded(anext(pull), what="pull progress past 20 %")
            seen = progress.fraction or 0.0
        await pull.aclose()
        assert 0.2 < seen < 1.0
        await wait_for_condition(lambda: state.cancelled["pull"] == 1 and state.active_pulls == 0,
                                 what="the server to see the pull cancelled")
    assert "llama3.1:8b" not in {m.name for m in await adapter.list_models()}


async def test_delete_removes_the_model(emulator: Any, client: httpx.AsyncClient) -> None:
    adapter = ollama(emulator("ollama"), client)
    await adapter.delete("mistral:7b")
    assert "mistral:7b" not in {m.name for m in await adapter.list_models()}


async def test_delete_of_a_missing_model_is_a_bad_request(emulator: Any, client: httpx.AsyncClient) -> None:
    with pytest.raises(BadRequestError, match="not found") as caught:
        await ollama(emulator("ollama"), client).delete("no-such-model:1b")
    assert caught.value.status == 404


async def test_copy_adds_a_second_name(emulator: Any, client: httpx.AsyncClient) -> None:
    adapter = ollama(emulator("ollama"), client)
    await adapter.copy("llama3.2:1b", "llama-backup")
    names = {m.name: m for m in await adapter.list_models()}
    assert names["llama-backup:latest"].size_bytes == names["llama3.2:1b"].size_bytes


async def test_load_then_unload_changes_the_loaded_state(emulator: Any, client: httpx.AsyncClient) -> None:
    adapter = ollama(emulator("ollama"), client)
    await adapter.load("mistral:7b")
    assert {m.name for m in await adapter.list_models() if m.loaded} == {"mistral:7b"}
    await adapter.unload("mistral:7b")
    assert not [m for m in await adapter.list_models() if m.loaded]
    assert (await probe_health(adapter, HANG_S)).models_loaded == ()


async def test_embed_returns_one_unit_vector_per_input(shared: EmulatorServer, client: httpx.AsyncClient) -> None:
    adapter = ollama(shared, client)
    first, second = await adapter.embed("nomic-embed-text", ["a lab note", "another note"])
    assert len(first) == len(second) == 768
    assert math.isclose(sum(x * x for x in first), 1.0, rel_tol=1e-4)
    assert first != second
    assert (await adapter.embed("nomic-embed-text", ["a lab note"]))[0] == first


async def test_describe_call_shows_the_exact_request(client: httpx.AsyncClient) -> None:
    adapter = OllamaAdapter(AdapterOptions("lab", "http://127.0.0.1:11434/", "ollama"), client)
    assert adapter.describe_call("delete", "llama3.2:1b") == (
        'DELETE http://127.0.0.1:11434/api/delete {"model": "llama3.2:1b"}')
    assert adapter.describe_call("unload", "qwen2.5:7b") == (
        'POST http://127.0.0.1:11434/api/generate {"model": "qwen2.5:7b", "keep_alive": 0}')
    assert adapter.describe_call("pull", "gemma2:2b") == 'POST http://127.0.0.1:11434/api/pull {"model": "gemma2:2b"}'


@pytest.mark.parametrize(("fault", "phase"), [("stall_first:3", "ttft"), ("stall_mid:3", "idle")])
async def test_a_stall_says_whether_it_struck_before_or_after_the_first_line(shared: EmulatorServer,
                                                                            client: httpx.AsyncClient, fault: str,
                                                                            phase: str) -> None:
    # The fault contract (test_fault_contract.py) holds the error classes; Ollama alone tells the two stalls apart.
    _, error = await drain(faulty(shared, client, fault).chat_stream(HELLO))
    timeout = error.cause if isinstance(error, StreamBrokenError) else error
    assert isinstance(timeout, ProviderTimeoutError) and timeout.phase == phase


async def test_pull_stream_cut_short_is_an_error_and_installs_nothing(emulator: Any,
                                                                      client: httpx.AsyncClient) -> None:
    server = emulator("ollama", faults="truncate")
    adapter = ollama(server, client)
    with pytest.raises(ProtocolError, match="without status success"):
        _ = [p async for p in adapter.pull("gemma2:2b")]
    assert ollama_state(server).find("gemma2:2b") is None


def piece(text: str) -> dict[str, Any]:
    return {"model": "llama3.2:1b", "created_at": "2025-01-01T00:00:00Z",
            "message": {"role": "assistant", "content": text}, "done": False}


TRANSCRIPTS: dict[str, list[dict[str, Any]]] = {
    "error-after-text": [piece("Hello"), piece(" lab"), {"error": "llama runner crashed"}],
    "error-first": [{"error": "input length exceeds the context length"}],
    "model-gone": [{"error": "model 'llama3.2:1b' not found"}],
    "pull-unknown": [{"status": "pulling manifest"}, {"error": "pull model manifest: file does not exist"}],
}


@pytest.fixture(scope="module")
def replayer() -> Iterator[EmulatorServer]:
    """Replays NDJSON shapes the emulator never produces; the `x-transcript` header picks one."""

    async def replay(request: Request) -> StreamingResponse:
        lines = TRANSCRIPTS[request.headers["x-transcript"]]

        async def body() -> AsyncIterator[bytes]:
            for line in lines:
                yield json.dumps(line).encode() + b"\n"

        return StreamingResponse(body(), media_type="application/x-ndjson")

    app = Starlette(routes=[Route("/api/chat", replay, methods=["POST"]), Route("/api/pull", replay, methods=["POST"])])
    server = EmulatorServer(app=app, plan=FaultPlan()).start()
    yield server
    server.stop()


def replaying(server: EmulatorServer, client: httpx.AsyncClient, transcript: str) -> OllamaAdapter:
    return ollama(server, client, headers={"x-transcript": transcript})


async def test_an_error_line_mid_stream_is_an_error_not_text(replayer: EmulatorServer,
                                                             client: httpx.AsyncClient) -> None:
    chunks, error = await drain(replaying(replayer, client, "error-after-text").chat_stream(HELLO))
    assert isinstance(error, StreamBrokenError) and error.partial == "Hello lab"
    assert isinstance(error.cause, ServerError) and "llama runner crashed" in error.cause.message
    assert "crashed" not in "".join(c.text for c in chunks)


async def test_an_error_line_before_any_text_is_raised_as_is(replayer: EmulatorServer,
                                                             client: httpx.AsyncClient) -> None:
    _, error = await drain(replaying(replayer, client, "error-first").chat_stream(HELLO))
    assert isinstance(error, ContextTooLongError)


async def test_a_model_gone_mid_stream_is_not_found_which_may_fall_back(replayer: EmulatorServer,
                                                                           client: httpx.AsyncClient) -> None:
    _, error = await drain(replaying(replayer, client, "model-gone").chat_stream(HELLO))
    assert isinstance(error, NotFoundError) and error.status == 404 and error.fallback


async def test_a_pull_of_a_name_the_registry_lacks_is_a_bad_request(replayer: EmulatorServer,
                                                                    client: httpx.AsyncClient) -> None:
    with pytest.raises(BadRequestError, match="not in the registry"):
        _ = [p async for p in replaying(replayer, client, "pull-unknown").pull("nope:1b")]


async def test_a_probe_of_a_server_that_stays_up_is_one_request_and_a_failure_is_judged_afresh(
        client: httpx.AsyncClient) -> None:
    routes = {"/api/version": canned(http_reply(b'{"version": "0.12.6"}')),
              "/api/ps": canned(http_reply(b'{"models": []}'))}
    with hostile_server(routes) as server:
        adapter = OllamaAdapter(AdapterOptions(name="o", base_url=server.url, kind="ollama"), client)
        first, second = await probe_health(adapter, HANG_S), await probe_health(adapter, HANG_S)
        assert (first.status, second.status, second.version) == ("up", "up", "0.12.6")
        assert [r.path for r in server.seen] == ["/api/version", "/api/ps", "/api/ps"]
        routes["/api/ps"] = canned(http_reply(b'{"error": "busy"}', status=500))
        routes["/api/version"] = canned(http_reply(b'{"error": "unauthorized"}', status=401))
        third = await probe_health(adapter, HANG_S)
    # The cached version skipped the liveness call: the failure is judged the full way, as on a first probe.
    assert third.status == "unauthorized"
    assert [r.path for r in server.seen][3:] == ["/api/ps", "/api/version"]
