"""Chroma over its emulator and over replies recorded from Chroma 1.5.9 (../shared/fixtures/chroma_*): the tenant
and database options, a database that does not exist, the proof that a server is a Chroma, and the emulator
agreeing in shape with the recordings."""

from __future__ import annotations

from typing import Any

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
from providers.errors import NotFoundError
from providers.health_policy import probe_health
from tests.conftest import EmulatorFactory
from tests.hostile.hostile_server import HostileServer
from tests.providers.recorded import FIXTURES, fixture_head, fixture_json, same_shape, shape
from tests.waiting import HANG_S


def chroma(url: str, client: httpx.AsyncClient, **options: Any) -> Adapter:
    return build_adapter(AdapterOptions(name="vectors", base_url=url, kind="chroma", timeout_s=5.0, **options),
                         client)


async def test_recorded_chroma_is_up_with_its_collections_and_version(stock_chroma: HostileServer,
                                                                      client: httpx.AsyncClient) -> None:
    health = await probe_health(chroma(stock_chroma.url, client), HANG_S)
    assert (health.status, health.version, health.models_loaded) == ("up", "1.0.0", ("papers", "lab-notes"))
    labdb = chroma(stock_chroma.url, client, database="labdb")
    assert [m.name for m in await labdb.list_models()] == ["in-labdb"]
    assert not any(r.path.startswith("/api/v1") for r in stock_chroma.seen), "v1 is never asked of a v2 server"


async def test_the_configured_tenant_and_database_are_url_quoted(client: httpx.AsyncClient) -> None:
    paths: list[bytes] = []

    async def record(request: Request) -> Response:
        paths.append(request.scope["raw_path"])
        if request.url.path.endswith("/heartbeat"):
            return JSONResponse({"nanosecond heartbeat": 1})
        return JSONResponse("1.0.0" if request.url.path.endswith("/version") else [{"name": "c"}])

    app = Starlette(routes=[Route("/{path:path}", record)])
    with EmulatorServer(app=app, plan=FaultPlan()) as server:
        health = await probe_health(chroma(server.url, client, tenant="team a", database="rag/v2?x"), HANG_S)
    assert health.status == "up"
    assert b"/api/v2/tenants/team%20a/databases/rag%2Fv2%3Fx/collections" in paths


async def test_another_database_shows_only_its_collections(emulator: EmulatorFactory,
                                                           client: httpx.AsyncClient) -> None:
    url = emulator("chroma").url
    health = await probe_health(chroma(url, client, database="labdb"), HANG_S)
    assert (health.status, health.models_loaded, health.detail) == ("up", ("in-labdb",), "1 collection")


async def test_a_database_that_does_not_exist_is_one_clear_line(emulator: EmulatorFactory,
                                                                client: httpx.AsyncClient) -> None:
    url = emulator("chroma").url
    health = await probe_health(chroma(url, client, database="nope"), HANG_S)
    assert health.status == "down"
    assert health.detail == ("Chroma has no database 'nope' of tenant 'default_tenant': create it, or set "
                             "`database:` to one that exists")
    with pytest.raises(NotFoundError, match="no database 'nope'"):
        await chroma(url, client, database="nope").list_models()
    missing_tenant = await probe_health(chroma(url, client, tenant="acme"), HANG_S)
    assert missing_tenant.detail == "Chroma has no tenant 'acme': set `tenant:` to one that exists"


@pytest.mark.parametrize("beat", [{"nanosecond heartbeat": "soon"}, {"nanosecond heartbeat": True}, {"ok": 1}, []])
async def test_only_an_integer_nanosecond_heartbeat_proves_a_chroma(client: httpx.AsyncClient, beat: Any) -> None:
    async def answer(request: Request) -> Response:
        return JSONResponse(beat if request.url.path.endswith("/heartbeat") else [])

    with EmulatorServer(app=Starlette(routes=[Route("/{path:path}", answer)]), plan=FaultPlan()) as server:
        health = await probe_health(chroma(server.url, client), HANG_S)
    assert health.status == "down"


async def test_a_server_without_chroma_heartbeats_says_it_is_not_chroma(emulator: EmulatorFactory,
                                                                        client: httpx.AsyncClient) -> None:
    health = await probe_health(chroma(emulator("vllm").url, client), HANG_S)
    assert health.status == "down" and "not a Chroma server" in health.detail
    assert "/api/v2" in health.detail and "/api/v1" in health.detail


# --- the emulator agrees with the recordings ---------------------------------------------------------------------


async def test_the_emulator_answers_in_the_recorded_shapes(emulator: EmulatorFactory,
                                                           client: httpx.AsyncClient) -> None:
    url = emulator("chroma").url
    base = f"{url}/api/v2/tenants/default_tenant/databases"
    beat = (await client.get(f"{url}/api/v2/heartbeat")).json()
    assert shape(beat) == shape(fixture_json("chroma_v2_heartbeat"))
    assert (await client.get(f"{url}/api/v2/version")).json() == fixture_json("chroma_v2_version")
    listed = await client.get(f"{base}/default_database/collections")
    assert listed.headers["content-type"] == fixture_head("chroma_v2_collections")["content-type"]
    recorded_items = fixture_json("chroma_v2_collections") + fixture_json("chroma_v2_collections_other_database")
    for item in listed.json() + (await client.get(f"{base}/labdb/collections")).json():
        assert any(same_shape(shape(item), shape(real)) for real in recorded_items), item["name"]
    gone = await client.get(f"{url}/api/v1/collections")
    assert (gone.status_code, gone.content) == (410, (FIXTURES / "chroma_v1_collections_410.json").read_bytes())
    assert gone.headers["chroma-trace-id"] == fixture_head("chroma_v1_collections_410")["chroma-trace-id"]
    unknown = await client.get(f"{url}/health")
    assert (unknown.status_code, unknown.content) == (404, b"")
    assert (await client.get(f"{base}/nowhere/collections")).json() == [], "a missing database lists empty"
