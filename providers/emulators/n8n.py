"""n8n's health and public workflow API as n8n 2.8.4 answers them (../shared/fixtures/n8n_*): the same keys,
nesting, types, content type, 401 bodies and cursors (base64 of `{"limit":L,"offset":O}`), and archived workflows
listed with `isArchived: true`. Used by the services emulator (providers/emulators/services.py)."""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from providers.emulators.faults import RequestFaults

WORKFLOWS = ("Nightly eval report", "Ticket triage", "Re-index the RAG store", "GPU alert to chat",
             "Weekly spend digest", "Pull models on release", "Back up the ledger")
"""Every second one is active."""
ARCHIVED_WORKFLOWS = ("Old import",)
"""Listed after the others, with `isArchived: true`."""
PAGE_DEFAULT = 100
PAGE_LIMIT = 250
REVOKED_KEY_PREFIX = "revoked-"
"""A key starting with this stands for one n8n issued and then deleted."""
JSON_TYPE = {"content-type": "application/json; charset=utf-8"}
"""n8n's (Express's) content type."""
STAMP = "2026-12-02T01:26:21.237Z"

Handler = Callable[[Request, RequestFaults], Awaitable[Response]]


def _message(text: str, status: int) -> Response:
    return JSONResponse({"message": text}, status_code=status, headers=JSON_TYPE)


def _id(name: str) -> str:
    return hashlib.sha256(name.encode()).hexdigest()[:16]


def _workflow(name: str, *, active: bool, archived: bool) -> dict[str, Any]:
    """One workflow as GET /api/v1/workflows lists it: an active one on a schedule trigger with its active version,
    an inactive one on a manual trigger without (as in n8n_workflows_page.json)."""
    workflow_id, version_id = _id(name), f"{_id(name + ' version')[:8]}-0000-4000-8000-000000000000"
    if active:
        node = {"name": "Schedule Trigger", "type": "n8n-nodes-base.scheduleTrigger", "typeVersion": 1.2,
                "position": [0, 0], "parameters": {"rule": {"interval": [{"field": "hours", "hoursInterval": 1}]}},
                "id": f"{_id(name + ' node')[:8]}-0000-4000-8000-000000000000"}
    else:
        node = {"name": "Manual", "type": "n8n-nodes-base.manualTrigger", "typeVersion": 1, "position": [0, 0],
                "parameters": {}, "id": f"{_id(name + ' node')[:8]}-0000-4000-8000-000000000000"}
    active_version: dict[str, Any] = {
        "updatedAt": STAMP, "createdAt": STAMP, "versionId": version_id, "workflowId": workflow_id, "nodes": [node],
        "connections": {}, "authors": "Lab Owner", "name": None, "description": None, "autosaved": False}
    return {"updatedAt": STAMP, "createdAt": STAMP, "id": workflow_id, "name": name, "active": active,
            "isArchived": archived, "nodes": [node], "connections": {},
            "settings": {"callerPolicy": "workflowsFromSameOwner", "availableInMCP": False},
            "staticData": {"node:Schedule Trigger": {"recurrenceRules": []}} if active else None,
            "meta": None, "pinData": None, "versionId": version_id, "activeVersionId": version_id if active else None,
            "triggerCount": 1 if active else 0,
            "shared": [{"updatedAt": STAMP, "createdAt": STAMP, "role": "workflow:owner", "workflowId": workflow_id,
                        "projectId": "LabProject000001"}],
            "activeVersion": active_version if active else None, "tags": []}


ALL_WORKFLOWS = [_workflow(name, active=index % 2 == 0, archived=False) for index, name in enumerate(WORKFLOWS)] + [
    _workflow(name, active=False, archived=True) for name in ARCHIVED_WORKFLOWS]


def cursor_for(limit: int, offset: int) -> str:
    return base64.b64encode(json.dumps({"limit": limit, "offset": offset}, separators=(",", ":")).encode()).decode()


def _read_cursor(cursor: str) -> tuple[int, int] | None:
    try:
        fields = json.loads(base64.b64decode(cursor, validate=True))
        limit, offset = int(fields["limit"]), int(fields["offset"])
    except (binascii.Error, ValueError, TypeError, KeyError):
        return None
    return (limit, offset) if 1 <= limit <= PAGE_LIMIT and offset >= 0 else None


def n8n_routes() -> dict[str, Handler]:
    async def healthz(_request: Request, faults: RequestFaults) -> Response:
        return faults.json_reply({"status": "ok"}, malformed=b'{"status": ', headers=JSON_TYPE)

    async def workflows(request: Request, faults: RequestFaults) -> Response:
        key = request.headers.get("x-n8n-api-key")
        if not key:
            return _message("'X-N8N-API-KEY' header required", 401)
        if key.startswith(REVOKED_KEY_PREFIX):
            return _message("unauthorized", 401)
        if cursor := request.query_params.get("cursor"):
            # With a cursor, n8n pages by the limit and offset inside it.
            read = _read_cursor(cursor)
            if read is None:
                return _message("An invalid cursor was provided", 400)  # guessed: not recorded
            limit, offset = read
        else:
            try:
                limit, offset = int(request.query_params.get("limit") or PAGE_DEFAULT), 0
            except ValueError:
                return _message("request/query/limit must be integer", 400)  # guessed: not recorded
            if not 1 <= limit <= PAGE_LIMIT:
                return _message(f"request/query/limit must be <= {PAGE_LIMIT}", 400)  # guessed: not recorded
        after = offset + limit
        return faults.json_reply({"data": ALL_WORKFLOWS[offset:after],
                                  "nextCursor": cursor_for(limit, after) if after < len(ALL_WORKFLOWS) else None},
                                 malformed=b'{"data": [', headers=JSON_TYPE)

    return {"GET /healthz": healthz, "GET /healthz/readiness": healthz, "GET /api/v1/workflows": workflows}
