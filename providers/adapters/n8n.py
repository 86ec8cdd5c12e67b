"""n8n (PROTOCOLS.md §10.4): health, and its workflows as the catalog.

Recorded from n8n 2.8.4 (../shared/fixtures/n8n_*): `/healthz` and `/healthz/readiness` answer `{"status":"ok"}`
and read no key; only the public API (`/api/v1/…`, header `X-N8N-API-KEY`) does, answering 401
`{"message":"'X-N8N-API-KEY' header required"}` without a key and 401 `{"message":"unauthorized"}` with a revoked
or wrong one. Workflow pages hold `data` and `nextCursor` (an opaque string, null on the last page); archived
workflows are still listed, with `isArchived: true`.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from providers.adapters.services import ServiceAdapter
from providers.base import Health, ModelInfo
from providers.errors import AuthFailedError, ProtocolError, ProviderError
from providers.http import expect_dict, send

N8N_PAGE = 250
"""n8n's largest page of workflows."""
N8N_MAX_PAGES = 40
"""Stop after this many pages (10,000 workflows): a server that keeps handing out cursors must not loop forever."""


class N8nAdapter(ServiceAdapter):
    """n8n: `/healthz` says the process is up, `/healthz/readiness` that its database is ready, and with a key
    configured one workflow read through the public API says the key is accepted (without a key the catalog is
    empty, not an error)."""

    def key_headers(self, key: str) -> dict[str, str]:
        return {"X-N8N-API-KEY": key}

    async def _page(self, limit: int, cursor: str | None) -> dict[str, Any]:
        query = f"?limit={limit}" + (f"&cursor={quote(cursor, safe='')}" if cursor else "")
        page = expect_dict(await self.call("GET", f"/api/v1/workflows{query}"), self.name, "GET workflows")
        if not isinstance(page.get("data"), list):
            raise ProtocolError("workflows: `data` is not a list", provider=self.name)
        return page

    async def health(self) -> Health:
        alive = expect_dict(await self.call("GET", "/healthz"), self.name, "GET /healthz")
        if alive.get("status") != "ok":
            raise ProtocolError(f"/healthz said {alive!r}: not an n8n server", provider=self.name)
        # Past /healthz the process is proven up: a later failure is a part of n8n not working, n8n's own verdict.
        try:
            await send(self.client, "GET", self.url("/healthz/readiness"), provider=self.name,
                       headers=self.headers(), timeout_s=self.timeout())
        except ProviderError as exc:
            return Health("degraded", detail=f"not ready (database): {exc.brief}")
        if not self.key():
            return Health("up", detail="no API key: workflows not listed")
        # /healthz reads no key: a revoked one shows only here.
        try:
            await self._page(1, None)
        except AuthFailedError as exc:
            raise AuthFailedError(f"API key refused: {exc.brief}", provider=self.name) from None
        except ProviderError as exc:  # the process is up; its public API is not (disabled, failing)
            return Health("degraded", detail=f"public API: {exc.brief}")
        return Health("up", detail="API key accepted")

    async def list_models(self) -> list[ModelInfo]:
        if not self.key():
            return []
        workflows: list[ModelInfo] = []
        cursor: str | None = None
        for _ in range(N8N_MAX_PAGES):
            page = await self._page(N8N_PAGE, cursor)
            # An archived workflow never runs and n8n's editor hides it; an active one runs on its triggers and is
            # shown as loaded.
            workflows += [ModelInfo(provider=self.name, name=item["name"], kind="workflow",
                                    loaded=item.get("active") is True)
                          for item in page["data"]
                          if isinstance(item, dict) and isinstance(item.get("name"), str)
                          and item.get("isArchived") is not True]
            next_cursor = page.get("nextCursor")
            if not isinstance(next_cursor, str) or not next_cursor:
                break
            cursor = next_cursor
        return workflows
