"""Emulators of the services beside the models (PROTOCOLS.md §10), for health and catalog: Chroma (v2 as 1.5.9
answers, or v1 only as servers before 0.5.16), Qdrant, Milvus's RESTful v2, n8n, CivitAI's model search and
current user, and Dropbox's space usage, with the shared fault spec.

Chroma and n8n answer in the shapes recorded from the stock servers (../shared/fixtures/chroma_*, n8n_*): the same
keys, nesting and types, error bodies and content types. The others follow PROTOCOLS.md; where they refuse a key,
the shape is a guess, not a recording.

Keys: every service accepts any key except one starting with REVOKED_KEY_PREFIX, which stands for a key the
service issued and then revoked (or a wrong one): it is refused where the real service checks keys.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from providers.emulators.faults import FaultPlan, RequestFaults, control_faults
from providers.emulators.n8n import ARCHIVED_WORKFLOWS as ARCHIVED_WORKFLOWS
from providers.emulators.n8n import JSON_TYPE as N8N_JSON
from providers.emulators.n8n import REVOKED_KEY_PREFIX, n8n_routes
from providers.emulators.n8n import WORKFLOWS as WORKFLOWS
from providers.emulators.text import Pace

COLLECTIONS = ("lab-notes", "papers", "support-tickets")
CHROMA_DATABASES = {"default_database": COLLECTIONS, "labdb": ("in-labdb",)}
"""The databases of Chroma's default_tenant and their collections (`labdb` as in the recorded second database)."""
CHROMA_VERSION = "1.0.0"
"""What Chroma 1.5.9's /api/v2/version says."""
CHROMA_V1_VERSION = "0.5.15"
"""The last Chroma without /api/v2."""
QDRANT_VERSION = "1.15.1"
TRACE_ID = {"chroma-trace-id": "0" * 32}
"""Chroma 1.5.9 sends this header with its errors (all zeros without tracing)."""

Handler = Callable[[Request, RequestFaults], Awaitable[Response]]

_STATUS_MESSAGES = {401: "Unauthorized", 402: "Payment required", 429: "Too many requests",
                    500: "Internal server error", 503: "Service unavailable", 529: "Overloaded"}


def _reply(body: Any, faults: RequestFaults) -> Response:
    return faults.json_reply(body, malformed=b'{"result": unterminated')


def _revoked(key: str | None) -> bool:
    return bool(key) and str(key).startswith(REVOKED_KEY_PREFIX)


def _bearer(request: Request) -> str | None:
    value = request.headers.get("authorization", "")
    return value.removeprefix("Bearer ").strip() if value.startswith("Bearer ") else None


def _status_error(flavour: str, status: int, headers: dict[str, str]) -> Response:
    message = _STATUS_MESSAGES.get(status, "error")
    if flavour == "milvus":
        # Milvus answers HTTP 200 with its own code; 1800 is "user hasn't authenticated".
        code = 1800 if status == 401 else 65535
        text = "user hasn't authenticated" if status == 401 else message
        return JSONResponse({"code": code, "message": text}, headers=headers)
    if flavour == "qdrant":
        return JSONResponse({"status": {"error": message}, "time": 0.0}, status_code=status, headers=headers)
    if flavour == "n8n":  # recorded: a revoked key's 401 (n8n_workflows_401_badkey.json)
        text = "unauthorized" if status == 401 else message
        return JSONResponse({"message": text}, status_code=status, headers={**headers, **N8N_JSON})
    if flavour == "civitai":
        return JSONResponse({"error": message}, status_code=status, headers=headers)
    if flavour == "dropbox":
        tag = "expired_access_token" if status == 401 else "too_many_requests" if status == 429 else "internal_error"
        return JSONResponse({"error_summary": f"{tag}/..", "error": {".tag": tag}}, status_code=status, headers=headers)
    # Chroma: the envelope of its recorded errors ({"error": name, "message": text}); the names here are guesses.
    return JSONResponse({"error": "AuthError" if status == 401 else "InternalError", "message": message},
                        status_code=status, headers={**headers, **TRACE_ID})


_HNSW = {"ef_construction": 100, "max_neighbors": 16, "ef_search": 100, "num_threads": 2, "batch_size": 100,
         "sync_threshold": 1000, "resize_factor": 1.2}


def _index(name: str, enabled: bool, config: dict[str, Any] | None = None) -> dict[str, Any]:
    return {name: {"enabled": enabled, "config": config if config is not None else {}}}


def _chroma_collection(name: str, number: int, database: str) -> dict[str, Any]:
    """One collection as Chroma 1.5.9 lists it (chroma_v2_collections.json): configuration, schema and all."""
    schema = {
        "defaults": {
            "string": {**_index("fts_index", False), **_index("string_inverted_index", True)},
            "float_list": _index("vector_index", False, {"space": "l2", "hnsw": dict(_HNSW)}),
            "sparse_vector": _index("sparse_vector_index", False,
                                    {"embedding_function": {"type": "unknown"}, "bm25": False}),
            "int": _index("int_inverted_index", True), "float": _index("float_inverted_index", True),
            "bool": _index("bool_inverted_index", True)},
        "keys": {
            "#embedding": {"float_list": _index("vector_index", True,
                                                {"space": "l2", "source_key": "#document", "hnsw": dict(_HNSW)})},
            "#document": {"string": {**_index("fts_index", True), **_index("string_inverted_index", False)}}}}
    hnsw = {"space": "l2", "ef_construction": 100, "ef_search": 100, "max_neighbors": 16, "resize_factor": 1.2,
            "sync_threshold": 1000}
    return {"id": f"00000000-0000-4000-8000-{number:012d}", "name": name,
            "configuration_json": {"hnsw": hnsw, "spann": None, "embedding_function": None}, "schema": schema,
            "metadata": {"team": "ops"} if number % 2 else None, "dimension": 2 + number % 3,
            "tenant": "default_tenant", "database": database, "log_position": 0, "version": 0}


def _chroma_not_found(message: str) -> Response:
    return JSONResponse({"error": "NotFoundError", "message": message}, status_code=404, headers=TRACE_ID)


def _chroma_routes(flavour: str) -> dict[str, Handler]:
    """Chroma 1.5.9 as recorded, or (`chroma-v1`) a server before 0.5.16 with the v1 API only, whose collection
    list takes the tenant and database as query parameters."""

    async def heartbeat(_request: Request, faults: RequestFaults) -> Response:
        return _reply({"nanosecond heartbeat": 1_796_174_786_574_482_979}, faults)

    async def version(_request: Request, faults: RequestFaults) -> Response:
        return _reply(CHROMA_VERSION if flavour == "chroma" else CHROMA_V1_VERSION, faults)

    def listing(tenant: str, database: str) -> list[dict[str, Any]]:
        # Recorded: a database that does not exist lists as an empty 200, not an error.
        names = CHROMA_DATABASES.get(database, ()) if tenant == "default_tenant" else ()
        offset = 10 * list(CHROMA_DATABASES).index(database) if names else 0
        return [_chroma_collection(name, offset + i, database) for i, name in enumerate(names)]

    async def collections(request: Request, faults: RequestFaults) -> Response:
        return _reply(listing(request.path_params["tenant"], request.path_params["database"]), faults)

    async def tenant(request: Request, faults: RequestFaults) -> Response:
        name = request.path_params["tenant"]
        if name != "default_tenant":
            return _chroma_not_found(f"Tenant [{name}] not found")
        return _reply({"name": name, "resource_name": None}, faults)

    async def database(request: Request, faults: RequestFaults) -> Response:
        name = request.path_params["database"]
        if request.path_params["tenant"] != "default_tenant" or name not in CHROMA_DATABASES:
            # Recorded: the same message when it is the tenant that is missing.
            return _chroma_not_found(f"Database [{name}] not found. Are you sure it exists?")
        return _reply({"id": f"00000000-0000-0000-0000-{list(CHROMA_DATABASES).index(name):012d}", "name": name,
                       "tenant": "default_tenant"}, faults)

    async def v1_gone(_request: Request, _faults: RequestFaults) -> Response:
        return JSONResponse({"error": "Unimplemented", "message": "The v1 API is deprecated. Please use /v2 apis"},
                            status_code=410, headers=TRACE_ID)

    async def v1_collections(request: Request, faults: RequestFaults) -> Response:
        query = request.query_params
        return _reply([{key: entry[key] for key in ("id", "name", "metadata", "dimension", "tenant", "database")}
                       for entry in listing(query.get("tenant", "default_tenant"),
                                            query.get("database", "default_database"))], faults)

    if flavour == "chroma-v1":
        return {"GET /api/v1/heartbeat": heartbeat, "GET /api/v1/version": version,
                "GET /api/v1/collections": v1_collections}
    return {"GET /api/v2/heartbeat": heartbeat, "GET /api/v2/version": version,
            "GET /api/v2/tenants/{tenant}": tenant, "GET /api/v2/tenants/{tenant}/databases/{database}": database,
            "GET /api/v2/tenants/{tenant}/databases/{database}/collections": collections,
            "GET /api/v1/{path:path}": v1_gone}


def _qdrant_routes() -> dict[str, Handler]:
    async def healthz(_request: Request, _faults: RequestFaults) -> Response:
        return PlainTextResponse("healthz check passed")

    async def about(_request: Request, faults: RequestFaults) -> Response:
        return _reply({"title": "qdrant - vector search engine", "version": QDRANT_VERSION, "commit": "emulated"},
                      faults)

    async def collections(request: Request, faults: RequestFaults) -> Response:
        if _revoked(request.headers.get("api-key") or _bearer(request)):
            # Guessed, not recorded: Qdrant refuses a wrong key on its API (its health endpoints answer anyway).
            return PlainTextResponse("Invalid API key or JWT", status_code=401)
        return _reply({"result": {"collections": [{"name": name} for name in COLLECTIONS]}, "status": "ok",
                       "time": 0.00002}, faults)

    return {"GET /healthz": healthz, "GET /": about, "GET /collections": collections}


def _milvus_routes() -> dict[str, Handler]:
    async def collections(request: Request, faults: RequestFaults) -> Response:
        if _revoked(_bearer(request)):
            # Guessed, not recorded: Milvus says a refused token with HTTP 200 and code 1800.
            return JSONResponse({"code": 1800, "message": "user hasn't authenticated"})
        return _reply({"code": 0, "data": list(COLLECTIONS)}, faults)

    return {"POST /v2/vectordb/collections/list": collections}


def _civitai_routes() -> dict[str, Handler]:
    async def models(request: Request, faults: RequestFaults) -> Response:
        limit = int(request.query_params.get("limit") or 20)
        items = [{"id": 4384, "name": "DreamShaper", "type": "Checkpoint", "nsfw": False,
                  "stats": {"downloadCount": 1_200_000}, "modelVersions": []}][:limit]
        return _reply({"items": items, "metadata": {"nextCursor": None, "pageSize": limit}}, faults)

    async def me(request: Request, faults: RequestFaults) -> Response:
        # As CivitAI's docs say (not recorded): 401 for a missing, malformed or revoked token alike.
        token = _bearer(request)
        if not token or _revoked(token):
            return JSONResponse({"error": "Unauthorized"}, status_code=401)
        return _reply({"id": 12345, "username": "lab-user", "tier": "free", "status": "active", "isMember": False,
                       "subscriptions": []}, faults)

    return {"GET /api/v1/models": models, "GET /api/v1/me": me}


def _dropbox_routes() -> dict[str, Handler]:
    async def space_usage(request: Request, faults: RequestFaults) -> Response:
        # The two refusals below are guessed from Dropbox's SDK, not recorded.
        token = _bearer(request)
        if token is None:
            return PlainTextResponse('Error in call to API function "users/get_space_usage": Must provide HTTP '
                                     'header "Authorization" or URL parameter "authorization".', status_code=400)
        if _revoked(token):
            return JSONResponse({"error_summary": "invalid_access_token/..", "error": {".tag": "invalid_access_token"}},
                                status_code=401)
        if (await request.body()).strip() != b"null":
            # Routes without arguments take the JSON body `null`; Dropbox answers 400 in plain text otherwise.
            return PlainTextResponse('Error in call to API function "users/get_space_usage": request body: could '
                                     "not decode input as JSON", status_code=400)
        return _reply({"used": 2_254_857_830, "allocation": {".tag": "individual", "allocated": 2 * 1024**4}},
                      faults)

    return {"POST /2/users/get_space_usage": space_usage}


def build(*, plan: FaultPlan, pace: Pace, seed: int, flavour: str) -> Starlette:  # noqa: ARG001
    """The emulator of one service: `flavour` is chroma, chroma-v1 (a server before 0.5.16), qdrant, milvus, n8n,
    civitai or dropbox."""
    if flavour in ("chroma", "chroma-v1"):
        handlers = _chroma_routes(flavour)
    elif flavour == "qdrant":
        handlers = _qdrant_routes()
    elif flavour == "milvus":
        handlers = _milvus_routes()
    elif flavour == "n8n":
        handlers = n8n_routes()
    elif flavour == "civitai":
        handlers = _civitai_routes()
    elif flavour == "dropbox":
        handlers = _dropbox_routes()
    else:
        raise ValueError(f"no service emulator for {flavour!r}")

    def endpoint(handler: Handler) -> Callable[[Request], Awaitable[Response]]:
        async def run(request: Request) -> Response:
            faults = plan.for_request(request)
            await faults.before_response()
            if (fault := faults.status_fault()) is not None and fault.status is not None:
                return _status_error(flavour, fault.status, faults.retry_after_headers())
            return await handler(request, faults)

        return run

    async def faults_route(request: Request) -> Response:
        return await control_faults(request, plan)

    routes = [Route(key.partition(" ")[2], endpoint(handler), methods=[key.partition(" ")[0]])
              for key, handler in handlers.items()]
    routes.append(Route("/_emulator/faults", faults_route, methods=["GET", "POST"]))
    if flavour.startswith("chroma"):
        routes.append(Route("/{path:path}", _chroma_unknown(flavour), methods=["GET", "POST", "PUT", "DELETE"]))
    return Starlette(routes=routes)


def _chroma_unknown(flavour: str) -> Callable[[Request], Awaitable[Response]]:
    """Any other path: Chroma 1.5.9's 404 has an empty body (vLLM's /health among them); FastAPI's, before
    0.5.16, says {"detail": "Not Found"}."""

    async def unknown(_request: Request) -> Response:
        if flavour == "chroma-v1":
            return JSONResponse({"detail": "Not Found"}, status_code=404)
        return Response(b"", status_code=404, headers=TRACE_ID)

    return unknown
