"""Emulators of the services beside the models (PROTOCOLS.md §10), for health and catalog: Chroma (v2, or v1 only
as servers before 0.6), Qdrant, Milvus's RESTful v2, n8n, CivitAI's model search and Dropbox's space usage, with
the shared fault spec."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from providers.emulators.faults import FaultPlan, RequestFaults, control_faults
from providers.emulators.text import Pace

COLLECTIONS = ("lab-notes", "papers", "support-tickets")
WORKFLOWS = ("Nightly eval report", "Ticket triage", "Re-index the RAG store", "GPU alert to chat",
             "Weekly spend digest", "Pull models on release", "Back up the ledger")
"""Every second one is active."""
N8N_PAGE_LIMIT = 250
CHROMA_VERSION = "1.0.15"
QDRANT_VERSION = "1.15.1"

Handler = Callable[[Request, RequestFaults], Awaitable[Response]]

_STATUS_MESSAGES = {401: "Unauthorized", 402: "Payment required", 429: "Too many requests",
                    500: "Internal server error", 503: "Service unavailable", 529: "Overloaded"}


def _reply(body: Any, faults: RequestFaults) -> Response:
    return faults.json_reply(body, malformed=b'{"result": unterminated')


def _status_error(flavour: str, status: int, headers: dict[str, str]) -> Response:
    message = _STATUS_MESSAGES.get(status, "error")
    if flavour == "milvus":
        # Milvus answers HTTP 200 with its own code; 1800 is "user hasn't authenticated".
        code = 1800 if status == 401 else 65535
        text = "user hasn't authenticated" if status == 401 else message
        return JSONResponse({"code": code, "message": text}, headers=headers)
    if flavour == "qdrant":
        return JSONResponse({"status": {"error": message}, "time": 0.0}, status_code=status, headers=headers)
    if flavour == "n8n":
        return JSONResponse({"message": message}, status_code=status, headers=headers)
    if flavour == "dropbox":
        tag = "expired_access_token" if status == 401 else "too_many_requests" if status == 429 else "internal_error"
        return JSONResponse({"error_summary": f"{tag}/..", "error": {".tag": tag}}, status_code=status, headers=headers)
    return JSONResponse({"error": message}, status_code=status, headers=headers)  # Chroma


def _chroma_routes(flavour: str) -> dict[str, Handler]:
    async def heartbeat(_request: Request, faults: RequestFaults) -> Response:
        return _reply({"nanosecond heartbeat": 1_755_164_597_123_456_789}, faults)

    async def version(_request: Request, faults: RequestFaults) -> Response:
        return _reply(CHROMA_VERSION if flavour == "chroma" else "0.5.23", faults)

    async def collections(_request: Request, faults: RequestFaults) -> Response:
        return _reply([{"id": f"00000000-0000-4000-8000-00000000000{i}", "name": name, "metadata": None,
                        "tenant": "default_tenant", "database": "default_database"}
                       for i, name in enumerate(COLLECTIONS)], faults)

    routes: dict[str, Handler] = {"GET /api/v1/heartbeat": heartbeat, "GET /api/v1/version": version,
              "GET /api/v1/collections": collections}
    if flavour == "chroma":
        routes |= {"GET /api/v2/heartbeat": heartbeat, "GET /api/v2/version": version,
                   "GET /api/v2/tenants/default_tenant/databases/default_database/collections": collections}
    return routes


def _qdrant_routes() -> dict[str, Handler]:
    async def healthz(_request: Request, _faults: RequestFaults) -> Response:
        return PlainTextResponse("healthz check passed")

    async def about(_request: Request, faults: RequestFaults) -> Response:
        return _reply({"title": "qdrant - vector search engine", "version": QDRANT_VERSION, "commit": "emulated"},
                      faults)

    async def collections(_request: Request, faults: RequestFaults) -> Response:
        return _reply({"result": {"collections": [{"name": name} for name in COLLECTIONS]}, "status": "ok",
                       "time": 0.00002}, faults)

    return {"GET /healthz": healthz, "GET /": about, "GET /collections": collections}


def _milvus_routes() -> dict[str, Handler]:
    async def collections(_request: Request, faults: RequestFaults) -> Response:
        return _reply({"code": 0, "data": list(COLLECTIONS)}, faults)

    return {"POST /v2/vectordb/collections/list": collections}


def _n8n_routes() -> dict[str, Handler]:
    async def healthz(_request: Request, faults: RequestFaults) -> Response:
        return _reply({"status": "ok"}, faults)

    async def workflows(request: Request, faults: RequestFaults) -> Response:
        if not request.headers.get("x-n8n-api-key"):
            return JSONResponse({"message": "'X-N8N-API-KEY' header required"}, status_code=401)
        # Small pages whatever the limit asked, so that paging by cursor is exercised.
        start = int(request.query_params.get("cursor") or 0)
        limit = min(3, int(request.query_params.get("limit") or N8N_PAGE_LIMIT))
        page = WORKFLOWS[start:start + limit]
        after = start + limit
        return _reply({"data": [{"id": str(start + i + 1), "name": name, "active": (start + i) % 2 == 0}
                                for i, name in enumerate(page)],
                       "nextCursor": str(after) if after < len(WORKFLOWS) else None}, faults)

    return {"GET /healthz": healthz, "GET /healthz/readiness": healthz, "GET /api/v1/workflows": workflows}


def _civitai_routes() -> dict[str, Handler]:
    async def models(request: Request, faults: RequestFaults) -> Response:
        limit = int(request.query_params.get("limit") or 20)
        items = [{"id": 4384, "name": "DreamShaper", "type": "Checkpoint", "nsfw": False,
                  "stats": {"downloadCount": 1_200_000}, "modelVersions": []}][:limit]
        return _reply({"items": items, "metadata": {"nextCursor": None, "pageSize": limit}}, faults)

    return {"GET /api/v1/models": models}


def _dropbox_routes() -> dict[str, Handler]:
    async def space_usage(request: Request, faults: RequestFaults) -> Response:
        if (await request.body()).strip() != b"null":
            # Routes without arguments take the JSON body `null`; Dropbox answers 400 in plain text otherwise.
            return PlainTextResponse('Error in call to API function "users/get_space_usage": request body: could '
                                     "not decode input as JSON", status_code=400)
        return _reply({"used": 2_254_857_830, "allocation": {".tag": "individual", "allocated": 2 * 1024**4}},
                      faults)

    return {"POST /2/users/get_space_usage": space_usage}


def build(*, plan: FaultPlan, pace: Pace, seed: int, flavour: str) -> Starlette:  # noqa: ARG001
    """The emulator of one service: `flavour` is chroma, chroma-v1 (a server before 0.6), qdrant, milvus, n8n,
    civitai or dropbox."""
    if flavour in ("chroma", "chroma-v1"):
        handlers = _chroma_routes(flavour)
    elif flavour == "qdrant":
        handlers = _qdrant_routes()
    elif flavour == "milvus":
        handlers = _milvus_routes()
    elif flavour == "n8n":
        handlers = _n8n_routes()
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
    return Starlette(routes=routes)
