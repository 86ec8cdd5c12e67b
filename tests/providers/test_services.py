"""Chroma, Qdrant, Milvus and n8n over their emulators: health with what they serve, catalogs, keys, faults, and
no mistaking another server on the same port for one of them."""

from __future__ import annotations

import os
import sys
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from providers.adapters import build_adapter
from providers.base import Adapter, AdapterOptions
from providers.emulators.faults import FaultPlan
from providers.emulators.server import EmulatorServer
from providers.emulators.services import COLLECTIONS, WORKFLOWS, build
from providers.emulators.text import Pace
from providers.errors import AuthFailedError, ProtocolError
from providers.http import make_client
from tests.conftest import EmulatorFactory
from tests.waiting import bounded

VECTOR_KINDS = ("chroma", "qdrant", "milvus")


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    async with make_client() as shared:
        yield shared


def adapter(kind: str, url: str, client: httpx.AsyncClient, *, key: str | None = None) -> Adapter:
    options = AdapterOptions(name=f"my-{kind}", base_url=url, kind=kind, timeout_s=2.0,
                             api_key=(lambda: key) if key else None)
    return build_adapter(options, client)


@pytest.mark.parametrize("kind", VECTOR_KINDS)
async def test_a_vector_store_is_up_serving_its_collections(emulator: EmulatorFactory, client: httpx.AsyncClient,
                                                            kind: str) -> None:
    store = adapter(kind, emulator(kind).url, client)
    health = await store.health()
    assert health.status == "up" and health.latency_ms is not None and health.latency_ms > 0
    assert health.models_loaded == COLLECTIONS and health.detail == f"{len(COLLECTIONS)} collections"
    catalog = await store.list_models()
    assert [(m.name, m.kind, m.provider) for m in catalog] == [
        (name, "collection", f"my-{kind}") for name in COLLECTIONS]
    assert not store.capabilities.chat and not store.capabilities.delete


async def test_versions_where_the_server_tells_them(emulator: EmulatorFactory, client: httpx.AsyncClient) -> None:
    assert (await adapter("chroma", emulator("chroma").url, client).health()).version == "1.0.15"
    assert (await adapter("qdrant", emulator("qdrant").url, client).health()).version == "1.15.1"


async def test_an_old_chroma_without_v2_is_read_over_v1(client: httpx.AsyncClient) -> None:
    plan = FaultPlan()
    with EmulatorServer(app=build(plan=plan, pace=Pace(), seed=0, flavour="chroma-v1"), plan=plan) as server:
        old = adapter("chroma", server.url, client)
        health = await old.health()
        assert (health.status, health.version) == ("up", "0.5.23")
        assert [m.name for m in await old.list_models()] == list(COLLECTIONS)


@pytest.mark.parametrize("kind", [*VECTOR_KINDS, "n8n"])
@pytest.mark.parametrize(("fault", "status"), [
    ("refuse", "down"), ("401", "unauthorized"), ("500", "down"), ("503", "down"), ("malformed", "down"),
    ("cut", "down"),
])
async def test_faults_become_a_status_never_an_exception(emulator: EmulatorFactory, client: httpx.AsyncClient,
                                                         kind: str, fault: str, status: str) -> None:
    health = await adapter(kind, emulator(kind, faults=fault).url, client).health()
    assert health.status == status
    assert health.detail


async def test_milvus_says_auth_failures_in_a_200_body(emulator: EmulatorFactory, client: httpx.AsyncClient) -> None:
    store = adapter("milvus", emulator("milvus", faults="401").url, client, key="root:wrong")
    with pytest.raises(AuthFailedError, match="authenticated"):
        await store.list_models()
    assert "wrong" not in (await store.health()).detail


async def test_keys_travel_in_each_services_own_header(client: httpx.AsyncClient) -> None:
    seen: list[httpx.Headers] = []

    async def record(request: Request) -> Response:
        seen.append(httpx.Headers(request.headers.raw))
        return JSONResponse({"code": 0, "data": []} if request.method == "POST" else {"status": "ok"})

    app = Starlette(routes=[Route("/{path:path}", record, methods=["GET", "POST"])])
    with EmulatorServer(app=app, plan=FaultPlan()) as server:
        for kind in ("chroma", "qdrant", "milvus", "n8n"):
            await adapter(kind, server.url, client, key="s3cret").health()
    by_header = [(h.get("x-chroma-token"), h.get("api-key"), h.get("authorization"), h.get("x-n8n-api-key"))
                 for h in seen]
    assert ("s3cret", None, "Bearer s3cret", None) in by_header  # chroma
    assert (None, "s3cret", None, None) in by_header  # qdrant
    assert (None, None, "Bearer s3cret", None) in by_header  # milvus
    assert (None, None, None, "s3cret") in by_header  # n8n


async def test_n8n_is_up_and_lists_every_workflow_across_pages_with_a_key(emulator: EmulatorFactory,
                                                                          client: httpx.AsyncClient) -> None:
    server = emulator("n8n")
    health = await adapter("n8n", server.url, client).health()
    assert health.status == "up"
    assert await adapter("n8n", server.url, client).list_models() == [], "no key: no catalog, and no error"
    workflows = await adapter("n8n", server.url, client, key="n8n-key").list_models()
    assert [(w.name, w.kind, w.loaded) for w in workflows] == [  # three pages; loaded means active
        (name, "workflow", index % 2 == 0) for index, name in enumerate(WORKFLOWS)]


async def test_n8n_whose_database_is_not_ready_is_degraded(client: httpx.AsyncClient) -> None:
    async def alive(_: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def not_ready(_: Request) -> Response:
        return JSONResponse({"status": "error"}, status_code=503)

    app = Starlette(routes=[Route("/healthz", alive), Route("/healthz/readiness", not_ready)])
    with EmulatorServer(app=app, plan=FaultPlan()) as server:
        health = await adapter("n8n", server.url, client).health()
    assert health.status == "degraded" and "not ready" in health.detail


@pytest.mark.parametrize("kind", [*VECTOR_KINDS, "n8n"])
async def test_another_server_on_the_same_port_is_not_taken_for_the_service(emulator: EmulatorFactory,
                                                                           client: httpx.AsyncClient,
                                                                           kind: str) -> None:
    vllm = emulator("vllm")  # answers 404 to these paths, or JSON of another shape
    assert (await adapter(kind, vllm.url, client).health()).status == "down"


async def test_a_catch_all_web_page_is_not_a_service(client: httpx.AsyncClient) -> None:
    async def page(_: Request) -> Response:
        return JSONResponse({"ok": True, "title": "a web app"})

    app = Starlette(routes=[Route("/{path:path}", page, methods=["GET", "POST"])])
    with EmulatorServer(app=app, plan=FaultPlan()) as server:
        for kind in (*VECTOR_KINDS, "n8n"):
            health = await adapter(kind, server.url, client).health()
            assert health.status == "down", kind
        with pytest.raises(ProtocolError):
            await adapter("milvus", server.url, client).list_models()


# --- hosted services and Reticulum ------------------------------------------------------------------------------


async def test_civitai_answers_its_search_and_maps_faults(emulator: EmulatorFactory,
                                                          client: httpx.AsyncClient) -> None:
    hub = emulator("civitai")
    for base in (f"{hub.url}/api", f"{hub.url}/api/v1"):  # either way of writing the base_url
        options = AdapterOptions(name="civitai", base_url=base.removesuffix("/v1"), kind="civitai", timeout_s=2.0)
        health = await build_adapter(options, client).health()
        assert (health.status, health.detail) == ("up", "model search answers")
    refused = AdapterOptions(name="civitai", base_url=f"{emulator('civitai', faults='401').url}/api", kind="civitai")
    assert (await build_adapter(refused, client).health()).status == "unauthorized"
    assert await build_adapter(options, client).list_models() == []


async def test_dropbox_reports_space_used_sending_a_null_body(emulator: EmulatorFactory,
                                                              client: httpx.AsyncClient) -> None:
    health = await adapter("dropbox", emulator("dropbox").url, client, key="sl.token").health()
    assert health.status == "up" and health.detail == "2.1 GiB of 2.0 TiB used"
    expired = await adapter("dropbox", emulator("dropbox", faults="401").url, client, key="sl.old").health()
    assert expired.status == "unauthorized" and "sl.old" not in expired.detail


RNSTATUS_SCRIPT = """\
import json, os, sys, time
mode = os.environ["RNSTATUS_MODE"]
assert sys.argv[1:] == ["-j"], sys.argv
interfaces = [
    {"name": "Shared Instance[37428]", "short_name": "Shared Instance", "status": True},
    {"name": "TCPInterface[Testnet/dublin.connect.reticulum.network:4965]", "short_name": "Testnet", "status": True},
    {"name": "RNodeInterface[LoRa 868]", "short_name": "LoRa 868", "status": mode != "one-down"},
]
if mode == "no-daemon":
    print("No shared RNS instance available to get status from")
    sys.exit(1)
if mode == "failed":
    print("Could not get RNS status", file=sys.stderr)
    sys.exit(2)
if mode == "garbage":
    print("Shared Instance[37428]  Status: Up")
    sys.exit(0)
if mode == "hang":
    time.sleep(600)
print(json.dumps({"interfaces": interfaces, "rxb": 1, "txb": 2, "transport_id": "ab12", "transport_uptime": 10920}))
"""


@pytest.fixture
def rnstatus(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Callable[[str], None]:
    """A real `rnstatus` executable on PATH that answers as RNS 1.4 does, in the mode a test picks."""
    script = tmp_path / "rnstatus"
    script.write_text(f"#!{sys.executable}\n{RNSTATUS_SCRIPT}", encoding="utf-8")
    script.chmod(0o755)
    monkeypatch.setenv("PATH", f"{tmp_path}{os.pathsep}{os.environ.get('PATH', '')}")
    return lambda mode: monkeypatch.setenv("RNSTATUS_MODE", mode)


def reticulum(client: httpx.AsyncClient, timeout_s: float = 10.0) -> Adapter:
    return build_adapter(AdapterOptions(name="mesh", base_url="", kind="reticulum", timeout_s=timeout_s), client)


@pytest.mark.parametrize(("mode", "status", "detail"), [
    ("all-up", "up", "3/3 interfaces up · transport up 3h02m"),
    ("one-down", "degraded", "2/3 interfaces up · transport up 3h02m"),
    ("no-daemon", "down", "no shared RNS instance: is rnsd running?"),
    ("failed", "down", "rnstatus could not get the RNS status (Could not get RNS status)"),
    ("garbage", "down", "rnstatus -j printed no JSON"),
])
async def test_reticulum_health_comes_from_rnstatus_json(rnstatus: Callable[[str], None], client: httpx.AsyncClient,
                                                         mode: str, status: str, detail: str) -> None:
    rnstatus(mode)
    health = await reticulum(client).health()
    assert health.status == status
    assert health.detail.startswith(detail)
    if status != "down":
        assert "Testnet" in health.models_loaded and health.latency_ms is not None


async def test_a_hung_rnstatus_is_killed_at_the_timeout(rnstatus: Callable[[str], None],
                                                        client: httpx.AsyncClient) -> None:
    rnstatus("hang")
    # the 600 s sleeper is killed at the timeout, not waited for
    health = await bounded(reticulum(client, timeout_s=0.5).health(), what="the probe's timeout")
    assert health.status == "down" and "no answer within 0.5s" in health.detail


async def test_no_rnstatus_on_path_says_how_to_get_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                      client: httpx.AsyncClient) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    health = await reticulum(client).health()
    assert health.status == "down" and "install Reticulum" in health.detail
