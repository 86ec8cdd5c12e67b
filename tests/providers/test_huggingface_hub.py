"""HubClient against the Hub routes of the TGI emulator over loopback: search paging by Link, file listing."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from providers.adapters.hf_hub import HubClient, HubFile
from providers.emulators.faults import FaultPlan
from providers.emulators.server import EmulatorServer
from providers.emulators.tgi import HUB_REPOS, TREE_PAGE_SIZE
from providers.errors import AuthFailedError, BadRequestError, ProtocolError, RateLimitedError

GGUF_BY_DOWNLOADS = [repo for repo, _, _, _, gguf in sorted(HUB_REPOS, key=lambda r: -r[1]) if gguf]


async def test_search_follows_link_pages_in_download_order(emulator, client) -> None:
    seen: list[httpx.URL] = []

    async def record(request: httpx.Request) -> None:
        seen.append(request.url)

    client.event_hooks["request"].append(record)
    hub = HubClient(client, base_url=emulator("tgi").url)
    models = await hub.search(limit=3)
    assert [m.id for m in models] == GGUF_BY_DOWNLOADS
    assert len(seen) == 3 and "cursor" in seen[1].params  # 7 GGUF repos, 3 a page
    assert all("gguf" in m.tags for m in models)
    assert models[0].downloads > models[1].downloads > 0 and models[0].likes > 0


async def test_search_pages_one_at_a_time_and_stops_on_the_last(emulator, client) -> None:
    hub = HubClient(client, base_url=emulator("tgi").url)
    first = await hub.search_page("instruct", limit=2)
    assert first.next_url is not None and len(first.models) == 2
    second = await hub.next_page(first)
    assert second is not None and {m.id for m in second.models}.isdisjoint({m.id for m in first.models})
    pages = [first, second]
    while (following := await hub.next_page(pages[-1])) is not None:
        pages.append(following)
        assert len(pages) < 10
    ids = [m.id for page in pages for m in page.models]
    assert ids == [r for r in GGUF_BY_DOWNLOADS if "instruct" in r.lower()]


async def test_search_without_the_gguf_filter_includes_other_repositories(emulator, client) -> None:
    hub = HubClient(client, base_url=emulator("tgi").url)
    models = await hub.search("llama", filter_tag=None, limit=50, max_results=2)
    assert [m.id for m in models] == ["meta-llama/Llama-3.2-3B-Instruct", "TinyLlama/TinyLlama-1.1B-Chat-v1.0"]
    assert models[0].gated and models[0].library == "transformers"


async def test_file_listing_spans_pages_and_reports_lfs_sizes(emulator, client) -> None:
    hub = HubClient(client, base_url=emulator("tgi").url)
    files = await hub.list_files("TheBloke/Mistral-7B-Instruct-v0.2-GGUF")
    assert len(files) > TREE_PAGE_SIZE  # only reachable by following the Link header
    assert files[0].path == ".gitattributes" and files[0].lfs_sha256 is None
    q4 = next(f for f in files if f.quantization == "Q4_K_M")
    assert q4.path == "mistral-7b-instruct-v0.2.Q4_K_M.gguf"
    assert q4.size == int(7.2e9 * 4.85 / 8) and q4.lfs_sha256 is not None and len(q4.lfs_sha256) == 64


async def test_with_gguf_files_keeps_only_gguf_weights(emulator, client) -> None:
    hub = HubClient(client, base_url=emulator("tgi").url)
    [top] = await hub.search("Qwen", max_results=1)
    model = await hub.with_gguf_files(top)
    assert model.id == "Qwen/Qwen2.5-7B-Instruct-GGUF"
    assert model.gguf_files and all(f.is_gguf and f.size for f in model.gguf_files)
    sizes = [f.size or 0 for f in model.gguf_files]
    assert sizes == sorted(sizes)  # Q2_K … F16


@pytest.mark.parametrize(("name", "quant"), [
    ("Llama-3.2-3B-Instruct-Q4_K_M.gguf", "Q4_K_M"),
    ("mistral-7b-instruct-v0.2.Q5_K_M.gguf", "Q5_K_M"),
    ("sub/dir/phi-3.5-q8_0.gguf", "Q8_0"),
    ("gemma-3-4b-it-IQ3_XS.gguf", "IQ3_XS"),
    ("Meta-Llama-3.1-8B-Instruct-F16.gguf", "F16"),
    ("Qwen2.5-7B-Instruct-Q6_K-00001-of-00002.gguf", "Q6_K"),
    ("Qwen2.5-7B-Instruct.gguf", None),
])
def test_quantization_is_read_from_gguf_file_names(name: str, quant: str | None) -> None:
    assert HubFile(name).quantization == quant


async def test_hub_errors_map_to_the_taxonomy(emulator, client) -> None:
    server = emulator("tgi")
    hub = HubClient(client, base_url=server.url)
    with pytest.raises(BadRequestError):
        await hub.list_files("nobody/missing-repo")
    for bad in ("../../etc/passwd", "org/../other", "org/name/extra"):
        with pytest.raises(BadRequestError):
            await hub.list_files(bad)
    server.set_faults("401")
    with pytest.raises(AuthFailedError):
        await hub.search_page("llama")
    server.set_faults("429:3")
    with pytest.raises(RateLimitedError) as caught:
        await hub.search_page("llama")
    assert caught.value.retry_after == pytest.approx(3)


async def test_token_is_sent_as_bearer(emulator, client) -> None:
    sent: list[str | None] = []

    async def record(request: httpx.Request) -> None:
        sent.append(request.headers.get("authorization"))

    client.event_hooks["request"].append(record)
    hub = HubClient(client, base_url=emulator("tgi").url, token=lambda: "hf_testtoken12345")
    await hub.search(limit=3)
    assert sent == ["Bearer hf_testtoken12345"] * 3


@pytest.fixture
def foreign_link_server() -> Iterator[EmulatorServer]:
    async def models(request: Request) -> JSONResponse:
        return JSONResponse([{"id": "a/b-GGUF"}], headers={"link": '<http://hub.invalid/api/models?c=1>; rel="next"'})

    server = EmulatorServer(app=Starlette(routes=[Route("/api/models", models)]), plan=FaultPlan()).start()
    yield server
    server.stop()


async def test_next_link_to_another_host_is_refused_so_the_token_stays_home(foreign_link_server, client) -> None:
    hub = HubClient(client, base_url=foreign_link_server.url, token=lambda: "hf_testtoken12345")
    with pytest.raises(ProtocolError, match="leaves"):
        await hub.search_page()
