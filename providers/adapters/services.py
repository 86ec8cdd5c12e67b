"""Services beside the models, for health, catalog and details (PROTOCOLS.md §10): the shared base, Qdrant and Milvus
(Chroma and n8n have their own modules, the hosted CivitAI and Dropbox are in hosted_services).

Their catalog is what they serve (vector collections, n8n workflows), listed in the Models pane next to the models;
they take no chat and no model operations (an n8n workflow is activated as its "load"). The vector stores describe
a collection for the details view (count, dimension, metric). Every health probe checks the shape of the answer,
not only its status, so that auto-discovery does not take another server on the same port (vLLM and Chroma both
like 8000) for one.
Where a service takes a key, its health makes a call that the key guards, so a refused key shows as `unauthorized`.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any, ClassVar, NoReturn
from urllib.parse import quote

import httpx

from providers.adapters.grpc_port import speaks_http2_only
from providers.base import Adapter, Capabilities, Health, ModelInfo
from providers.errors import AuthFailedError, NotFoundError, ProtocolError, ServerError
from providers.http import expect_dict, request_json, send
from providers.service_details import CollectionStats, VectorSpace, text_or_none, whole_number

MILVUS_NOT_AUTHENTICATED = 1800
"""Milvus's code for "user hasn't authenticated" (HTTP 200 around it)."""
AUTH_WORDS = ("authenticat", "permission", "token")
MAX_VECTOR_SPACES = 64
"""Show at most this many vectors of one collection (named vectors, vector fields): a bound on hostile answers."""


class ServiceAdapter(Adapter):
    """Shared by the services: their headers and one JSON call. A health probe's failed call raises, and
    providers.health_policy judges it (a refused key is unauthorized there)."""

    capabilities = Capabilities()
    grpc_hint: ClassVar[str] = ""
    """What to configure instead, when base_url turns out to be a gRPC port (HTTP/2 only)."""

    def key_headers(self, key: str) -> dict[str, str]:
        """Where this service reads its key: a Bearer token unless a subclass says otherwise."""
        return {"Authorization": f"Bearer {key}"}

    def headers(self) -> dict[str, str]:
        """The configured extra headers, and the key when one is set."""
        key = self.key()
        return {**self.options.headers, **(self.key_headers(key) if key else {})}

    async def call(self, method: str, path: str, json_body: Any = None) -> Any:
        try:
            return await request_json(self.client, method, self.url(path), provider=self.name,
                                      headers=self.headers(), json_body=json_body, timeout_s=self.timeout())
        except ProtocolError as exc:
            await self.raise_explained(exc)

    async def get(self, path: str) -> httpx.Response:
        """A GET whose body is not JSON (or not only JSON)."""
        try:
            return await send(self.client, "GET", self.url(path), provider=self.name, headers=self.headers(),
                              timeout_s=self.timeout())
        except ProtocolError as exc:
            await self.raise_explained(exc)

    async def raise_explained(self, exc: ProtocolError) -> NoReturn:
        """Raise `exc`, or when the connection dropped because the port speaks only HTTP/2, an error that says so
        and what to configure (for services with a gRPC port beside their REST API)."""
        if (self.grpc_hint and exc.message.startswith("connection dropped:")
                and await speaks_http2_only(self.base_url, self.options.connect_timeout_s)):
            raise ProtocolError(f"this port speaks gRPC (HTTP/2 only), not HTTP/1.1: {self.grpc_hint}",
                                provider=self.name) from exc
        raise exc

    async def list_models(self) -> list[ModelInfo]:
        return []  # nothing served beside the models, unless a subclass lists it

    def entries(self, names: list[str]) -> list[ModelInfo]:
        return [ModelInfo(provider=self.name, name=name, kind="collection", loaded=True) for name in names]

    def served(self, names: list[str]) -> Health:
        """Up, serving these collections (shown where a model server shows its loaded models)."""
        noun = "collection" if len(names) == 1 else "collections"
        return Health("up", models_loaded=tuple(names), detail=f"{len(names)} {noun}")


def names_of(items: Any, provider: str, what: str) -> list[str]:
    """Names from a list of strings or of objects with a `name`."""
    if not isinstance(items, list):
        raise ProtocolError(f"{what}: expected a list, got {type(items).__name__}", provider=provider)
    names = [item if isinstance(item, str) else item.get("name") if isinstance(item, dict) else None
             for item in items]
    return [name for name in names if isinstance(name, str)]


class QdrantAdapter(ServiceAdapter):
    """Qdrant's REST API; the key goes in `api-key`. Not recorded from a real server: the shapes are PROTOCOLS.md
    §10.2's. The key is proven by GET /collections, which Qdrant guards when it has a key (its health endpoints may
    not be guarded, so `/healthz` alone would pass a wrong key)."""

    grpc_hint = "Qdrant's REST API is on port 6333 (6334 is its gRPC port)"

    def key_headers(self, key: str) -> dict[str, str]:
        return {"api-key": key}

    async def _collections(self) -> list[str]:
        body = expect_dict(await self.call("GET", "/collections"), self.name, "GET /collections")
        result = expect_dict(body.get("result"), self.name, "GET /collections result")
        return names_of(result.get("collections"), self.name, "collections")

    async def health(self) -> Health:
        response = await self.get("/healthz")
        if "check passed" not in response.text:
            raise ProtocolError(f"/healthz said {response.text[:80]!r}: not a Qdrant server", provider=self.name)
        about = expect_dict(await self.call("GET", "/"), self.name, "GET /")
        if "qdrant" not in str(about.get("title", "")).lower():
            raise ProtocolError("GET / does not name Qdrant", provider=self.name)
        return replace(self.served(await self._collections()), version=about.get("version"))

    async def list_models(self) -> list[ModelInfo]:
        return self.entries(await self._collections())

    async def collection_stats(self, name: str) -> CollectionStats:
        """GET /collections/{name}: `result.points_count`, and `config.params.vectors` as one {size, distance} or
        named vectors {name: {size, distance}}."""
        body = expect_dict(await self.call("GET", f"/collections/{quote(name, safe='')}"), self.name,
                           "GET collection")
        result = expect_dict(body.get("result"), self.name, "GET collection result")
        config = result.get("config")
        params = config.get("params") if isinstance(config, dict) else None
        vectors = params.get("vectors") if isinstance(params, dict) else None
        if not isinstance(vectors, dict):
            spaces: tuple[VectorSpace, ...] = ()
        elif "size" in vectors or "distance" in vectors:
            spaces = (_qdrant_space(None, vectors),)
        else:
            spaces = tuple(_qdrant_space(str(key), value) for key, value in list(vectors.items())[:MAX_VECTOR_SPACES])
        return CollectionStats(whole_number(result.get("points_count")), spaces)


def _qdrant_space(name: str | None, vector: Any) -> VectorSpace:
    if not isinstance(vector, dict):
        return VectorSpace(name, None, None)
    return VectorSpace(name, whole_number(vector.get("size")), text_or_none(vector.get("distance")))


class MilvusAdapter(ServiceAdapter):
    """Milvus's RESTful v2 API on the main port (19530). Health is the collection list answering `code: 0`, since
    `/healthz` lives on another port (9091) that a base_url does not name; the list needs the token when auth is
    on, so it proves the key too. Errors come with HTTP 200 and a non-zero code; code 1800 or words about
    authentication or permission mean the token was refused. Not recorded from a real server: these shapes are
    PROTOCOLS.md §10.3's. milvus-lite serves gRPC only, which `grpc_hint` explains."""

    grpc_hint = ("probably milvus-lite, which has no REST API; point base_url at the Milvus REST API (RESTful v2) on "
                 "port 19530 of a Milvus standalone or cluster server, 2.3 or later")

    async def _post(self, operation: str, body: dict[str, Any]) -> Any:
        """POST /v2/vectordb/collections/{operation}: its `data`, or the error its code says."""
        answer = expect_dict(await self.call("POST", f"/v2/vectordb/collections/{operation}", body), self.name,
                             f"collections/{operation}")
        if "code" not in answer:
            raise ProtocolError(f"collections/{operation} answered without a code: not a Milvus server",
                                provider=self.name)
        code = answer.get("code")
        if code != 0:
            message = str(answer.get("message") or f"code {code}")
            lowered = message.lower()
            if code == MILVUS_NOT_AUTHENTICATED or any(word in lowered for word in AUTH_WORDS):
                raise AuthFailedError(message, provider=self.name)
            if "not found" in lowered:
                raise NotFoundError(message, provider=self.name)
            raise ServerError(f"code {code}: {message}", provider=self.name)
        return answer.get("data")

    async def _collections(self) -> list[str]:
        return names_of(await self._post("list", {}), self.name, "collections/list data")

    async def health(self) -> Health:
        return self.served(await self._collections())

    async def list_models(self) -> list[ModelInfo]:
        return self.entries(await self._collections())

    async def collection_stats(self, name: str) -> CollectionStats:
        """collections/describe: the vector fields (`type` ending in Vector, `params` [{key: dim, value}]) and the
        metric of each one's index (`indexes` [{fieldName, metricType}]); get_stats: `data.rowCount`."""
        described = expect_dict(await self._post("describe", {"collectionName": name}), self.name,
                                "collections/describe data")
        indexes = described.get("indexes")
        metrics = {index.get("fieldName"): text_or_none(index.get("metricType"))
                   for index in (indexes if isinstance(indexes, list) else []) if isinstance(index, dict)}
        fields = described.get("fields")
        vector_fields = [field for field in (fields if isinstance(fields, list) else [])
                         if isinstance(field, dict) and str(field.get("type", "")).endswith("Vector")]
        spaces = tuple(VectorSpace(text_or_none(field.get("name")), _milvus_dim(field.get("params")),
                                   metrics.get(field.get("name")))
                       for field in vector_fields[:MAX_VECTOR_SPACES])
        if len(spaces) == 1:
            spaces = (VectorSpace(None, spaces[0].dimension, spaces[0].metric),)  # one vector needs no name
        stats = expect_dict(await self._post("get_stats", {"collectionName": name}), self.name,
                            "collections/get_stats data")
        return CollectionStats(whole_number(stats.get("rowCount")), spaces)


def _milvus_dim(params: Any) -> int | None:
    """`dim` from a field's params: a list of {key, value} (RESTful v2), or a mapping."""
    if isinstance(params, dict):
        return whole_number(params.get("dim"))
    if isinstance(params, list):
        for param in params:
            if isinstance(param, dict) and param.get("key") == "dim":
                return whole_number(param.get("value"))
    return None
