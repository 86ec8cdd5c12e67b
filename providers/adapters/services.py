"""Services beside the models, for health and catalog only (PROTOCOLS.md §10): Chroma, Qdrant, Milvus, n8n.

Their catalog is what they serve (vector collections, n8n workflows), listed in the Models pane next to the models;
they take no chat and no model operations. Every health probe checks the shape of the answer, not only its status,
so that auto-discovery does not take another server on the same port (vLLM and Chroma both like 8000) for one.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import replace
from typing import Any
from urllib.parse import quote

from providers.base import Adapter, Capabilities, Health, ModelInfo
from providers.errors import AuthFailedError, NotFoundError, ProtocolError, ProviderError, ServerError
from providers.http import expect_dict, request_json, send

CHROMA_COLLECTIONS_V2 = "/api/v2/tenants/default_tenant/databases/default_database/collections"
N8N_PAGE = 250
"""n8n's largest page of workflows."""
N8N_MAX_PAGES = 40
"""Stop after this many pages (10,000 workflows): a server that keeps handing out cursors must not loop forever."""


class ServiceAdapter(Adapter):
    """Shared by the services: their headers, one JSON call, and a probe whose failures become a Health."""

    capabilities = Capabilities()

    def key_headers(self, key: str) -> dict[str, str]:
        """Where this service reads its key: a Bearer token unless a subclass says otherwise."""
        return {"Authorization": f"Bearer {key}"}

    def headers(self) -> dict[str, str]:
        """The configured extra headers, and the key when one is set."""
        key = self.key()
        return {**self.options.headers, **(self.key_headers(key) if key else {})}

    async def call(self, method: str, path: str, json_body: Any = None) -> Any:
        return await request_json(self.client, method, self.url(path), provider=self.name, headers=self.headers(),
                                  json_body=json_body, timeout_s=self.timeout())

    async def probe(self, check: Callable[[], Awaitable[Health]]) -> Health:
        """Run `check` and time it; a refused key is unauthorized, any other failure is down. Never raises."""
        started = time.perf_counter()
        try:
            health = await check()
        except AuthFailedError as exc:
            return Health("unauthorized", detail=exc.brief)
        except ProviderError as exc:
            return Health("down", detail=exc.brief)
        return replace(health, latency_ms=(time.perf_counter() - started) * 1000.0)

    async def list_models(self) -> list[ModelInfo]:
        return []  # nothing served beside the models, unless a subclass lists it

    def entries(self, names: list[str]) -> list[ModelInfo]:
        return [ModelInfo(provider=self.name, name=name, kind="collection", loaded=True) for name in names]

    def served(self, names: list[str]) -> Health:
        """Up, serving these collections (shown where a model server shows its loaded models)."""
        noun = "collection" if len(names) == 1 else "collections"
        return Health("up", models_loaded=tuple(names), detail=f"{len(names)} {noun}")


def _names(items: Any, provider: str, what: str) -> list[str]:
    """Names from a list of strings or of objects with a `name`."""
    if not isinstance(items, list):
        raise ProtocolError(f"{what}: expected a list, got {type(items).__name__}", provider=provider)
    names = [item if isinstance(item, str) else item.get("name") if isinstance(item, dict) else None
             for item in items]
    return [name for name in names if isinstance(name, str)]


class ChromaAdapter(ServiceAdapter):
    """Chroma's v2 API, falling back to v1 on servers older than 0.6 (v2 answers 404 there)."""

    def key_headers(self, key: str) -> dict[str, str]:
        # Which header the server reads is its own setting: send both.
        return {"X-Chroma-Token": key, "Authorization": f"Bearer {key}"}

    async def _versioned(self, v2_path: str, v1_path: str) -> Any:
        try:
            return await self.call("GET", v2_path)
        except NotFoundError:
            return await self.call("GET", v1_path)

    async def health(self) -> Health:
        async def check() -> Health:
            beat = expect_dict(await self._versioned("/api/v2/heartbeat", "/api/v1/heartbeat"), self.name,
                               "heartbeat")
            if "nanosecond heartbeat" not in beat:
                raise ProtocolError("heartbeat without a 'nanosecond heartbeat': not a Chroma server",
                                    provider=self.name)
            version = await self._versioned("/api/v2/version", "/api/v1/version")
            names = _names(await self._versioned(CHROMA_COLLECTIONS_V2, "/api/v1/collections"), self.name,
                           "collections")
            return replace(self.served(names), version=str(version))

        return await self.probe(check)

    async def list_models(self) -> list[ModelInfo]:
        return self.entries(_names(await self._versioned(CHROMA_COLLECTIONS_V2, "/api/v1/collections"), self.name,
                                   "collections"))


class QdrantAdapter(ServiceAdapter):
    """Qdrant's REST API; the key goes in `api-key`."""

    def key_headers(self, key: str) -> dict[str, str]:
        return {"api-key": key}

    async def _collections(self) -> list[str]:
        body = expect_dict(await self.call("GET", "/collections"), self.name, "GET /collections")
        result = expect_dict(body.get("result"), self.name, "GET /collections result")
        return _names(result.get("collections"), self.name, "collections")

    async def health(self) -> Health:
        async def check() -> Health:
            response = await send(self.client, "GET", self.url("/healthz"), provider=self.name,
                                  headers=self.headers(), timeout_s=self.timeout())
            if "check passed" not in response.text:
                raise ProtocolError(f"/healthz said {response.text[:80]!r}: not a Qdrant server", provider=self.name)
            about = expect_dict(await self.call("GET", "/"), self.name, "GET /")
            if "qdrant" not in str(about.get("title", "")).lower():
                raise ProtocolError("GET / does not name Qdrant", provider=self.name)
            return replace(self.served(await self._collections()), version=about.get("version"))

        return await self.probe(check)

    async def list_models(self) -> list[ModelInfo]:
        return self.entries(await self._collections())


class MilvusAdapter(ServiceAdapter):
    """Milvus's RESTful v2 API on the main port (19530). Health is the collection list answering `code: 0`, since
    `/healthz` lives on another port (9091) that a base_url does not name. Errors come with HTTP 200 and a non-zero
    code; Milvus says "authenticate" or "permission" when the token is wrong."""

    async def _collections(self) -> list[str]:
        body = expect_dict(await self.call("POST", "/v2/vectordb/collections/list", {}), self.name,
                           "collections/list")
        if "code" not in body:
            raise ProtocolError("collections/list answered without a code: not a Milvus server", provider=self.name)
        code = body.get("code")
        if code != 0:
            message = str(body.get("message") or f"code {code}")
            lowered = message.lower()
            if "authenticat" in lowered or "permission" in lowered or "token" in lowered:
                raise AuthFailedError(message, provider=self.name)
            raise ServerError(f"code {code}: {message}", provider=self.name)
        return _names(body.get("data"), self.name, "collections/list data")

    async def health(self) -> Health:
        async def check() -> Health:
            return self.served(await self._collections())

        return await self.probe(check)

    async def list_models(self) -> list[ModelInfo]:
        return self.entries(await self._collections())


class N8nAdapter(ServiceAdapter):
    """n8n: `/healthz` says the process is up, `/healthz/readiness` that its database is ready; the workflows come
    from the public API, which needs `X-N8N-API-KEY` (without a key the catalog is empty, not an error)."""

    def key_headers(self, key: str) -> dict[str, str]:
        return {"X-N8N-API-KEY": key}

    async def health(self) -> Health:
        async def check() -> Health:
            alive = expect_dict(await self.call("GET", "/healthz"), self.name, "GET /healthz")
            if alive.get("status") != "ok":
                raise ProtocolError(f"/healthz said {alive!r}: not an n8n server", provider=self.name)
            try:
                await send(self.client, "GET", self.url("/healthz/readiness"), provider=self.name,
                           headers=self.headers(), timeout_s=self.timeout())
            except ProviderError as exc:
                return Health("degraded", detail=f"not ready (database): {exc.brief}")
            return Health("up")

        return await self.probe(check)

    async def list_models(self) -> list[ModelInfo]:
        if not self.key():
            return []
        workflows: list[ModelInfo] = []
        cursor: str | None = None
        for _ in range(N8N_MAX_PAGES):
            query = f"?limit={N8N_PAGE}" + (f"&cursor={quote(cursor, safe='')}" if cursor else "")
            page = expect_dict(await self.call("GET", f"/api/v1/workflows{query}"), self.name, "GET workflows")
            items = page.get("data")
            if not isinstance(items, list):
                raise ProtocolError("workflows: `data` is not a list", provider=self.name)
            # An active workflow is one that runs on its triggers: shown as loaded.
            workflows += [ModelInfo(provider=self.name, name=item["name"], kind="workflow",
                                    loaded=bool(item.get("active")))
                          for item in items if isinstance(item, dict) and isinstance(item.get("name"), str)]
            next_cursor = page.get("nextCursor")
            if not isinstance(next_cursor, str) or not next_cursor:
                break
            cursor = next_cursor
        return workflows
