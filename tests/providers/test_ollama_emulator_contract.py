"""The official `ollama` Python client against the Ollama emulator: it must get what a real server gives it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import ollama
import pytest

from providers.emulators.faults import FAULT_HEADER
from providers.emulators.server import EmulatorServer

HELLO = [{"role": "user", "content": "Say hello to the lab."}]


@pytest.fixture
def server(emulator: Any) -> EmulatorServer:
    started: EmulatorServer = emulator("ollama")
    return started


@pytest.fixture
async def official(server: EmulatorServer) -> AsyncIterator[ollama.AsyncClient]:
    async with ollama.AsyncClient(host=server.url) as official:
        yield official


async def test_list_shows_the_installed_models(official: ollama.AsyncClient) -> None:
    listing = await official.list()
    by_name = {m.model: m for m in listing.models}
    assert set(by_name) == {"llama3.2:1b", "qwen2.5:7b", "mistral:7b", "nomic-embed-text:latest"}
    small = by_name["llama3.2:1b"]
    assert small.size == 1_321_098_329 and small.modified_at is not None and small.digest
    assert small.details is not None and small.details.quantization_level == "Q8_0"
    assert small.details.format == "gguf" and small.details.family == "llama"


async def test_streamed_pull_reports_layers_then_success(official: ollama.AsyncClient) -> None:
    parts = [part async for part in await official.pull("gemma2:2b", stream=True)]
    statuses = [p.status for p in parts]
    assert statuses[0] == "pulling manifest" and statuses[-1] == "success"
    assert statuses.index("verifying sha256 digest") < statuses.index("writing manifest")
    layers = {p.digest for p in parts if p.digest}
    assert len(layers) >= 3 and all(d.startswith("sha256:") for d in layers)
    weights = [p for p in parts if p.digest and p.total and p.total > 1_000_000]
    assert weights[0].completed is None  # announced before any byte arrived
    assert weights[-1].completed == weights[-1].total
    assert 20 <= len(parts) <= 60
    assert "gemma2:2b" in {m.model for m in (await official.list()).models}


async def test_chat_streams_and_answers_whole_with_the_same_text(official: ollama.AsyncClient) -> None:
    parts = [part async for part in await official.chat("llama3.2:1b", messages=HELLO, stream=True)]
    streamed = "".join(p.message.content or "" for p in parts)
    final = parts[-1]
    assert final.done and final.done_reason == "stop" and not any(p.done for p in parts[:-1])
    assert final.eval_count == 24 and final.prompt_eval_count and final.eval_duration
    whole = await official.chat("llama3.2:1b", messages=HELLO)
    assert whole.done and whole.message.role == "assistant"
    assert whole.message.content == streamed and streamed


async def test_generate_and_options_are_honoured(official: ollama.AsyncClient) -> None:
    reply = await official.generate("llama3.2:1b", "Describe the lab.", options={"num_predict": 6})
    assert reply.done_reason == "length" and reply.eval_count == 6 and reply.response
    assert reply.context  # deprecated, but still sent by /api/generate


async def test_show_gives_modelfile_model_info_and_capabilities(official: ollama.AsyncClient) -> None:
    shown = await official.show("llama3.2:1b")
    assert shown.modelinfo is not None and shown.modelinfo["llama.context_length"] == 131072
    assert shown.modelinfo["general.architecture"] == "llama"
    assert shown.capabilities == ["completion", "tools"]
    assert shown.modelfile and "FROM " in shown.modelfile and shown.template and shown.parameters
    assert shown.details is not None and shown.details.parameter_size == "1.2B"


async def test_load_ps_and_unload(official: ollama.AsyncClient) -> None:
    loaded = await official.generate("mistral:7b", "", keep_alive="10m")
    assert loaded.done and loaded.done_reason == "load"
    running = (await official.ps()).models
    assert [m.model for m in running] == ["mistral:7b"]
    assert running[0].size_vram and running[0].expires_at is not None and running[0].context_length == 4096
    unloaded = await official.generate("mistral:7b", "", keep_alive=0)
    assert unloaded.done_reason == "unload"
    assert (await official.ps()).models == []


async def test_copy_embed_and_delete(official: ollama.AsyncClient) -> None:
    assert (await official.copy("llama3.2:1b", "lab-backup")).status == "success"
    embedded = await official.embed("nomic-embed-text", input=["one", "two"])
    assert len(embedded.embeddings) == 2 and len(embedded.embeddings[0]) == 768
    assert (await official.delete("lab-backup")).status == "success"
    assert "lab-backup:latest" not in {m.model for m in (await official.list()).models}


async def test_missing_model_is_a_response_error_404(official: ollama.AsyncClient) -> None:
    with pytest.raises(ollama.ResponseError) as caught:
        await official.show("no-such-model:1b")
    assert caught.value.status_code == 404 and "not found" in caught.value.error
    with pytest.raises(ollama.ResponseError) as on_delete:
        await official.delete("no-such-model:1b")
    assert on_delete.value.status_code == 404


async def test_chat_with_a_missing_model_says_to_pull_it(official: ollama.AsyncClient) -> None:
    with pytest.raises(ollama.ResponseError) as caught:
        await official.chat("no-such-model:1b", messages=HELLO)
    assert caught.value.status_code == 404 and "try pulling it first" in caught.value.error


@pytest.mark.parametrize("status", [500, 503])
async def test_server_errors_arrive_as_response_errors_with_the_status(server: EmulatorServer, status: int) -> None:
    async with ollama.AsyncClient(host=server.url, headers={FAULT_HEADER: str(status)}) as failing:
        with pytest.raises(ollama.ResponseError) as on_list:
            await failing.list()
        with pytest.raises(ollama.ResponseError) as on_stream:
            _ = [part async for part in await failing.chat("llama3.2:1b", messages=HELLO, stream=True)]
    assert on_list.value.status_code == on_stream.value.status_code == status
    assert on_list.value.error and on_list.value.error != "{}"
