"""Hosted services for health only (PROTOCOLS.md §10.5, §10.6): CivitAI (model hub) and Dropbox (file store).

Neither serves models to the lab, so their catalog is empty; health says whether they answer and accept the key,
and for Dropbox how full the space is.
"""

from __future__ import annotations

from typing import Any

from providers.adapters.services import ServiceAdapter
from providers.base import Health
from providers.errors import ProtocolError
from providers.http import expect_dict, parse_json, send
from providers.safe_text import one_line

GIB = 1024**3


def _size(size: Any) -> str:
    if not isinstance(size, int | float):
        return "?"
    return f"{size / GIB:.1f} GiB" if size < 1024 * GIB else f"{size / (1024 * GIB):.1f} TiB"


class CivitaiAdapter(ServiceAdapter):
    """CivitAI's public API (`…/api/v1`); a key is optional and, when given, a Bearer token.

    Model search is public and quietly ignores a bad token, so with a key configured health asks GET /v1/me, the
    documented call that needs a valid token (developer.civitai.com, site reference "Users": 401
    `{"error":"Unauthorized"}` for a missing, malformed or revoked token; 200 `{id, username, tier, …}`). Neither
    answer was recorded from the real server."""

    async def health(self) -> Health:
        if self.key():
            me = expect_dict(await self.call("GET", "/v1/me"), self.name, "GET /v1/me")
            if not isinstance(me.get("username"), str):
                raise ProtocolError("GET /v1/me without a `username`: not the CivitAI API", provider=self.name)
            return Health("up", detail=f"key accepted: {one_line(me['username'])[:64]}")
        page = expect_dict(await self.call("GET", "/v1/models?limit=1"), self.name, "GET /v1/models")
        if not isinstance(page.get("items"), list):
            raise ProtocolError("GET /v1/models without `items`: not the CivitAI API", provider=self.name)
        return Health("up", detail="model search answers")


class DropboxAdapter(ServiceAdapter):
    """Dropbox API v2: RPC calls are POSTs; a route without arguments takes the body `null`. Every route needs the
    access token, so the space-usage call that health makes proves it (401 `expired_access_token` /
    `invalid_access_token` → unauthorized). Not recorded from the real server: the shapes are PROTOCOLS.md §10.6's,
    from Dropbox's Python SDK."""

    async def health(self) -> Health:
        if not self.key() and "authorization" not in {name.lower() for name in self.options.headers}:
            return Health("unauthorized", detail="no access token configured: Dropbox needs one")
        response = await send(self.client, "POST", self.url("/2/users/get_space_usage"), provider=self.name,
                              headers={**self.headers(), "Content-Type": "application/json"}, content=b"null",
                              timeout_s=self.timeout())
        what = "users/get_space_usage"
        usage = expect_dict(parse_json(response.content, self.name, what), self.name, what)
        if "used" not in usage:
            raise ProtocolError("get_space_usage without `used`: not the Dropbox API", provider=self.name)
        allocation = usage.get("allocation")
        allocated = allocation.get("allocated") if isinstance(allocation, dict) else None
        return Health("up", detail=f"{_size(usage['used'])} of {_size(allocated)} used")
