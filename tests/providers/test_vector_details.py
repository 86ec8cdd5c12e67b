"""A vector collection's details over loopback: how many records it holds, its dimension and its distance metric,
from Chroma (emulated, and a real `chroma run`), Qdrant (one vector or named vectors) and Milvus (vector fields and
their indexes); unknown collections and hostile answers are errors or blanks, never crashes or unbounded lists."""

from __future__ import annotations

import json
from collections.abc import Iterator

import httpx
import pytest

from providers.adapters import build_adapter
from providers.base import AdapterOptions
from providers.emulators.services import POINTS
from providers.errors import AuthFailedError, NotFoundError
from providers.service_details import CollectionDescriber, CollectionStats, VectorSpace
from tests.conftest import EmulatorFactory
from tests.hostile.hostile_server import HostileServer, canned, hostile_server, http_reply
from tests.providers.recorded import fixture_json, same_shape, shape
from tests.providers.test_chroma_real import real_chroma as real_chroma  # the fixture: one real Chroma here too

DATABASE = "/api/v2/tenants/default_tenant/databases/default_database"


def store(kind: str, url: str, client: httpx.AsyncClient, key: str | None = None) -> CollectionDescriber:
    adapter = build_adapter(AdapterOptions(name=f"my-{kind}", base_url=url, kind=kind, timeout_s=5.0,
                                           api_key=(lambda: key) if key else None), client)
    assert isinstance(adapter, CollectionDescriber)
    return adapter


EXPECTED: dict[str, dict[str, CollectionStats]] = {
    "chroma": {
        "lab-notes": CollectionStats(POINTS["lab-notes"], (VectorSpace(None, 2, "l2"),)),
        "papers": CollectionStats(POINTS["papers"], (VectorSpace(None, 3, "cosine"),)),
        "support-tickets": CollectionStats(POINTS["support-tickets"], (VectorSpace(None, 4, "ip"),))},
    "qdrant": {
        "lab-notes": CollectionStats(POINTS["lab-notes"], (VectorSpace(None, 384, "Cosine"),)),
        "support-tickets": CollectionStats(POINTS["support-tickets"], (
            VectorSpace("text", 384, "Cosine"), VectorSpace("image", 512, "Euclid")))},
    "milvus": {
        "papers": CollectionStats(POINTS["papers"], (VectorSpace(None, 1024, "IP"),)),
        "support-tickets": CollectionStats(POINTS["support-tickets"], (
            VectorSpace("dense", 384, "L2"), VectorSpace("title_dense", 128, "COSINE")))},
}


@pytest.mark.parametrize(("kind", "collection"), [(kind, name) for kind, names in EXPECTED.items() for name in names])
async def test_a_collection_tells_its_count_dimension_and_metric(emulator: EmulatorFactory,
                                                                 client: httpx.AsyncClient, kind: str,
                                                                 collection: str) -> None:
    assert await store(kind, emulator(kind).url, client).collection_stats(collection) == EXPECTED[kind][collection]


@pytest.mark.parametrize("kind", list(EXPECTED))
async def test_an_unknown_collection_is_not_found(emulator: EmulatorFactory, client: httpx.AsyncClient,
                                                  kind: str) -> None:
    with pytest.raises(NotFoundError):
        await store(kind, emulator(kind).url, client).collection_stats("no-such-collection")


async def test_a_refused_key_is_an_auth_error(emulator: EmulatorFactory, client: httpx.AsyncClient) -> None:
    for kind in ("qdrant", "milvus"):
        with pytest.raises(AuthFailedError):
            await store(kind, emulator(kind).url, client, key="revoked-key").collection_stats("lab-notes")


async def test_the_chroma_emulator_answers_a_collection_in_the_recorded_shape(emulator: EmulatorFactory,
                                                                             client: httpx.AsyncClient) -> None:
    url = emulator("chroma").url
    answer = (await client.get(f"{url}{DATABASE}/collections/lab-notes")).json()
    assert any(same_shape(shape(answer), shape(real)) for real in fixture_json("chroma_v2_collections"))
    by_id = await client.get(f"{url}{DATABASE}/collections/{answer['id']}")
    assert (by_id.status_code, by_id.json()["error"]) == (404, "NotFoundError"), "by name only, as 1.5.9 answers"
    count = await client.get(f"{url}{DATABASE}/collections/{answer['id']}/count")
    assert count.content == str(POINTS["lab-notes"]).encode(), "a bare integer"


async def test_a_real_chroma_tells_count_dimension_and_metric(real_chroma: str, client: httpx.AsyncClient) -> None:
    made = await client.post(f"{real_chroma}{DATABASE}/collections",
                             json={"name": "details-cosine", "configuration": {"hnsw": {"space": "cosine"}}})
    made.raise_for_status()
    added = await client.post(f"{real_chroma}{DATABASE}/collections/{made.json()['id']}/add",
                              json={"ids": ["a", "b", "c"], "embeddings": [[1, 2, 3], [4, 5, 6], [7, 8, 9]]})
    added.raise_for_status()
    chroma = store("chroma", real_chroma, client)
    assert await chroma.collection_stats("details-cosine") == CollectionStats(3, (VectorSpace(None, 3, "cosine"),))
    # Made without records or configuration: no dimension yet, and Chroma's default space said outright.
    assert await chroma.collection_stats("lab-notes") == CollectionStats(0, (VectorSpace(None, None, "l2"),))
    with pytest.raises(NotFoundError):
        await chroma.collection_stats("no-such-collection")


@pytest.fixture
def hostile_qdrant() -> Iterator[HostileServer]:
    """Sizes that are not whole numbers, a metric with escape sequences, and a thousand named vectors."""
    odd = {"a": {"size": True, "distance": "Cosine"}, "b": {"size": -4, "distance": 7},
           "c": {"size": "12", "distance": "\x1b[31mRed\x1b[0m"}, "d": {"size": 10**30}, "e": "not an object"}
    many = {f"v{n}": {"size": n, "distance": "Dot"} for n in range(1000)}

    def reply(vectors: object, points: object) -> bytes:
        body = {"result": {"points_count": points, "config": {"params": {"vectors": vectors}}}, "status": "ok"}
        return http_reply(json.dumps(body).encode())

    routes = {"/collections/odd": canned(reply(odd, "many")), "/collections/many": canned(reply(many, -1)),
              "/collections/bare": canned(http_reply(b'{"result": {}, "status": "ok"}'))}
    with hostile_server(routes) as server:
        yield server


async def test_hostile_qdrant_answers_become_blanks_and_a_bounded_list(hostile_qdrant: HostileServer,
                                                                       client: httpx.AsyncClient) -> None:
    qdrant = store("qdrant", hostile_qdrant.url, client)
    odd = await qdrant.collection_stats("odd")
    assert odd == CollectionStats(None, (
        VectorSpace("a", None, "Cosine"), VectorSpace("b", None, None), VectorSpace("c", 12, "\x1b[31mRed\x1b[0m"),
        VectorSpace("d", None, None), VectorSpace("e", None, None)))  # the metric is shown safe by the view
    many = await qdrant.collection_stats("many")
    assert many.count is None and len(many.vectors) == 64
    assert await qdrant.collection_stats("bare") == CollectionStats(None, ())
