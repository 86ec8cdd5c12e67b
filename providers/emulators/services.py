"""Emulators of the services beside the models (PROTOCOLS.md §10), for health and catalog: Chroma (v2 as 1.5.9
answers, or v1 only as servers before 0.5.16), Qdrant, Milvus's RESTful v2, n8n, CivitAI's model search and
current user, and Dropbox's space usage, with the shared fault spec.

Chroma and n8n answer in the shapes recorded from the stock servers (../shared/fixtures/chroma_*, n8n_*): the same
keys, nesting and types, error bodies and content types. The others follow PROTOCOLS.md; where they refuse a key,
the shape is a guess, not a recording.

Collection details: Chroma's GET …/collections/{name} and …/collections/{id}/count as `chroma run` 1.5.9 answered
them (the collection object of the listing, a bare integer, 404 `NotFoundError` "Collection [x] does not exist");
Qdrant's GET /collections/{name} from its OpenAPI shape (not recorded); Milvus's collections/describe and get_stats
from its RESTful v2 handler source (fields with `params` [{key, value}], indexes with `metricType`; not recorded).

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
POINTS = {"lab-notes": 3, "papers": 2, "support-tickets": 1280, "in-labdb": 1}
"""How many records each collection holds, in every vector store."""
CHROMA_SPACES = ("l2", "cosine", "ip")
"""Chroma's distance (hnsw space) of the collection listed n-th: CHROMA_SPACES[n % 3]."""
QDRANT_VECTORS: dict[str, dict[str, Any]] = {
    "lab-notes": {"size": 384, "distance": "Cosine"}, "papers": {"size": 768, "distance": "Dot"},
    "support-tickets": {"text": {"size": 384, "distance": "Cosine"}, "image": {"size": 512, "distance": "Euclid"}}}
"""Qdrant's vectors config: one unnamed vector, or named vectors (support-tickets)."""
MILVUS_VECTORS: dict[str, tuple[tuple[str, int, str], ...]] = {
    "lab-notes": (("vector", 768, "COSINE"),), "papers": (("vector", 1024, "IP"),),
    "support-tickets": (("dense", 384, "L2"), ("title_dense", 128, "COSINE"))}
"""Milvus's vector fields (name, dim, index metric) of each collection."""
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
    # Chroma: the envelope of its recorded errors ({"error": name, "message": text}); the names here are guesses.
    return JSONResponse({"error": "AuthError" if status == 401 else "InternalError", "message": message},
                        status_code=status, headers={**headers, **TRACE_ID})


_HNSW = {"ef_construction": 100, "max_neighbors": 16, "ef_search": 100, "num_threads": 2, "batch_size": 100,
         "sync_threshold": 1000, "resize_factor": 1.2}


def _index(name: str, enabled: bool, config: dict[str, Any] | None = None) -> dict[str, Any]:
    return {name: {"enabled": enabled, "config": config if config is not None else {}}}


def _chroma_collection(name: str, number: int, database: str) -> dict[str, Any]:
    """One collection as Chroma 1.5.9 lists it (chroma_v2_collections.json): configuration, schema and all."""
    space = CHROMA_SPACES[number % len(CHROMA_SPACES)]
    schema = {
        "defaults": {
            "string": {**_index("fts_index", False), **_index("string_inverted_index", True)},
            "float_list": _index("vector_index", False, {"space": space, "hnsw": dict(_HNSW)}),
            "sparse_vector": _index("sparse_vector_index", False,
                                    {"embedding_function": {"type": "unknown"}, "bm25": False}),
            "int": _index("int_inverted_index", True), "float": _index("float_inverted_index", True),
            "bool": _index("bool_inverted_index", True)},
        "keys": {
            "#embedding": {"float_list": _index("vector_index", True,
                                                {"space": space, "source_key": "#document", "hnsw": dict(_HNSW)})},
            "#document": {"string": {**_index("fts_index", True), **_index("string_inverted_index", False)}}}}
    hnsw = {"space": space, "ef_construction": 100, "ef_search": 100, "max_neighbors": 16, "resize_factor": 1.2,
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

    async def collection(request: Request, faults: RequestFaults) -> Response:
        # By name, as the stock client asks (a collection's id in its place is a 404 too, recorded).
        name, params = request.path_params["name"], request.path_params
        found = [entry for entry in listing(params["tenant"], params["database"]) if entry["name"] == name]
        if not found:
            return _chroma_not_found(f"Collection [{name}] does not exist")
        return _reply(found[0], faults)

    async def count(request: Request, faults: RequestFaults) -> Response:
        collection_id, params = request.path_params["collection_id"], request.path_params
        found = [entry for entry in listing(params["tenant"], params["database"]) if entry["id"] == collection_id]
        if not found:
            return _chroma_not_found(f"Collection [{collection_id}] does not exist.")  # recorded: with a period
        return _reply(POINTS.get(found[0]["name"], 0), faults)

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
            "GET /api/v2/tenants/{tenant}/databases/{database}/collections/{name}": collection,
            "GET /api/v2/tenants/{tenant}/databases/{database}/collections/{collection_id}/count": count,
            "GET /api/v1/{path:path}": v1_gone}


def _qdrant_routes() -> dict[str, Handler]:
    async def healthz(_request: Request, _faults: RequestFaults) -> Response:
        return PlainTextResponse("healthz check passed")

    async def about(_request: Request, faults: RequestFaults) -> Response:
        return _reply({"title": "qdrant - vector search engine", "version": QDRANT_VERSION, "commit": "emulated"},
                      faults)

    def refused(request: Request) -> Response | None:
        if _revoked(request.headers.get("api-key") or _bearer(request)):
            # Guessed, not recorded: Qdrant refuses a wrong key on its API (its health endpoints answer anyway).
            return PlainTextResponse("Invalid API key or JWT", status_code=401)
        return None

    async def collections(request: Request, faults: RequestFaults) -> Response:
        if (refusal := refused(request)) is not None:
            return refusal
        return _reply({"result": {"collections": [{"name": name} for name in COLLECTIONS]}, "status": "ok",
                       "time": 0.00002}, faults)

    async def collection(request: Request, faults: RequestFaults) -> Response:
        if (refusal := refused(request)) is not None:
            return refusal
        name = request.path_params["name"]
        if name not in QDRANT_VECTORS:
            return JSONResponse({"status": {"error": f"Not found: Collection `{name}` doesn't exist!"},
                                 "time": 0.00001}, status_code=404)
        points = POINTS.get(name, 0)
        params = {"vectors": QDRANT_VECTORS[name], "shard_number": 1, "replication_factor": 1,
                  "write_consistency_factor": 1, "on_disk_payload": True}
        config = {"params": params, "hnsw_config": {"m": 16, "ef_construct": 100, "full_scan_threshold": 10000,
                                                    "max_indexing_threads": 0, "on_disk": False},
                  "optimizer_config": {"deleted_threshold": 0.2, "vacuum_min_vector_number": 1000,
                                       "default_segment_number": 0, "max_segment_size": None,
                                       "memmap_threshold": None, "indexing_threshold": 10000, "flush_interval_sec": 5,
                                       "max_optimization_threads": None},
                  "wal_config": {"wal_capacity_mb": 32, "wal_segments_ahead": 0}, "quantization_config": None}
        return _reply({"result": {"status": "green", "optimizer_status": "ok", "indexed_vectors_count": 0,
                                  "points_count": points, "segments_count": 2, "config": config,
                                  "payload_schema": {}}, "status": "ok", "time": 0.00003}, faults)

    return {"GET /healthz": healthz, "GET /": about, "GET /collections": collections,
            "GET /collections/{name}": collection}


def _milvus_field(number: int, name: str, dimension: int) -> dict[str, Any]:
    return {"name": name, "id": 100 + number, "type": "FloatVector",
            "params": [{"key": "dim", "value": str(dimension)}], "primaryKey": False, "partitionKey": False,
            "clusteringKey": False, "nullable": False, "autoId": False, "description": ""}


def _milvus_description(name: str) -> dict[str, Any]:
    vectors = MILVUS_VECTORS[name]
    primary = {"name": "id", "id": 100, "type": "Int64", "primaryKey": True, "partitionKey": False,
               "clusteringKey": False, "nullable": False, "autoId": False, "description": ""}
    return {"collectionName": name, "collectionID": 450_000_000_000_000_000 + len(name), "description": "",
            "autoId": False, "consistencyLevel": "Bounded", "enableDynamicField": True,
            "fields": [primary, *(_milvus_field(i + 1, field, dim) for i, (field, dim, _) in enumerate(vectors))],
            "functions": [], "aliases": [],
            "indexes": [{"fieldName": field, "indexName": field, "metricType": metric} for field, _, metric in vectors],
            "load": "LoadStateLoaded", "partitionsNum": 1, "shardsNum": 1, "properties": []}


def _milvus_routes() -> dict[str, Handler]:
    def refused(request: Request) -> Response | None:
        if _revoked(_bearer(request)):
            # Guessed, not recorded: Milvus says a refused token with HTTP 200 and code 1800.
            return JSONResponse({"code": 1800, "message": "user hasn't authenticated"})
        return None

    async def collections(request: Request, faults: RequestFaults) -> Response:
        if (refusal := refused(request)) is not None:
            return refusal
        return _reply({"code": 0, "data": list(COLLECTIONS)}, faults)

    async def named(request: Request) -> str | Response:
        """The collection a describe/get_stats body names, or Milvus's answer when it names none it has."""
        try:
            body = await request.json()
        except ValueError:
            body = None
        name = body.get("collectionName") if isinstance(body, dict) else None
        if name not in MILVUS_VECTORS:
            # Guessed from Milvus's error text; its REST API answers HTTP 200 with code 100.
            return JSONResponse({"code": 100, "message": f"collection not found[database=default][collection={name}]"})
        return str(name)

    async def describe(request: Request, faults: RequestFaults) -> Response:
        if (refusal := refused(request)) is not None:
            return refusal
        name = await named(request)
        return name if isinstance(name, Response) else _reply({"code": 0, "data": _milvus_description(name)}, faults)

    async def stats(request: Request, faults: RequestFaults) -> Response:
        if (refusal := refused(request)) is not None:
            return refusal
        name = await named(request)
        return name if isinstance(name, Response) else _reply({"code": 0, "data": {"rowCount": POINTS[name]}},
                                                               faults)

    return {"POST /v2/vectordb/collections/list": collections, "POST /v2/vectordb/collections/describe": describe,
            "POST /v2/vectordb/collections/get_stats": stats}


def build(*, plan: FaultPlan, pace: Pace, seed: int, flavour: str) -> Starlette:  # noqa: ARG001
    """The emulator of one service: `flavour` is chroma, chroma-v1 (a server before 0.5.16), qdrant, milvus or n8n
    (CivitAI and Dropbox have emulators of their own: civitai.py, dropbox.py)."""
    if flavour in ("chroma", "chroma-v1"):
        handlers = _chroma_routes(flavour)
    elif flavour == "qdrant":
        handlers = _qdrant_routes()
    elif flavour == "milvus":
        handlers = _milvus_routes()
    elif flavour == "n8n":
        handlers = n8n_routes()
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
