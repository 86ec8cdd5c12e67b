"""Chroma (PROTOCOLS.md §10.1): health, and the collections of one database of one tenant (options `tenant`,
`database`).

Recorded from Chroma 1.5.9 (`chroma run`; ../shared/fixtures/chroma_*): the v2 API answers; every /api/v1 path
answers 410 `Unimplemented`; unknown paths answer 404 with an empty body. Listing the collections of a database
that does not exist answers an empty 200 list, so an empty list is checked against GET …/databases/{database}
(404 `NotFoundError`, "Database [x] not found. Are you sure it exists?") to tell "empty" from "no such database".

Chroma added /api/v2 in 0.5.16 (0.5.15's server routes only /api/v1, 0.5.16's add /api/v2: read from the two
wheels); servers before that are read over v1, whose collection list takes the tenant and the database as query
parameters. That fallback is taken only when /api/v2/heartbeat is a 404, which no v2 server answers.

A collection's details (recorded from `chroma run` 1.5.9): GET …/collections/{name} (by name: its id in that place
is a 404) answers the object the listing holds, with `dimension` (null until a record is added) and the distance
as `configuration_json.hnsw.space` (`spann.space` on a distributed Chroma, `hnsw:space` in the metadata before
collection configurations); GET …/collections/{id}/count answers a bare integer.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any
from urllib.parse import quote, urlencode

from providers.adapters.services import ServiceAdapter, names_of
from providers.base import Health, ModelInfo
from providers.errors import BadRequestError, NotFoundError, ProtocolError, UnsupportedError
from providers.http import expect_dict
from providers.safe_text import one_line
from providers.service_details import CollectionStats, VectorSpace, text_or_none, whole_number

V2 = "/api/v2"
V1 = "/api/v1"
"""Servers before 0.5.16."""
HEARTBEAT_KEY = "nanosecond heartbeat"


class ChromaAdapter(ServiceAdapter):
    """Chroma's v2 API, or v1 on servers before 0.5.16."""

    def key_headers(self, key: str) -> dict[str, str]:
        # Which header the server reads is its own setting (CHROMA_AUTH_TOKEN_TRANSPORT_HEADER): send both.
        return {"X-Chroma-Token": key, "Authorization": f"Bearer {key}"}

    def _where(self) -> str:
        return f"database {one_line(self.options.database)!r} of tenant {one_line(self.options.tenant)!r}"

    def _database_path(self) -> str:
        tenant, database = (quote(value, safe="") for value in (self.options.tenant, self.options.database))
        return f"{V2}/tenants/{tenant}/databases/{database}"

    async def _api(self) -> str:
        """The API this server speaks, proven by its heartbeat (an object holding an integer 'nanosecond
        heartbeat', which is what tells a Chroma from another server on the same port)."""
        try:
            beat, api = await self.call("GET", f"{V2}/heartbeat"), V2
        except NotFoundError:
            try:
                beat, api = await self.call("GET", f"{V1}/heartbeat"), V1
            except BadRequestError as exc:  # 404, or 1.x's 410 on v1
                raise ProtocolError(f"no Chroma heartbeat on {V2} or {V1} ({exc.brief}): not a Chroma server",
                                    provider=self.name) from None
        value = expect_dict(beat, self.name, "heartbeat").get(HEARTBEAT_KEY)
        if not isinstance(value, int) or isinstance(value, bool):
            raise ProtocolError(f"heartbeat without an integer {HEARTBEAT_KEY!r}: not a Chroma server",
                                provider=self.name)
        return api

    async def _collections(self, api: str) -> list[str]:
        if api == V1:
            query = urlencode({"tenant": self.options.tenant, "database": self.options.database})
            return names_of(await self.call("GET", f"{V1}/collections?{query}"), self.name, "collections")
        names = names_of(await self.call("GET", f"{self._database_path()}/collections"), self.name, "collections")
        if not names:
            await self._check_database()
        return names

    async def _check_database(self) -> None:
        """Raise a one-line NotFoundError when the configured database (or its tenant) does not exist."""
        try:
            await self.call("GET", self._database_path())
        except NotFoundError:
            tenant = quote(self.options.tenant, safe="")
            try:
                await self.call("GET", f"{V2}/tenants/{tenant}")
            except NotFoundError:
                raise NotFoundError(f"Chroma has no tenant {one_line(self.options.tenant)!r}: set `tenant:` to "
                                    "one that exists", provider=self.name) from None
            raise NotFoundError(f"Chroma has no {self._where()}: create it, or set `database:` to one that exists",
                                provider=self.name) from None

    async def health(self) -> Health:
        api = await self._api()
        version: Any = await self.call("GET", f"{api}/version")
        if not isinstance(version, str):
            raise ProtocolError(f"{api}/version is not a JSON string: not a Chroma server", provider=self.name)
        return replace(self.served(await self._collections(api)), version=version)

    async def list_models(self) -> list[ModelInfo]:
        return self.entries(await self._collections(await self._api()))

    async def collection_stats(self, name: str) -> CollectionStats:
        if await self._api() == V1:
            raise UnsupportedError("collection details need Chroma's v2 API (0.5.16 or later)", provider=self.name)
        path = f"{self._database_path()}/collections"
        found = expect_dict(await self.call("GET", f"{path}/{quote(name, safe='')}"), self.name, "GET collection")
        collection_id = found.get("id")
        if not isinstance(collection_id, str) or not collection_id:
            raise ProtocolError("the collection has no id", provider=self.name)
        count = whole_number(await self.call("GET", f"{path}/{quote(collection_id, safe='')}/count"))
        return CollectionStats(count, (VectorSpace(None, whole_number(found.get("dimension")), _space(found)),))


def _space(collection: dict[str, Any]) -> str | None:
    """The distance metric, wherever this Chroma keeps it."""
    configuration = collection.get("configuration_json")
    if isinstance(configuration, dict):
        for index in ("hnsw", "spann"):
            settings = configuration.get(index)
            if isinstance(settings, dict) and (space := text_or_none(settings.get("space"))):
                return space
    metadata = collection.get("metadata")
    return text_or_none(metadata.get("hnsw:space")) if isinstance(metadata, dict) else None
