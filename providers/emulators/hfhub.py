"""A Hugging Face Hub emulator: model search, the /tree file listing and /resolve downloads, with the shared faults.

Shapes as PROTOCOLS.md §6.3 gives them: `GET /api/models` (search, filter, sort, direction, limit, author,
`expand[]`) paged by the `Link` header; `GET /api/models/{repo}/tree/{revision}` (`recursive`) with LFS entries
whose `lfs.oid` is the file's SHA-256; `GET|HEAD /{repo}/resolve/{revision}/{file}` answering an LFS file with a
302 to a CDN path (here `/cdn/...` on the same server) that serves `Range` requests (206, or 416 past the end), and
a small file directly. A gated repository refuses its files with the Hub's own words: 401 without a token, 403 for
a token without access (one starting with NO_ACCESS_TOKEN_PREFIX), each with `X-Error-Code: GatedRepo`.

Files have deterministic content (seeded by repository and path), so their SHA-256 is known. The `badhash` fault
serves other bytes of the same length; `cut` drops the connection halfway through a file; `stall_mid` stops after a
few pieces. Every request is logged in `app.state.hub.requests` (method, path, Range, whether a token came).
"""

from __future__ import annotations

import asyncio
import hashlib
import random
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from functools import cache
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from providers.emulators.faults import CHUNKS_BEFORE_MID_FAULT, FaultPlan, RequestFaults, control_faults
from providers.emulators.link_paging import link_page
from providers.emulators.text import Pace
from providers.emulators.tgi import HUB_REPOS, hub_files, hub_model

PIECE_BYTES = 64 * 1024
"""A file is sent in pieces of this size, so mid-body faults strike after some bytes have arrived."""
TREE_PAGE_SIZE = 4
"""Entries per /tree page: small, so a listing spans pages."""
NO_ACCESS_TOKEN_PREFIX = "hf_noaccess"
"""A token starting with this is valid but has not been granted a gated repository; any other token has."""
COMMIT = "0123456789abcdef0123456789abcdef01234567"
MIB = 1024 * 1024


@dataclass(frozen=True, slots=True)
class HubRepo:
    """A repository whose files can be downloaded: (path, size) each; sizes small enough for tests."""

    id: str
    downloads: int
    likes: int
    last_modified: str
    files: tuple[tuple[str, int], ...]
    gated: bool = False


REPOS: tuple[HubRepo, ...] = (
    HubRepo("lab-models/TinyStories-15M-GGUF", 52_000, 41, "2025-11-03T09:12:44.000Z", (
        ("TinyStories-15M-Q4_K_M.gguf", 3 * MIB + 17), ("TinyStories-15M-Q8_0.gguf", 5 * MIB + 3),
        ("fp16/TinyStories-15M-F16.gguf", MIB + 5))),
    HubRepo("google/gemma-3-1b-it-qat-q4_0-gguf", 310_000, 220, "2025-04-10T16:01:02.000Z", (
        ("gemma-3-1b-it-q4_0.gguf", 2 * MIB + 11),), gated=True),
    HubRepo("lab-models/hostile-names-GGUF", 3, 0, "2025-01-01T00:00:00.000Z", (
        ("../../escape-Q4_K_M.gguf", 1024), ("/etc/cron.d/evil-Q4_K_M.gguf", 1024),
        ("sub/../../../up-Q4_K_M.gguf", 1024), ("nul\x00name-Q4_K_M.gguf", 1024))),
)
SMALL_FILES = ((".gitattributes", 1_519), ("README.md", 2_048))
"""Every repository's plain (non-LFS) files, served directly by /resolve."""


@cache
def file_bytes(repo_id: str, path: str, size: int, variant: str = "") -> bytes:
    """A file's content: the same bytes for the same repository and path, every run."""
    return random.Random(f"{variant}{repo_id}/{path}").randbytes(size)


@cache
def file_sha256(repo_id: str, path: str, size: int) -> str:
    return hashlib.sha256(file_bytes(repo_id, path, size)).hexdigest()


def _git_oid(text: str) -> str:
    return hashlib.sha1(text.encode(), usedforsecurity=False).hexdigest()


def _tree_entries(repo: HubRepo) -> list[dict[str, Any]]:
    """Every entry of a repository as `?recursive=true` lists them: directories, plain files, LFS files."""
    entries: list[dict[str, Any]] = [{"type": "file", "oid": _git_oid(repo.id + path), "size": size, "path": path}
                                     for path, size in SMALL_FILES]
    directories = sorted({path.rsplit("/", 1)[0] for path, _ in repo.files if "/" in path.lstrip("/")})
    entries += [{"type": "directory", "oid": _git_oid(repo.id + d), "size": 0, "path": d} for d in directories]
    entries += [{"type": "file", "oid": _git_oid(repo.id + path), "size": size, "path": path,
                 "lfs": {"oid": file_sha256(repo.id, path, size), "size": size, "pointerSize": 134}}
                for path, size in repo.files]
    return entries


def _search_item(repo: HubRepo) -> dict[str, Any]:
    item = hub_model(repo.id, repo.downloads, repo.likes, gguf=True)
    return {**item, "gated": "manual" if repo.gated else False, "lastModified": repo.last_modified}


def _catalog() -> list[dict[str, Any]]:
    """What search lists: these repositories and the TGI emulator's (those list files but serve none)."""
    others = [{**hub_model(repo, downloads, likes, gguf), "lastModified": "2025-09-25T00:00:00.000Z"}
              for repo, downloads, likes, _, gguf in HUB_REPOS]
    return [_search_item(repo) for repo in REPOS] + others


@dataclass(frozen=True, slots=True)
class LoggedRequest:
    method: str
    path: str
    range: str | None
    authorized: bool


@dataclass
class HubState:
    """What a test reads back: every request the emulator answered, in order."""

    requests: list[LoggedRequest] = field(default_factory=list)

    def ranges(self, path_part: str) -> list[str | None]:
        """The Range header of each GET whose path contains `path_part`."""
        return [r.range for r in self.requests if r.method == "GET" and path_part in r.path]


def _error(status: int, message: str, code: str | None = None, headers: dict[str, str] | None = None) -> Response:
    """The Hub's error reply: `{"error": message}`, with X-Error-Code / X-Error-Message as huggingface_hub reads."""
    extra = {**(headers or {})}
    if code:
        extra.update({"x-error-code": code, "x-error-message": message})
    return JSONResponse({"error": message}, status_code=status, headers=extra)


_STATUS_MESSAGES = {401: "Invalid credentials in Authorization header", 402: "Payment required",
                    429: "You have exceeded our rate limit. Please retry later.", 500: "Internal Error",
                    503: "Service Unavailable", 529: "Overloaded"}


def _paged(request: Request, items: list[Any], default_limit: int) -> Response:
    return link_page(request, items, default_limit, lambda: _error(400, "Invalid limit or cursor"))


def _bearer(request: Request) -> str | None:
    value = request.headers.get("authorization", "")
    return value[7:].strip() or None if value.lower().startswith("bearer ") else None


def _gate(repo: HubRepo, request: Request) -> Response | None:
    """The Hub's refusal of a gated repository's file, or None when the token has access."""
    if not repo.gated:
        return None
    token = _bearer(request)
    if token is None:
        return _error(401, f"Access to model {repo.id} is restricted. You must have access to it and be "
                           "authenticated to access it. Please log in.", "GatedRepo")
    if token.startswith(NO_ACCESS_TOKEN_PREFIX):
        return _error(403, f"Access to model {repo.id} is restricted and you are not in the authorized list. "
                           f"Visit https://huggingface.co/{repo.id} to ask for access.", "GatedRepo")
    return None


def _byte_range(header: str | None, size: int) -> tuple[int, int] | Response | None:
    """(first, last) asked by `Range: bytes=A-[B]`; None for the whole file; a 416 reply past the end."""
    if not header or not header.startswith("bytes="):
        return None
    first_text, _, last_text = header[6:].partition("-")
    try:
        first = int(first_text)
        last = min(int(last_text), size - 1) if last_text else size - 1
    except ValueError:
        return None  # a Range the server does not understand is ignored: the whole file, 200
    if first >= size or first > last:
        return Response(b"", status_code=416, headers={"content-range": f"bytes */{size}"})
    return first, last


def _file_reply(request: Request, faults: RequestFaults, repo_id: str, path: str, size: int,
                headers: dict[str, str]) -> Response:
    """A file's bytes, whole (200) or a range (206), shaped by the badhash, cut and stall_mid faults."""
    wanted = _byte_range(request.headers.get("range"), size)
    if isinstance(wanted, Response):
        return wanted
    content = file_bytes(repo_id, path, size, "badhash:" if faults.has("badhash") else "")
    first, last = wanted if wanted is not None else (0, size - 1)
    body = content[first:last + 1]
    reply_headers = {**headers, "accept-ranges": "bytes", "content-length": str(len(body)),
                     "content-type": "application/octet-stream"}
    if wanted is not None:
        reply_headers["content-range"] = f"bytes {first}-{last}/{size}"
    if request.method == "HEAD":
        return Response(b"", status_code=206 if wanted else 200, headers=reply_headers)

    async def pieces() -> AsyncIterator[bytes]:
        cut_at = len(body) // 2 if faults.has("cut") else None
        for index, start in enumerate(range(0, len(body), PIECE_BYTES)):
            if index == CHUNKS_BEFORE_MID_FAULT and (stall := faults.get("stall_mid")) is not None:
                await asyncio.sleep(stall.seconds(30.0))
            piece = body[start:start + PIECE_BYTES]
            if cut_at is not None and start + len(piece) > cut_at:
                yield piece[: max(1, cut_at - start)]
                raise ConnectionAbortedError("emulator fault: cut")
            yield piece

    return StreamingResponse(pieces(), status_code=206 if wanted else 200, headers=reply_headers)


def build(*, plan: FaultPlan, pace: Pace, seed: int, flavour: str) -> Starlette:  # noqa: ARG001
    """The emulator app; `flavour` is always "hfhub"."""
    state = HubState()
    by_id = {repo.id: repo for repo in REPOS}
    others = {repo: (parameters, gguf) for repo, _, _, parameters, gguf in HUB_REPOS}

    async def begin(request: Request) -> tuple[RequestFaults, Response | None]:
        state.requests.append(LoggedRequest(request.method, request.url.path, request.headers.get("range"),
                                            _bearer(request) is not None))
        faults = plan.for_request(request)
        await faults.before_response()
        fault = faults.status_fault()
        if fault is not None and fault.status is not None:
            return faults, _error(fault.status, _STATUS_MESSAGES.get(fault.status, "error"),
                                  headers=faults.retry_after_headers())
        return faults, None

    async def search_models(request: Request) -> Response:
        faults, failed = await begin(request)
        if failed is not None:
            return failed
        query = request.query_params
        search, tag, author = query.get("search", "").lower(), query.get("filter"), query.get("author")
        items = [m for m in _catalog() if search in m["id"].lower() and (not tag or tag in m["tags"])
                 and (not author or m["id"].startswith(author + "/"))]
        key = {"downloads": "downloads", "likes": "likes", "lastModified": "lastModified"}.get(
            query.get("sort", "downloads"), "downloads")
        items.sort(key=lambda m: (m[key], m["id"]), reverse=query.get("direction", "-1") == "-1")
        if expand := query.getlist("expand[]"):  # the Hub then answers only the id and the fields asked for
            items = [{k: v for k, v in m.items() if k in ("_id", "id", *expand)} for m in items]
        else:  # lastModified is not among the default fields
            items = [{k: v for k, v in m.items() if k != "lastModified"} for m in items]
        if faults.has("cut") or faults.has("malformed") or faults.has("truncate"):
            return faults.json_reply(items, malformed=b'[{"_id": ')
        return _paged(request, items, default_limit=1000)

    async def repo_tree(request: Request) -> Response:
        _, failed = await begin(request)
        if failed is not None:
            return failed
        repo_id = f"{request.path_params['owner']}/{request.path_params['name']}"
        if request.path_params["revision"] != "main":
            return _error(404, f"Invalid rev id: {request.path_params['revision']}", "RevisionNotFound")
        if repo_id in by_id:
            entries = _tree_entries(by_id[repo_id])
        elif repo_id in others:
            entries = hub_files(repo_id, *others[repo_id])
        else:
            return _error(404, "Repository not found", "RepoNotFound")
        if request.query_params.get("recursive", "").lower() not in ("1", "true"):
            entries = [e for e in entries if "/" not in e["path"].lstrip("/")]
        return _paged(request, entries, default_limit=TREE_PAGE_SIZE)

    async def resolve(request: Request) -> Response:
        faults, failed = await begin(request)
        if failed is not None:
            return failed
        params = request.path_params
        repo = by_id.get(f"{params['owner']}/{params['name']}")
        if repo is None:
            return _error(404, "Repository not found", "RepoNotFound")
        if (refused := _gate(repo, request)) is not None:
            return refused
        if params["revision"] != "main":
            return _error(404, f"Invalid rev id: {params['revision']}", "RevisionNotFound")
        path = params["file"]
        small = dict(SMALL_FILES)
        if path in small:
            return _file_reply(request, faults, repo.id, path, small[path],
                               {"x-repo-commit": COMMIT, "etag": f'"{_git_oid(repo.id + path)}"'})
        size = dict(repo.files).get(path)
        if size is None:
            return _error(404, "Entry not found", "EntryNotFound")
        sha = file_sha256(repo.id, path, size)
        # As the Hub: the redirect says the LFS object's hash and size, and the CDN address carries a signature.
        location = f"/cdn/{repo.id}/{sha}?expires=1999999999&signature={_git_oid(sha)[:16]}"
        return Response(b"", status_code=302, headers={
            "location": location, "x-repo-commit": COMMIT, "x-linked-etag": f'"{sha}"', "x-linked-size": str(size),
            "etag": f'"{sha}"'})

    async def cdn(request: Request) -> Response:
        faults, failed = await begin(request)
        if failed is not None:
            return failed
        params = request.path_params
        repo = by_id.get(f"{params['owner']}/{params['name']}")
        found = next(((path, size) for path, size in repo.files
                      if file_sha256(repo.id, path, size) == params["sha"]), None) if repo else None
        if repo is None or found is None:
            return Response(b"<Error><Code>NoSuchKey</Code></Error>", status_code=404,
                            media_type="application/xml")
        return _file_reply(request, faults, repo.id, found[0], found[1], {"etag": f'"{params["sha"]}"'})

    async def faults_route(request: Request) -> Response:
        return await control_faults(request, plan)

    app = Starlette(routes=[
        Route("/api/models", search_models, methods=["GET"]),
        Route("/api/models/{owner}/{name}/tree/{revision}", repo_tree, methods=["GET"]),
        Route("/cdn/{owner}/{name}/{sha}", cdn, methods=["GET", "HEAD"]),
        Route("/_emulator/faults", faults_route, methods=["GET", "POST"]),
        Route("/{owner}/{name}/resolve/{revision}/{file:path}", resolve, methods=["GET", "HEAD"]),
    ])
    app.state.hub = state
    return app
