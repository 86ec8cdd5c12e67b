"""n8n over replies recorded from n8n 2.8.4 (../shared/fixtures/n8n_*), replayed byte for byte: health reads the
key through the public API and shows a revoked one as unauthorized, the catalog follows the recorded cursors and
leaves archived workflows out; and the emulator answers in the recorded shapes."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest

from providers.adapters import build_adapter, n8n
from providers.base import Adapter, AdapterOptions
from providers.errors import AuthFailedError
from providers.health_policy import probe_health
from tests.conftest import EmulatorFactory
from tests.hostile.hostile_server import HostileServer, Request, canned, hostile_server
from tests.providers.recorded import FIXTURES, fixture_head, fixture_json, recorded, shape
from tests.waiting import HANG_S

GOOD_KEY = "n8n_api_0123456789abcdef"
REVOKED_KEY = "revoked-n8n_api_0123456789abcdef"
"""The replay answers this key as n8n 2.8.4 answered a key it issued and then deleted."""
RECORDED_CURSOR = fixture_json("n8n_workflows_page_limit2")["nextCursor"]
EXPRESS_JSON = fixture_head("n8n_workflows_page")["content-type"]


def workflows_reply(request: Request) -> bytes:
    """What n8n 2.8.4 answered GET /api/v1/workflows with this request's key and query."""
    key = request.headers.get("x-n8n-api-key")
    if not key:
        return recorded("n8n_workflows_401")
    if key != GOOD_KEY:
        return recorded("n8n_workflows_401_badkey")
    query = httpx.URL(request.path).params
    if query.get("cursor") == RECORDED_CURSOR:
        return recorded("n8n_workflows_page_limit2_next", content_type=EXPRESS_JSON)
    if query.get("limit") == "2":
        return recorded("n8n_workflows_page_limit2", content_type=EXPRESS_JSON)
    return recorded("n8n_workflows_page")


@pytest.fixture
def stock_n8n() -> Iterator[HostileServer]:
    async def workflows(request: Request) -> AsyncIterator[bytes]:
        yield workflows_reply(request)

    routes = {"/healthz": canned(recorded("n8n_healthz", content_type=EXPRESS_JSON)),
              "/healthz/readiness": canned(recorded("n8n_readiness", content_type=EXPRESS_JSON)),
              "/api/v1/workflows": workflows}
    with hostile_server(routes) as server:
        yield server


def n8n_at(url: str, client: httpx.AsyncClient, key: str | None) -> Adapter:
    return build_adapter(AdapterOptions(name="flows", base_url=url, kind="n8n", timeout_s=5.0,
                                        api_key=(lambda: key) if key else None), client)


async def test_a_revoked_key_is_unauthorized_in_health(stock_n8n: HostileServer, client: httpx.AsyncClient) -> None:
    health = await probe_health(n8n_at(stock_n8n.url, client, REVOKED_KEY), HANG_S)
    assert (health.status, health.detail) == ("unauthorized", "API key refused: HTTP 401: unauthorized")
    assert REVOKED_KEY not in health.detail


async def test_a_good_key_is_up_and_proven_by_one_workflow(stock_n8n: HostileServer,
                                                           client: httpx.AsyncClient) -> None:
    health = await probe_health(n8n_at(stock_n8n.url, client, GOOD_KEY), HANG_S)
    assert (health.status, health.detail) == ("up", "API key accepted")
    asked = [r for r in stock_n8n.seen if r.path.startswith("/api/v1/workflows")]
    assert [(r.path, r.headers.get("x-n8n-api-key")) for r in asked] == [("/api/v1/workflows?limit=1", GOOD_KEY)]


async def test_without_a_key_health_is_up_and_never_asks_the_api(stock_n8n: HostileServer,
                                                                 client: httpx.AsyncClient) -> None:
    health = await probe_health(n8n_at(stock_n8n.url, client, None), HANG_S)
    assert (health.status, health.detail) == ("up", "no API key: workflows not listed")
    assert [r.path for r in stock_n8n.seen] == ["/healthz", "/healthz/readiness"]


@pytest.mark.parametrize("page", [250, 2])
async def test_the_catalog_follows_recorded_cursors_and_leaves_archived_out(
        stock_n8n: HostileServer, client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch, page: int) -> None:
    monkeypatch.setattr(n8n, "N8N_PAGE", page)
    workflows = await n8n_at(stock_n8n.url, client, GOOD_KEY).list_models()
    assert [(w.name, w.loaded) for w in workflows] == [("Nightly GPU report", True), ("Manual reindex", False)]
    if page == 2:  # the opaque cursor goes back URL-quoted ("=" padding included)
        assert stock_n8n.seen[-1].path == f"/api/v1/workflows?limit=2&cursor={RECORDED_CURSOR.replace('=', '%3D')}"


async def test_a_revoked_key_fails_the_catalog_as_an_auth_error(stock_n8n: HostileServer,
                                                                client: httpx.AsyncClient) -> None:
    with pytest.raises(AuthFailedError, match="unauthorized"):
        await n8n_at(stock_n8n.url, client, REVOKED_KEY).list_models()


# --- the emulator agrees with the recordings ---------------------------------------------------------------------


def _items_agree(emulated: list[Any], recorded_items: list[Any]) -> bool:
    """Every emulated workflow has exactly the shape of one recorded workflow (active ones have an active version
    and static data, inactive ones null there)."""
    return all(shape(item) in [shape(real) for real in recorded_items] for item in emulated)


async def test_the_emulator_answers_in_the_recorded_shapes(emulator: EmulatorFactory,
                                                           client: httpx.AsyncClient) -> None:
    url = emulator("n8n").url
    for path, name in (("/healthz", "n8n_healthz"), ("/healthz/readiness", "n8n_readiness")):
        reply = await client.get(url + path)
        assert (reply.status_code, reply.json()) == (200, fixture_json(name))

    for headers, name in (({}, "n8n_workflows_401"), ({"X-N8N-API-KEY": "revoked-x"}, "n8n_workflows_401_badkey")):
        refused = await client.get(f"{url}/api/v1/workflows?limit=250", headers=headers)
        head = fixture_head(name)
        assert refused.status_code == 401
        assert refused.content == (FIXTURES / f"{name}.json").read_bytes()  # byte for byte
        assert refused.headers["content-type"] == head["content-type"]

    key = {"X-N8N-API-KEY": GOOD_KEY}
    whole = await client.get(f"{url}/api/v1/workflows?limit=250", headers=key)
    assert whole.headers["content-type"] == fixture_head("n8n_workflows_page")["content-type"]
    body = whole.json()
    real = fixture_json("n8n_workflows_page")
    assert body.keys() == real.keys() and body["nextCursor"] is None
    assert _items_agree(body["data"], real["data"])
    assert any(item["isArchived"] for item in body["data"]), "archived workflows are listed, as n8n lists them"

    first = (await client.get(f"{url}/api/v1/workflows?limit=2", headers=key)).json()
    assert first["nextCursor"] == RECORDED_CURSOR, "the same cursor n8n gave for limit 2"
    rest = (await client.get(f"{url}/api/v1/workflows", params={"cursor": RECORDED_CURSOR}, headers=key)).json()
    assert [w["name"] for w in rest["data"]] == [w["name"] for w in body["data"][2:4]]
