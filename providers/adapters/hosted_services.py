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

GIB = 1024**3


def _size(size: Any) -> str:
    if not isinstance(size, int | float):
        return "?"
    return f"{size / GIB:.1f} GiB" if size < 1024 * GIB else f"{size / (1024 * GIB):.1f} TiB"


class CivitaiAdapter(ServiceAdapter):
    """CivitAI's public API (`…/api/v1`); a key, when given, is a Bearer token."""

    async def health(self) -> Health:
        async def check() -> Health:
            page = expect_dict(await self.call("GET", "/v1/models?limit=1"), self.name, "GET /v1/models")
            if not isinstance(page.get("items"), list):
                raise ProtocolError("GET /v1/models without `items`: not the CivitAI API", provider=self.name)
            return Health("up", detail="model search answers")

        return await self.probe(check)


class DropboxAdapter(ServiceAdapter):
    """Dropbox API v2: RPC calls are POSTs; a route without arguments takes the body `null`."""

    async def health(self) -> Health:
        async def check() -> Health:
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

        return await self.probe(check)
