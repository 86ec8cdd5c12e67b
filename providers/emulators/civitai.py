"""A CivitAI emulator: model search with cursor paging, model versions, the current user, and downloads that
redirect to a storage path serving byte ranges; the shared fault spec applies to every route.

Shapes follow PROTOCOLS.md §10.5 and developer.civitai.com (models, model-versions, users); none was recorded
from the real server, so error bodies and the storage path are guesses. Every file's bytes are a function of its
version id (`file_bytes`), so a test knows the SHA-256 the listing promises.

Test levers on `app.state.civitai` (a `Hub`): `ignore_nsfw_param` answers as a region that ignores `nsfw=false`;
`corrupt` serves other bytes for those version ids (a hash mismatch, as the shared `badhash` fault does for every
one); `endless` makes every page name a next one;
`requests` counts calls per route and `queries` keeps each search's parameters.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from providers.emulators.faults import FaultPlan, RequestFaults, control_faults, cut_response
from providers.emulators.n8n import REVOKED_KEY_PREFIX
from providers.emulators.text import Pace

Handler = Callable[[Request, RequestFaults], Awaitable[Response]]

FILE_SIZE_BASE = 96 * 1024
"""Files are small (a few chunks), sized per version so no two are alike."""
NSFW_LEVEL_SAFE, NSFW_LEVEL_R, NSFW_LEVEL_X = 1 | 2, 4, 8
_STATUS_MESSAGES = {401: "Unauthorized", 402: "Payment required", 429: "Too many requests",
                    500: "Internal server error", 503: "Service unavailable", 529: "Overloaded"}


@dataclass(frozen=True, slots=True)
class Version:
    id: int
    name: str
    base_model: str
    file_name: str
    nsfw_level: int = NSFW_LEVEL_SAFE
    needs_token: bool = False
    """Downloads answer 401 without a token, as for early-access versions."""


@dataclass(frozen=True, slots=True)
class Model:
    id: int
    name: str
    type: str
    tags: tuple[str, ...]
    downloads: int
    versions: tuple[Version, ...]
    nsfw: bool = False


_NAMED: tuple[Model, ...] = (
    Model(4384, "DreamShaper", "Checkpoint", ("anime", "base model", "photorealistic"), 1_200_000, (
        Version(128713, "8", "SD 1.5", "dreamshaper_8.safetensors"),
        Version(109123, "7", "SD 1.5", "dreamshaper_7.safetensors"))),
    Model(112902, "DreamShaper XL", "Checkpoint", ("base model", "sdxl"), 640_000, (
        Version(251662, "Turbo DPM++ SDE", "SDXL 1.0", "dreamshaperXL_turboDPMSDE.safetensors"),)),
    Model(133005, "Juggernaut XL", "Checkpoint", ("photorealistic", "sdxl"), 910_000, (
        Version(456194, "X Hyper", "SDXL 1.0", "juggernautXL_v10Hyper.safetensors", needs_token=True),
        Version(357609, "v9", "SDXL 1.0", "juggernautXL_v9.safetensors",
                nsfw_level=NSFW_LEVEL_SAFE | NSFW_LEVEL_R))),
    Model(58390, "Detail Tweaker LoRA", "LORA", ("detail", "tool"), 480_000, (
        Version(62833, "v1.0", "SD 1.5", "add_detail.safetensors"),)),
    Model(122359, "Detail Tweaker XL", "LORA", ("detail", "sdxl", "tool"), 210_000, (
        Version(135867, "v1.0", "SDXL 1.0", "add-detail-xl.safetensors"),)),
    Model(77001, "After Hours", "Checkpoint", ("nsfw",), 300_000, (
        Version(77002, "v2", "SD 1.5", "afterhours_v2.safetensors", nsfw_level=NSFW_LEVEL_X),), nsfw=True),
    Model(88001, "Path Trick", "LORA", ("tool",), 12, (
        Version(88002, "v1", "SD 1.5", "../../escape.safetensors"),
        Version(88003, "v2", "SD 1.5", "bell\x1b]0;owned\x07.safetensors"))),
)
_FILLER = tuple(
    Model(900_000 + n, f"Landscape Study {n:02d}", "Checkpoint", ("landscape",), 1000 - n, (
        Version(910_000 + n, "v1", "SD 1.5", f"landscape_study_{n:02d}.safetensors"),))
    for n in range(1, 31)
)
MODELS: tuple[Model, ...] = (*_NAMED, *_FILLER)
"""The catalogue: checkpoints and LoRAs across base models, an NSFW model, a safe model with one R-rated version,
a version that needs a token, two with hostile file names, and filler to page through."""

VERSIONS: dict[int, tuple[Model, Version]] = {v.id: (m, v) for m in MODELS for v in m.versions}


def file_bytes(version_id: int) -> bytes:
    """The file of a version: a repeated digest of its id, FILE_SIZE_BASE plus a per-version length."""
    size = FILE_SIZE_BASE + version_id % 4096
    block = hashlib.sha256(f"civitai-file-{version_id}".encode()).digest()
    return (block * (size // len(block) + 1))[:size]


def file_sha256(version_id: int) -> str:
    return hashlib.sha256(file_bytes(version_id)).hexdigest()


@dataclass
class Hub:
    ignore_nsfw_param: bool = False
    corrupt: set[int] = field(default_factory=set)
    endless: bool = False
    requests: Counter[str] = field(default_factory=Counter)
    queries: list[dict[str, list[str]]] = field(default_factory=list)
    """The query parameters of each search, in order."""


def _token(request: Request) -> str | None:
    value = request.headers.get("authorization", "")
    token = value.removeprefix("Bearer ").strip() if value.startswith("Bearer ") else None
    return token or request.query_params.get("token") or None


def _file_json(root: str, version: Version) -> dict[str, Any]:
    size = len(file_bytes(version.id))
    sha = file_sha256(version.id)
    return {"id": version.id * 10 + 1, "name": version.file_name, "sizeKB": size / 1024, "type": "Model",
            "primary": True, "metadata": {"fp": "fp16", "size": "pruned", "format": "SafeTensor"},
            "pickleScanResult": "Success", "virusScanResult": "Success", "scannedAt": "2025-01-01T00:00:00.000Z",
            "hashes": {"AutoV2": sha[:10].upper(), "SHA256": sha.upper(), "CRC32": sha[:8].upper(),
                       "BLAKE3": hashlib.blake2s(file_bytes(version.id)).hexdigest().upper()},
            "downloadUrl": f"{root}/api/download/models/{version.id}?type=Model&format=SafeTensor"}


def _version_json(root: str, model: Model, version: Version, *, with_model: bool) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": version.id, "modelId": model.id, "name": version.name, "baseModel": version.base_model,
        "baseModelType": "Standard", "nsfwLevel": version.nsfw_level, "status": "Published",
        "availability": "EarlyAccess" if version.needs_token else "Public",
        "createdAt": "2025-01-01T00:00:00.000Z", "trainedWords": [],
        "stats": {"downloadCount": model.downloads // len(model.versions), "thumbsUpCount": 10},
        "files": [_file_json(root, version)], "images": [],
        "downloadUrl": f"{root}/api/download/models/{version.id}"}
    if with_model:
        body["model"] = {"name": model.name, "type": model.type, "nsfw": model.nsfw, "poi": False}
    return body


def _model_json(root: str, model: Model) -> dict[str, Any]:
    return {"id": model.id, "name": model.name, "description": "<p>emulated</p>", "type": model.type,
            "poi": False, "nsfw": model.nsfw, "nsfwLevel": _levels(model),
            "allowNoCredit": True, "allowCommercialUse": ["Image"], "allowDerivatives": True,
            "creator": {"username": "lab-creator", "image": None}, "tags": list(model.tags),
            "stats": {"downloadCount": model.downloads, "favoriteCount": 0, "commentCount": 0, "ratingCount": 0,
                      "rating": 0},
            "modelVersions": [_version_json(root, model, v, with_model=False) for v in model.versions]}


def _levels(model: Model) -> int:
    """A model's nsfwLevel: every level any of its versions has (guessed: the real server's rule is not
    documented)."""
    levels = 0
    for version in model.versions:
        levels |= version.nsfw_level
    return levels


def _routes(hub: Hub) -> dict[str, Handler]:
    def root(request: Request) -> str:
        return str(request.base_url).rstrip("/")

    async def models(request: Request, faults: RequestFaults) -> Response:
        hub.requests["models"] += 1
        query = request.query_params
        hub.queries.append({key: query.getlist(key) for key in query})
        try:
            limit = max(1, min(100, int(query.get("limit") or 20)))
            offset = int(query.get("cursor") or 0) if query.get("query") else (int(query.get("page") or 1) - 1) * limit
        except ValueError:
            return JSONResponse({"error": "Invalid input: limit, page and cursor are numbers"}, status_code=400)
        text = (query.get("query") or "").lower()
        types = set(query.getlist("types"))
        bases = set(query.getlist("baseModels"))
        found = [m for m in MODELS
                 if (not text or text in m.name.lower() or any(text in tag for tag in m.tags))
                 and (not types or m.type in types)
                 and (not bases or any(v.base_model in bases for v in m.versions))
                 and not (m.nsfw and query.get("nsfw") == "false" and not hub.ignore_nsfw_param)]
        if query.get("sort") == "Most Downloaded":
            found.sort(key=lambda m: -m.downloads)
        window = found[offset:offset + limit]
        more = hub.endless or offset + limit < len(found)
        if hub.endless and not window:
            window = found[:limit]
        metadata: dict[str, Any] = {"pageSize": limit}
        if more:
            following = offset + limit
            if query.get("query"):  # a query forces cursor paging
                metadata["nextCursor"] = str(following)
                url = request.url.include_query_params(cursor=str(following))
            else:
                metadata.update(totalItems=len(found), currentPage=offset // limit + 1)
                url = request.url.include_query_params(page=str(following // limit + 1))
            metadata["nextPage"] = str(url)
        return faults.json_reply({"items": [_model_json(root(request), m) for m in window], "metadata": metadata},
                                 malformed=b'{"items": [{"id": 4384, "name": ')

    async def version(request: Request, faults: RequestFaults) -> Response:
        hub.requests["model-versions"] += 1
        found = VERSIONS.get(_int(request.path_params["version_id"]))
        if found is None:
            return JSONResponse({"error": f"No version with id {request.path_params['version_id']}"},
                                status_code=404)
        return faults.json_reply(_version_json(root(request), *found, with_model=True),
                                 malformed=b'{"id": 1, "files": [')

    async def download(request: Request, _faults: RequestFaults) -> Response:
        hub.requests["download"] += 1
        found = VERSIONS.get(_int(request.path_params["version_id"]))
        if found is None:
            return JSONResponse({"error": "Model not found"}, status_code=404)
        _model, chosen = found
        token = _token(request)
        if (token is not None and token.startswith(REVOKED_KEY_PREFIX)) or (chosen.needs_token and token is None):
            # Guessed wording: the download route's refusal of a version that needs a logged-in user.
            return JSONResponse({"error": "Unauthorized", "message": "The creator of this asset requires you to be "
                                 "logged in to download it"}, status_code=401)
        return RedirectResponse(f"{root(request)}/storage/{chosen.id}/model.bin?sig=emulated", status_code=302)

    async def storage(request: Request, faults: RequestFaults) -> Response:
        hub.requests["storage"] += 1
        version_id = _int(request.path_params["version_id"])
        found = VERSIONS.get(version_id)
        if found is None:
            return Response(b"<Error><Code>NoSuchKey</Code></Error>", status_code=404, media_type="application/xml")
        data = file_bytes(version_id)
        if version_id in hub.corrupt or faults.has("badhash"):
            data = bytes(reversed(data))
        headers = {"accept-ranges": "bytes", "content-disposition": 'attachment; filename="model.safetensors"'}
        status, start = 200, 0
        wanted = request.headers.get("range", "")
        if wanted.startswith("bytes=") and wanted.endswith("-") and wanted[6:-1].isdigit():
            start = int(wanted[6:-1])
            if start >= len(data):
                return Response(b"", status_code=416, headers={"content-range": f"bytes */{len(data)}"})
            status = 206
            headers["content-range"] = f"bytes {start}-{len(data) - 1}/{len(data)}"
        if faults.has("cut"):
            return cut_response(data[start:], "application/octet-stream")
        return Response(data[start:], status_code=status, media_type="application/octet-stream", headers=headers)

    async def me(request: Request, faults: RequestFaults) -> Response:
        # As CivitAI's docs say (not recorded): 401 for a missing, malformed or revoked token alike.
        token = _token(request)
        if not token or token.startswith(REVOKED_KEY_PREFIX):
            return JSONResponse({"error": "Unauthorized"}, status_code=401)
        return faults.json_reply({"id": 12345, "username": "lab-user", "tier": "free", "status": "active",
                                  "isMember": False, "subscriptions": []}, malformed=b'{"id": 12345, "user')

    return {"GET /api/v1/models": models, "GET /api/v1/model-versions/{version_id}": version,
            "GET /api/download/models/{version_id}": download, "GET /storage/{version_id}/model.bin": storage,
            "GET /api/v1/me": me}


def _int(text: str) -> int:
    return int(text) if text.isdigit() else -1


def build(*, plan: FaultPlan, pace: Pace, seed: int, flavour: str) -> Starlette:  # noqa: ARG001
    """The emulator app; its levers are on `app.state.civitai`."""
    hub = Hub()

    def endpoint(handler: Handler) -> Callable[[Request], Awaitable[Response]]:
        async def run(request: Request) -> Response:
            faults = plan.for_request(request)
            await faults.before_response()
            if (fault := faults.status_fault()) is not None and fault.status is not None:
                return JSONResponse({"error": _STATUS_MESSAGES.get(fault.status, "error")},
                                    status_code=fault.status, headers=faults.retry_after_headers())
            return await handler(request, faults)

        return run

    async def faults_route(request: Request) -> Response:
        return await control_faults(request, plan)

    routes = [Route(key.partition(" ")[2], endpoint(handler), methods=[key.partition(" ")[0]])
              for key, handler in _routes(hub).items()]
    routes.append(Route("/_emulator/faults", faults_route, methods=["GET", "POST"]))
    app = Starlette(routes=routes)
    app.state.civitai = hub
    return app
