"""Chroma, Qdrant, Milvus and n8n over their emulators: health with what they serve, catalogs, keys, faults, and
no mistaking another server on the same port for one of them."""

from __future__ import annotations

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from providers.adapters import build_adapter, n8n
from providers.base import Adapter, AdapterOptions
from providers.emulators.faults import FaultPlan
from providers.emulators.server import EmulatorServer
from providers.emulators.services import ARCHIVED_WORKFLOWS, COLLECTIONS, WORKFLOWS, build
from providers.emulators.text import Pace
from providers.errors import AuthFailedError, ProtocolError
from providers.health_policy import probe_health
from tests.conftest import EmulatorFactory
from tests.waiting import HANG_S

VECTOR_KINDS = ("chroma", "qdrant", "milvus")


def adapter(kind: str, url: str, client: httpx.AsyncClient, *, key: str | None = None) -> Adapter:
    options = AdapterOptions(name=f"my-{kind}", base_url=url, kind=kind, timeout_s=2.0,
                             api_key=(lambda: key) if key else None)
    return build_adapter(options, client)


@pytest.mark.parametrize("kind", VECTOR_KINDS)
async def test_a_vector_store_is_up_serving_its_collections(emulator: EmulatorFactory, client: httpx.AsyncClient,
                                                            kind: str) -> None:
    store = adapter(kind, emulator(kind).url, client)
    health = await probe_health(store, HANG_S)
    assert health.status == "up" and health.latency_ms is not None and health.latency_ms > 0
    assert health.models_loaded == COLLECTIONS and health.detail == f"{len(COLLECTIONS)} collections"
    catalog = await store.list_models()
    assert [(m.name, m.kind, m.provider) for m in catalog] == [
        (name, "collection", f"my-{kind}") for name in COLLECTIONS]
    assert not store.capabilities.chat and not store.capabilities.delete


async def test_versions_where_the_server_tells_them(emulator: EmulatorFactory, client: httpx.AsyncClient) -> None:
    chroma = await probe_health(adapter("chroma", emulator("chroma").url, client), HANG_S)
    assert chroma.version == "1.0.0"  # as 1.5.9 says
    assert (await probe_health(adapter("qdrant", emulator("qdrant").url, client), HANG_S)).version == "1.15.1"


async def test_a_chroma_before_0_5_16_without_v2_is_read_over_v1(client: httpx.AsyncClient) -> None:
    plan = FaultPlan()
    with EmulatorServer(app=build(plan=plan, pace=Pace(), seed=0, flavour="chroma-v1"), plan=plan) as server:
        old = adapter("chroma", server.url, client)
        health = await probe_health(old, HANG_S)
        assert (health.status, health.version) == ("up", "0.5.15")
        assert [m.name for m in await old.list_models()] == list(COLLECTIONS)
        other = build_adapter(AdapterOptions(name="old", base_url=server.url, kind="chroma", database="labdb"),
                              client)
        assert [m.name for m in await other.list_models()] == ["in-labdb"]  # v1 takes the database as a query


@pytest.mark.parametrize("kind", [*VECTOR_KINDS, "n8n"])
@pytest.mark.parametrize(("fault", "status"), [
    ("refuse", "down"), ("401", "unauthorized"), ("500", "degraded"), ("503", "degraded"), ("malformed", "down"),
    ("cut", "down"),
])
async def test_faults_become_a_status_never_an_exception(emulator: EmulatorFactory, client: httpx.AsyncClient,
                                                         kind: str, fault: str, status: str) -> None:
    health = await probe_health(adapter(kind, emulator(kind, faults=fault).url, client), HANG_S)
    assert health.status == status
    assert health.detail


async def test_milvus_says_auth_failures_in_a_200_body(emulator: EmulatorFactory, client: httpx.AsyncClient) -> None:
    store = adapter("milvus", emulator("milvus", faults="401").url, client, key="root:wrong")
    with pytest.raises(AuthFailedError, match="authenticated"):
        await store.list_models()
    assert "wrong" not in (await probe_health(store, HANG_S)).detail


async def test_keys_travel_in_each_services_own_header(client: httpx.AsyncClient) -> None:
    seen: list[httpx.Headers] = []

    async def record(request: Request) -> Response:
        seen.append(httpx.Headers(request.headers.raw))
        return JSONResponse({"code": 0, "data": []} if request.method == "POST" else {"status": "ok"})

    app = Starlette(routes=[Route("/{path:path}", record, methods=["GET", "POST"])])
    with EmulatorServer(app=app, plan=FaultPlan()) as server:
        for kind in ("chroma", "qdrant", "milvus", "n8n"):
            await probe_health(adapter(kind, server.url, client, key="s3cret"), HANG_S)
    by_header = [(h.get("x-chroma-token"), h.get("api-key"), h.get("authorization"), h.get("x-n8n-api-key"))
                 for h in seen]
    assert ("s3cret", None, "Bearer s3cret", None) in by_header  # chroma
    assert (None, "s3cret", None, None) in by_header  # qdrant
    assert (None, None, "Bearer s3cret", None) in by_header  # milvus
    assert (None, None, None, "s3cret") in by_header  # n8n


async def test_n8n_is_up_and_lists_every_workflow_across_pages_with_a_key(
        emulator: EmulatorFactory, client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch) -> None:
    server = emulator("n8n")
    health = await probe_health(adapter("n8n", server.url, client), HANG_S)
    assert (health.status, health.detail) == ("up", "no API key: workflows not listed")
    assert await adapter("n8n", server.url, client).list_models() == [], "no key: no catalog, and no error"
    monkeypatch.setattr(n8n, "N8N_PAGE", 3)  # pages of 3: the 7 workflows and the archived one take three
    workflows = await adapter("n8n", server.url, client, key="n8n-key").list_models()
    assert [(w.name, w.kind, w.loaded) for w in workflows] == [  # loaded means active; archived ones are left out
        (name, "workflow", index % 2 == 0) for index, name in enumerate(WORKFLOWS)]
    assert ARCHIVED_WORKFLOWS[0] not in [w.name for w in workflows]


# --- keys: a service that takes one shows a refused key in its health --------------------------------------------

KEYED = [("n8n", ""), ("qdrant", ""), ("milvus", ""), ("civitai", "/api"), ("dropbox", "")]


@pytest.mark.parametrize(("kind", "suffix"), KEYED)
async def test_a_revoked_key_is_unauthorized_and_a_good_one_up(emulator: EmulatorFactory,
                                                               client: httpx.AsyncClient, kind: str,
                                                               suffix: str) -> None:
    url = emulator(kind).url + suffix
    good = await probe_health(adapter(kind, url, client, key="lab-key-1234"), HANG_S)
    assert good.status == "up", good.detail
    refused = await probe_health(adapter(kind, url, client, key="revoked-lab-key-1234"), HANG_S)
    assert refused.status == "unauthorized", refused.detail
    assert refused.detail and "revoked-lab-key-1234" not in refused.detail


async def test_n8n_health_reads_the_key_through_the_public_api(emulator: EmulatorFactory,
                                                               client: httpx.AsyncClient) -> None:
    server = emulator("n8n")
    good = await probe_health(adapter("n8n", server.url, client, key="n8n-key"), HANG_S)
    assert (good.status, good.detail) == ("up", "API key accepted")
    refused = await probe_health(adapter("n8n", server.url, client, key="revoked-n8n-key"), HANG_S)
    assert (refused.status, refused.detail) == ("unauthorized", "API key refused: HTTP 401: unauthorized")


async def test_n8n_whose_public_api_fails_is_degraded_not_down(client: httpx.AsyncClient) -> None:
    async def ok(_: Request) -> Response:
        return JSONResponse({"status": "ok"})

    app = Starlette(routes=[Route("/healthz", ok), Route("/healthz/readiness", ok)])  # no /api/v1: disabled
    with EmulatorServer(app=app, plan=FaultPlan()) as server:
        health = await probe_health(adapter("n8n", server.url, client, key="n8n-key"), HANG_S)
    assert health.status == "degraded" and health.detail.startswith("public API: HTTP 404")


async def test_civitai_with_a_key_names_the_account_and_without_one_searches(emulator: EmulatorFactory,
                                                                             client: httpx.AsyncClient) -> None:
    hub = f"{emulator('civitai').url}/api"
    keyed = await probe_health(adapter("civitai", hub, client, key="civitai-key"), HANG_S)
    assert keyed.detail == "key accepted: lab-user"
    assert (await probe_health(adapter("civitai", hub, client), HANG_S)).detail == "model search answers"


async def test_dropbox_without_a_token_is_unauthorized_without_asking(emulator: EmulatorFactory,
                                                                       client: httpx.AsyncClient) -> None:
    health = await probe_health(adapter("dropbox", emulator("dropbox").url, client), HANG_S)
    assert (health.status, health.detail) == ("unauthorized", "no access token configured: Dropbox needs one")


async def test_n8n_whose_database_is_not_ready_is_degraded(client: httpx.AsyncClient) -> None:
    async def alive(_: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def not_ready(_: Request) -> Response:
        return JSONResponse({"status": "error"}, status_code=503)

    app = Starlette(routes=[Route("/healthz", alive), Route("/healthz/readiness", not_ready)])
    with EmulatorServer(app=app, plan=FaultPlan()) as server:
        health = await probe_health(adapter("n8n", server.url, client), HANG_S)
    assert health.status == "degraded" and "not ready" in health.detail


@pytest.mark.parametrize("kind", [*VECTOR_KINDS, "n8n"])
async def test_another_server_on_the_same_port_is_not_taken_for_the_service(emulator: EmulatorFactory,
                                                                           client: httpx.AsyncClient,
                                                                           kind: str) -> None:
    vllm = emulator("vllm")  # answers 404 to these paths, or JSON of another shape
    assert (await probe_health(adapter(kind, vllm.url, client), HANG_S)).status == "down"


async def test_a_catch_all_web_page_is_not_a_service(client: httpx.AsyncClient) -> None:
    async def page(_: Request) -> Response:
        return JSONResponse({"ok": True, "title": "a web app"})

    app = Starlette(routes=[Route("/{path:path}", page, methods=["GET", "POST"])])
    with EmulatorServer(app=app, plan=FaultPlan()) as server:
        for kind in (*VECTOR_KINDS, "n8n"):
            health = await probe_health(adapter(kind, server.url, client), HANG_S)
            assert health.status == "down", kind
        with pytest.raises(ProtocolError):
            await adapter("milvus", server.url, client).list_models()


# --- hosted services (Reticulum: test_reticulum_rnsd.py, against a real rnsd) ----------------------------------


async def test_civitai_answers_its_search_and_maps_faults(emulator: EmulatorFactory,
                                                          client: httpx.AsyncClient) -> None:
    hub = emulator("civitai")
    for base in (f"{hub.url}/api", f"{hub.url}/api/v1"):  # either way of writing the base_url
        options = AdapterOptions(name="civitai", base_url=base.removesuffix("/v1"), kind="civitai", timeout_s=2.0)
        health = await probe_health(build_adapter(options, client), HANG_S)
        assert (health.status, health.detail) == ("up", "model search answers")
    refused = AdapterOptions(name="civitai", base_url=f"{emulator('civitai', faults='401').url}/api", kind="civitai")
    assert (await probe_health(build_adapter(refused, client), HANG_S)).status == "unauthorized"
    assert await build_adapter(options, client).list_models() == []


async def test_dropbox_reports_space_used_sending_a_null_body(emulator: EmulatorFactory,
                                                              client: httpx.AsyncClient) -> None:
    health = await probe_health(adapter("dropbox", emulator("dropbox").url, client, key="sl.token"), HANG_S)
    assert health.status == "up" and health.detail == "2.1 GiB of 2.0 TiB used"
    old_token = adapter("dropbox", emulator("dropbox", faults="401").url, client, key="sl.old")
    expired = await probe_health(old_token, HANG_S)
    assert expired.status == "unauthorized" and "sl.old" not in expired.detail

