"""Hugging Face Hub client: model search and repository file listing, both paged by the `Link` header.

Shapes follow PROTOCOLS.md §6.3: search and Link paging from hub-docs' api.md, the /tree listing and /resolve
URLs as other clients use them. Documented, not recorded from the Hub (no fixture).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx

from providers.base import KeySource
from providers.downloads import DownloadResult, ProgressCallback, download_file, safe_destination
from providers.errors import BadRequestError, NotFoundError, ProtocolError
from providers.http import MAX_LISTING_BYTES, parse_json, send

DEFAULT_BASE_URL = "https://huggingface.co"
MAX_PAGES = 20
SEARCH_FIELDS = ("downloads", "likes", "lastModified", "tags", "gated", "private", "pipeline_tag", "library_name")
"""What `expand[]` asks search for: the default fields plus lastModified, which the Hub sends only when asked."""
"""A bound on Link-header paging, so a server that always links onward cannot loop us forever."""

_REPO_ID = re.compile(r"^[A-Za-z0-9][\w.-]*(/[\w.-]+)?$")
_QUANT = re.compile(r"(?i)(?:^|[-_.])((?:I?Q\d(?:_[A-Z0-9]+)*)|BF16|F16|F32)(?=[-_.]|$)")


@dataclass(frozen=True, slots=True)
class HubFile:
    """One file of a repository; `size` is the real size (the LFS object's, not the pointer's)."""

    path: str
    size: int | None = None
    lfs_sha256: str | None = None

    @property
    def is_gguf(self) -> bool:
        return self.path.lower().endswith(".gguf")

    @property
    def quantization(self) -> str | None:
        """The quantization named in a GGUF file name, e.g. "Q4_K_M" in "model-Q4_K_M.gguf"."""
        stem = self.path.rsplit("/", 1)[-1].removesuffix(".gguf")
        found = _QUANT.findall(stem)
        return found[-1].upper() if found else None


@dataclass(frozen=True, slots=True)
class HubModel:
    """A model repository as search lists it; `gguf_files` is filled by `HubClient.with_gguf_files`."""

    id: str
    downloads: int = 0
    likes: int = 0
    tags: tuple[str, ...] = ()
    pipeline_tag: str | None = None
    library: str | None = None
    gated: bool = False
    private: bool = False
    gguf_files: tuple[HubFile, ...] = ()
    last_modified: str | None = None
    """ISO 8601, as the Hub says it; only when search was asked for it (`expand`)."""


@dataclass(frozen=True, slots=True)
class HubPage:
    """One page of search results and the link to the next, if the Hub gave one."""

    models: tuple[HubModel, ...]
    next_url: str | None = None


class HubClient:
    """Reads the Hub's public API. `base_url` is configurable so tests and mirrors can stand in for it."""

    def __init__(self, client: httpx.AsyncClient, *, base_url: str = DEFAULT_BASE_URL,
                 token: KeySource | None = None, timeout_s: float = 30.0, name: str = "huggingface-hub") -> None:
        self.client = client
        self.base_url = base_url.rstrip("/")
        self.token = token
        self.timeout_s = timeout_s
        self.name = name

    def _headers(self) -> dict[str, str]:
        token = self.token() if self.token else None
        return {"accept": "application/json", **({"authorization": f"Bearer {token}"} if token else {})}

    async def _get(self, url: str, params: dict[str, Any] | None = None) -> tuple[Any, str | None]:
        """GET a JSON page; returns it with the absolute `rel="next"` link, refusing links off this host."""
        response = await send(self.client, "GET", url, provider=self.name, headers=self._headers(), params=params,
                              timeout_s=self.timeout_s, max_bytes=MAX_LISTING_BYTES)
        body = parse_json(response.content, self.name, f"GET {httpx.URL(url).path}")
        link = response.links.get("next", {}).get("url")
        if not link:
            return body, None
        next_url = response.url.join(link)
        # The token travels with every page; a next link to another host must not receive it.
        if (next_url.scheme, next_url.host, next_url.port) != (response.url.scheme, response.url.host,
                                                               response.url.port):
            raise ProtocolError(f"next-page link leaves {response.url.host}: {next_url.host}", provider=self.name)
        return body, str(next_url)

    async def search_page(self, search: str = "", *, filter_tag: str | None = "gguf", sort: str = "downloads",
                          limit: int = 20, author: str | None = None, expand: tuple[str, ...] = ()) -> HubPage:
        """The first page of `GET /api/models`, most downloaded first by default. With `expand` the Hub sends
        only the id and those fields (SEARCH_FIELDS: what the other defaults give, and the last update)."""
        params: dict[str, Any] = {"sort": sort, "direction": -1, "limit": limit}
        if expand:
            params["expand[]"] = list(expand)
        if search:
            params["search"] = search
        if filter_tag:
            params["filter"] = filter_tag
        if author:
            params["author"] = author
        body, next_url = await self._get(f"{self.base_url}/api/models", params)
        return HubPage(_parse_models(body, self.name), next_url)

    async def next_page(self, page: HubPage) -> HubPage | None:
        """The page after `page`, or None on the last one."""
        if page.next_url is None:
            return None
        body, next_url = await self._get(page.next_url)
        return HubPage(_parse_models(body, self.name), next_url)

    async def search(self, search: str = "", *, filter_tag: str | None = "gguf", sort: str = "downloads",
                     limit: int = 20, max_results: int = 100, expand: tuple[str, ...] = ()) -> list[HubModel]:
        """Search results across pages until `max_results` or the last page (at most MAX_PAGES pages)."""
        page: HubPage | None = await self.search_page(search, filter_tag=filter_tag, sort=sort, limit=limit,
                                                      expand=expand)
        models: list[HubModel] = []
        for _ in range(MAX_PAGES):
            if page is None:
                break
            models.extend(page.models)
            if len(models) >= max_results:
                break
            page = await self.next_page(page)
        return models[:max_results]

    async def list_files(self, repo_id: str, revision: str = "main") -> list[HubFile]:
        """Every file of a repository at `revision` (recursive), with sizes, following Link pages."""
        if not _REPO_ID.match(repo_id) or ".." in repo_id or not re.match(r"^\w[\w.-]*$", revision):
            raise BadRequestError(f"not a Hub repository id or revision: {repo_id!r} @ {revision!r}",
                                  provider=self.name)
        url: str | None = f"{self.base_url}/api/models/{repo_id}/tree/{revision}"
        params: dict[str, Any] | None = {"recursive": "true", "expand": "false"}
        files: list[HubFile] = []
        for _ in range(MAX_PAGES):
            if url is None:
                break
            body, url = await self._get(url, params)
            params = None  # the next link already carries the query
            files.extend(_parse_tree(body, self.name))
        return files

    async def with_gguf_files(self, model: HubModel) -> HubModel:
        """`model` with its GGUF files (and their sizes) filled in."""
        files = await self.list_files(model.id)
        return replace(model, gguf_files=tuple(f for f in files if f.is_gguf))

    def download_url(self, repo_id: str, filename: str, revision: str = "main") -> str:
        """Where a file is fetched from (the Hub answers with a redirect to its CDN)."""
        return f"{self.base_url}/{repo_id}/resolve/{quote(revision, safe='')}/{quote(filename, safe='/')}"

    async def file_entry(self, repo_id: str, path: str, revision: str = "main") -> HubFile:
        """The listing's entry for one file (its size and SHA-256); NotFoundError when the repository has none."""
        found = next((f for f in await self.list_files(repo_id, revision) if f.path == path), None)
        if found is None:
            raise NotFoundError(f"{repo_id} has no file {path!r} at {revision}", status=404, provider=self.name)
        return found

    async def download(self, repo_id: str, path: str, directory: Path, *, revision: str = "main",
                       progress: ProgressCallback | None = None) -> DownloadResult:
        """One file into `directory` (keeping its folders inside the repository), resumable and checked against
        the SHA-256 the listing gives for LFS files. A name that would leave `directory` is refused
        (BadRequestError) before any request; a gated repository without access is AuthFailedError."""
        safe_destination(directory, path)  # the caller's name, refused before anything is asked
        entry = await self.file_entry(repo_id, path, revision)
        dest = safe_destination(directory, entry.path)
        token = self.token() if self.token else None
        headers = {"authorization": f"Bearer {token}"} if token else {}
        return await download_file(self.client, self.download_url(repo_id, entry.path, revision), dest,
                                   expected_sha256=entry.lfs_sha256, expected_size=entry.size, headers=headers,
                                   progress=progress)


def _parse_models(body: Any, provider: str) -> tuple[HubModel, ...]:
    if not isinstance(body, list):
        raise ProtocolError("/api/models reply is not a list", provider=provider)
    models: list[HubModel] = []
    for item in body:
        if not isinstance(item, dict) or not isinstance(item.get("id"), str):
            continue
        tags = item.get("tags")
        pipeline, library = item.get("pipeline_tag"), item.get("library_name")
        models.append(HubModel(
            id=item["id"], downloads=_int(item.get("downloads")), likes=_int(item.get("likes")),
            tags=tuple(t for t in tags if isinstance(t, str)) if isinstance(tags, list) else (),
            pipeline_tag=pipeline if isinstance(pipeline, str) else None,
            library=library if isinstance(library, str) else None,
            gated=bool(item.get("gated")), private=bool(item.get("private")),
            last_modified=modified if isinstance(modified := item.get("lastModified"), str) else None,
        ))
    return tuple(models)


def _parse_tree(body: Any, provider: str) -> list[HubFile]:
    if not isinstance(body, list):
        raise ProtocolError("tree listing is not a list", provider=provider)
    files: list[HubFile] = []
    for entry in body:
        if not isinstance(entry, dict) or entry.get("type") != "file" or not isinstance(entry.get("path"), str):
            continue
        lfs = entry.get("lfs")
        if isinstance(lfs, dict):
            # lfs.oid being the file's SHA-256 is assumed (PROTOCOLS.md gives only the field names).
            size, sha = lfs.get("size"), lfs.get("oid")
        else:
            size, sha = entry.get("size"), None
        files.append(HubFile(entry["path"], size if isinstance(size, int) else None,
                             sha if isinstance(sha, str) else None))
    return files


def _int(value: Any) -> int:
    return value if isinstance(value, int) else 0
