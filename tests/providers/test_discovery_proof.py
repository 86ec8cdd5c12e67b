"""Discovery takes a server for a kind only on proof: stock servers' recorded replies (../shared/fixtures),
replayed byte for byte over loopback, and emulators. A 404 or an unrelated body is never "that kind, degraded",
and which kind wins a shared port does not depend on the order of the candidates or of the replies."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from providers.discovery import discover
from tests.conftest import EmulatorFactory
from tests.hostile.hostile_server import HostileServer, canned, hostile_server, http_reply

FIXTURES = Path(__file__).resolve().parents[2].parent / "shared" / "fixtures"
TIMEOUT_S = 10.0
"""Bounds a hang only: every server here answers at once."""


def _recorded(name: str, *, status: int = 200) -> bytes:
    return http_reply((FIXTURES / name).read_bytes(), status=status)


@pytest.fixture
def stock_llama_server() -> Iterator[HostileServer]:
    routes = {name: canned(_recorded(f"llamacpp_{file}.json"))
              for name, file in (("/v1/models", "v1_models"), ("/health", "health"), ("/props", "props"),
                                 ("/slots", "slots"))}
    with hostile_server(routes) as server:
        yield server


@pytest.mark.parametrize("order", [("vllm", "chroma"), ("chroma", "vllm")])
async def test_a_stock_chroma_on_vllms_port_is_a_chroma_whatever_the_order(
        stock_chroma: HostileServer, order: tuple[str, str]) -> None:
    found = await discover([(kind, stock_chroma.url) for kind in order], timeout_s=TIMEOUT_S)
    assert [(f.provider.kind, f.health.status) for f in found] == [("chroma", "up")]
    assert "nanosecond heartbeat" in found[0].proof
    assert sorted(found[0].health.models_loaded) == ["lab-notes", "papers"]


async def test_a_404_with_an_empty_body_proves_no_kind(stock_chroma: HostileServer) -> None:
    kinds = ["vllm", "llamacpp", "localai", "lmstudio", "textgen", "litellm", "tgi", "openwebui", "ollama", "n8n"]
    assert await discover([(kind, stock_chroma.url) for kind in kinds], timeout_s=TIMEOUT_S) == []


async def test_a_server_answering_anything_with_an_empty_object_proves_no_kind() -> None:
    with hostile_server({}, default=canned(http_reply(b"{}"))) as server:
        kinds = ["vllm", "llamacpp", "localai", "chroma", "qdrant", "milvus", "n8n", "a1111", "comfyui", "tgi"]
        assert await discover([(kind, server.url) for kind in kinds], timeout_s=TIMEOUT_S) == []


@pytest.mark.parametrize("order", [("localai", "llamacpp"), ("llamacpp", "localai")])
async def test_a_stock_llama_server_beats_a_generic_openai_list(
        stock_llama_server: HostileServer, order: tuple[str, str]) -> None:
    found = await discover([(kind, stock_llama_server.url) for kind in order], timeout_s=TIMEOUT_S)
    assert [f.provider.kind for f in found] == ["llamacpp"]
    assert found[0].health.status == "up"


async def test_llama_cpp_python_is_told_from_a_generic_openai_server() -> None:
    routes = {"/v1/models": canned(_recorded("llamacpp_python_v1_models.json"))}
    with hostile_server(routes) as server:
        found = await discover([("localai", server.url), ("llamacpp", server.url), ("vllm", server.url)],
                               timeout_s=TIMEOUT_S)
    assert [f.provider.kind for f in found] == ["llamacpp"]
    assert "llama-cpp-python" in found[0].proof


async def test_a_stock_litellm_proxy_is_a_litellm_not_a_vllm() -> None:
    routes = {"/v1/models": canned(_recorded("litellm_v1_models.json")),
              "/health/readiness": canned(_recorded("litellm_health_readiness.json")),
              "/health/liveliness": canned(http_reply(b'"I\'m alive!"'))}
    with hostile_server(routes) as server:
        found = await discover([("vllm", server.url), ("litellm", server.url)], timeout_s=TIMEOUT_S)
    assert [f.provider.kind for f in found] == ["litellm"]


async def test_a_vllm_is_never_a_chroma_and_a_generic_list_is_the_weakest_proof(emulator: EmulatorFactory) -> None:
    vllm = emulator("vllm")
    openai = emulator("openai")
    found = await discover([("chroma", vllm.url), ("localai", vllm.url), ("vllm", vllm.url),
                            ("vllm", openai.url), ("localai", openai.url)], timeout_s=TIMEOUT_S)
    assert [(f.provider.kind, f.provider.base_url) for f in found] == [("vllm", vllm.url), ("localai", openai.url)]
    assert "owned_by vllm" in found[0].proof
