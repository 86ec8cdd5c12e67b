"""CivitAI client: model search (cursor-paged), one version's details and files, and the primary file to fetch.

Shapes follow PROTOCOLS.md §10.5 and developer.civitai.com's reference (models, model-versions); none was recorded
from the real server. Guessed: that `nsfwLevel` is the browsing-level bit set (PG 1, PG-13 2, R 4, X 8, XXX 16,
blocked 32) and that `sizeKB` times 1024 is the file's exact size.

NSFW is hidden unless the provider allows it, twice over: the search asks for `nsfw=false`, and whatever comes back
is filtered again here on the model's `nsfw` flag and each version's `nsfwLevel` (the server's filter is not ours
to trust, and it ignores the parameter in some regions).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import httpx

from providers.base import KeySource
from providers.errors import BadRequestError, NotFoundError, ProtocolError
from providers.http import MAX_LISTING_BYTES, expect_dict, parse_json, send
from providers.safe_text import one_line

DEFAULT_BASE_URL = "https://civitai.com/api"
MAX_PAGES = 10
"""A bound on cursor paging, so a server that always says there is more cannot keep us reading."""
SFW_LEVELS = 1 | 2
"""PG and PG-13: the browsing levels CivitAI counts as safe for work; any other bit makes a version NSFW."""
TYPES = {"checkpoint": "Checkpoint", "lora": "LORA"}
"""The CLI's names for the model types it can place, and CivitAI's."""
LORA_TYPES = frozenset({"LORA", "LoCon", "DoRA"})
"""Types an image server loads from its LoRA folder."""
MAX_FILE_NAME_BYTES = 255

_SHA256 = re.compile(r"^[0-9a-fA-F]{64}$")
_UNSAFE_NAME = re.compile(r"[\x00-\x1f\x7f-\x9f/\\]")


@dataclass(frozen=True, slots=True)
class CivitaiFile:
    """One file of a version. `sha256` is lower-case hex, or None when CivitAI gave none (or garbage)."""

    id: int | None
    name: str
    size_kb: float | None
    type: str
    primary: bool
    sha256: str | None
    download_url: str | None

    @property
    def size_bytes(self) -> int | None:
        return None if self.size_kb is None else round(self.size_kb * 1024)


@dataclass(frozen=True, slots=True)
class CivitaiVersion:
    id: int
    name: str
    base_model: str
    nsfw_level: int
    files: tuple[CivitaiFile, ...] = ()
    download_url: str | None = None
    model_id: int | None = None
    model_name: str = ""
    model_type: str = ""
    model_nsfw: bool = False

    @property
    def nsfw(self) -> bool:
        return self.model_nsfw or bool(self.nsfw_level & ~SFW_LEVELS)

    def primary_file(self) -> CivitaiFile:
        """The file CivitAI marks primary; else the first model file; refused when there is none."""
        chosen = next((f for f in self.files if f.primary), None) or next(
            (f for f in self.files if f.type == "Model"), None)
        if chosen is None:
            raise NotFoundError(f"version {self.id} has no model file to download", provider="civitai")
        return chosen


@dataclass(frozen=True, slots=True)
class CivitaiModel:
    id: int
    name: str
    type: str
    nsfw: bool
    downloads: int
    creator: str
    tags: tuple[str, ...]
    versions: tuple[CivitaiVersion, ...]


@dataclass(frozen=True, slots=True)
class CivitaiPage:
    models: tuple[CivitaiModel, ...]
    next_url: str | None = None


def safe_file_name(name: str, provider: str = "civitai") -> str:
    """`name` if it is one plain file name, else ProtocolError: the name comes from CivitAI and becomes a path
    on disk, so a separator, `..`, a leading dot or a control character is refused, never repaired."""
    if (not name or name in (".", "..") or name.startswith(".") or _UNSAFE_NAME.search(name)
            or len(name.encode("utf-8", "surrogatepass")) > MAX_FILE_NAME_BYTES or name != name.strip()):
        raise ProtocolError(f"refusing the file name {one_line(name)[:120]!r}: not a plain file name",
                            provider=provider)
    return name


class CivitaiClient:
    """Reads CivitAI's public API at `base_url` (the `…/api` root; tests point it at the emulator)."""

    def __init__(self, client: httpx.AsyncClient, *, base_url: str = DEFAULT_BASE_URL,
                 token: KeySource | None = None, allow_nsfw: bool = False, timeout_s: float = 30.0,
                 name: str = "civitai") -> None:
        self.client = client
        self.base_url = base_url.rstrip("/")
        self.token = token
        self.allow_nsfw = allow_nsfw
        self.timeout_s = timeout_s
        self.name = name

    def same_origin(self, url: str) -> bool:
        """Whether `url` is on CivitAI's own host: only there does the token go."""
        ours, theirs = httpx.URL(self.base_url), httpx.URL(url)
        return (ours.scheme, ours.host, ours.port) == (theirs.scheme, theirs.host, theirs.port)

    def auth_headers(self) -> dict[str, str]:
        token = self.token() if self.token else None
        return {"authorization": f"Bearer {token}"} if token else {}

    async def _get(self, url: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        if not self.same_origin(url):
            raise ProtocolError(f"refusing a link off {httpx.URL(self.base_url).host}: {one_line(url)[:200]}",
                                provider=self.name)
        response = await send(self.client, "GET", url, provider=self.name,
                              headers={"accept": "application/json", **self.auth_headers()}, params=params,
                              timeout_s=self.timeout_s, max_bytes=MAX_LISTING_BYTES)
        return expect_dict(parse_json(response.content, self.name, f"GET {httpx.URL(url).path}"), self.name,
                           f"GET {httpx.URL(url).path}")

    async def search_page(self, query: str = "", *, model_type: str | None = None, base_model: str | None = None,
                          sort: str = "Most Downloaded", limit: int = 20) -> CivitaiPage:
        """The first page of `GET /v1/models`; `model_type` is checkpoint or lora."""
        params: dict[str, Any] = {"sort": sort, "limit": limit}
        if query:
            params["query"] = query
        if model_type is not None:
            if model_type not in TYPES:
                raise BadRequestError(f"unknown model type {model_type!r}; known: {', '.join(TYPES)}",
                                      provider=self.name)
            params["types"] = TYPES[model_type]
        if base_model:
            params["baseModels"] = base_model
        if not self.allow_nsfw:
            params["nsfw"] = "false"
        url = f"{self.base_url}/v1/models"
        return self._page(await self._get(url, params), httpx.URL(url).copy_merge_params(params))

    async def next_page(self, page: CivitaiPage) -> CivitaiPage | None:
        if page.next_url is None:
            return None
        return self._page(await self._get(page.next_url), httpx.URL(page.next_url))

    def _page(self, body: dict[str, Any], url: httpx.URL) -> CivitaiPage:
        items = body.get("items")
        if not isinstance(items, list):
            raise ProtocolError("GET /v1/models without `items`: not the CivitAI API", provider=self.name)
        models = [model for item in items if (model := self._model(item)) is not None]
        metadata = body.get("metadata")
        next_url: str | None = None
        if isinstance(metadata, dict):
            next_page, cursor = metadata.get("nextPage"), metadata.get("nextCursor")
            if isinstance(next_page, str) and next_page:
                next_url = next_page
            elif isinstance(cursor, str | int) and not isinstance(cursor, bool) and str(cursor):
                next_url = str(url.copy_set_param("cursor", str(cursor)))
        return CivitaiPage(tuple(models), next_url)

    async def search(self, query: str = "", *, model_type: str | None = None, base_model: str | None = None,
                     sort: str = "Most Downloaded", limit: int = 20, max_results: int = 20) -> list[CivitaiModel]:
        """Models across pages until `max_results`, the last page, or MAX_PAGES pages."""
        page = await self.search_page(query, model_type=model_type, base_model=base_model, sort=sort, limit=limit)
        found: list[CivitaiModel] = list(page.models)
        seen: set[str] = set()
        for _ in range(MAX_PAGES - 1):
            if len(found) >= max_results or page.next_url is None or page.next_url in seen:
                break  # (a server that hands back the same link twice would loop)
            seen.add(page.next_url)
            following = await self.next_page(page)
            if following is None:
                break
            page = following
            found.extend(page.models)
        return found[:max_results]

    async def version(self, version_id: int) -> CivitaiVersion:
        """`GET /v1/model-versions/{id}`; a version marked NSFW is refused unless allowed."""
        body = await self._get(f"{self.base_url}/v1/model-versions/{int(version_id)}")
        version = _version(body)
        if version is None or version.id != version_id:
            raise ProtocolError(f"GET /v1/model-versions/{version_id}: not the version asked for",
                                provider=self.name)
        if version.nsfw and not self.allow_nsfw:
            raise BadRequestError(f"version {version_id} is marked NSFW; set allow_nsfw: true on provider "
                                  f"{self.name} to fetch it", provider=self.name)
        return version

    def _model(self, item: Any) -> CivitaiModel | None:
        if not isinstance(item, dict) or not _is_int(item.get("id")):
            return None
        # The model's own nsfwLevel is not read: it sums up its versions, and a safe model with one R-rated
        # version must still show its safe ones.
        nsfw = item.get("nsfw") is True
        raw_versions = item.get("modelVersions")
        versions = [v for raw in (raw_versions if isinstance(raw_versions, list) else ())
                    if (v := _version(raw)) is not None]
        if not self.allow_nsfw:
            if nsfw:
                return None
            safe = [v for v in versions if not v.nsfw]
            if versions and not safe:  # every version is NSFW: so is the model, whatever its flag says
                return None
            versions = safe
        stats, creator, tags = item.get("stats"), item.get("creator"), item.get("tags")
        return CivitaiModel(
            id=item["id"], name=_text(item.get("name")), type=_text(item.get("type")), nsfw=nsfw,
            downloads=_int(stats.get("downloadCount")) if isinstance(stats, dict) else 0,
            creator=_text(creator.get("username")) if isinstance(creator, dict) else "",
            tags=tuple(_text(t) for t in tags if isinstance(t, str)) if isinstance(tags, list) else (),
            versions=tuple(versions))


def _version(raw: Any) -> CivitaiVersion | None:
    if not isinstance(raw, dict) or not _is_int(raw.get("id")):
        return None
    model: dict[str, Any] = raw["model"] if isinstance(raw.get("model"), dict) else {}
    files = raw.get("files")
    return CivitaiVersion(
        id=raw["id"], name=_text(raw.get("name")), base_model=_text(raw.get("baseModel")),
        nsfw_level=_int(raw.get("nsfwLevel")),
        files=tuple(f for item in (files if isinstance(files, list) else ()) if (f := _file(item)) is not None),
        download_url=raw["downloadUrl"] if isinstance(raw.get("downloadUrl"), str) else None,
        model_id=raw["modelId"] if _is_int(raw.get("modelId")) else None,
        model_name=_text(model.get("name")), model_type=_text(model.get("type")),
        model_nsfw=model.get("nsfw") is True)


def _file(raw: Any) -> CivitaiFile | None:
    if not isinstance(raw, dict) or not isinstance(raw.get("name"), str):
        return None
    hashes = raw.get("hashes")
    sha = hashes.get("SHA256") if isinstance(hashes, dict) else None
    size = raw.get("sizeKB")
    return CivitaiFile(
        id=raw["id"] if _is_int(raw.get("id")) else None, name=raw["name"],
        size_kb=float(size) if isinstance(size, int | float) and not isinstance(size, bool) and size >= 0 else None,
        type=_text(raw.get("type")), primary=raw.get("primary") is True,
        sha256=sha.lower() if isinstance(sha, str) and _SHA256.match(sha) else None,
        download_url=raw["downloadUrl"] if isinstance(raw.get("downloadUrl"), str) else None)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _int(value: Any) -> int:
    return value if _is_int(value) and value >= 0 else 0


def _text(value: Any) -> str:
    """A name from CivitAI, kept as sent; made terminal-safe where it is shown."""
    return value if isinstance(value, str) else ""
