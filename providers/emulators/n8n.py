"""n8n's health and public workflow API as n8n 2.8.4 answers them (../shared/fixtures/n8n_*): the same keys,
nesting, types, content type, 401 bodies and cursors (base64 of `{"limit":L,"offset":O}`), and archived workflows
listed with `isArchived: true`. Used by the services emulator (providers/emulators/services.py).

Beyond the recordings, from n8n's public API source (packages/cli/src/public-api/v1/handlers, not recorded):
POST /api/v1/workflows/{id}/activate and /deactivate answer the workflow (already in that state: unchanged), 404
`{"message":"Not Found"}` for an unknown id, and 400 with the activation error for a workflow without a trigger
(a manual trigger is none); GET /api/v1/executions lists the newest first with the fields n8n selects, and an
unknown workflowId as an empty page. Each emulator has its own state: activating changes only that server."""

from __future__ import annotations

import base64
import binascii
import copy
import hashlib
import json
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from providers.emulators.faults import RequestFaults

WORKFLOWS = ("Nightly eval report", "Ticket triage", "Re-index the RAG store", "GPU alert to chat",
             "Weekly spend digest", "Pull models on release", "Back up the ledger")
"""Every second one is active, on a schedule trigger; the others are on a manual trigger, as recorded, so n8n
refuses to activate them (an active one deactivated can be activated again)."""
NO_TRIGGER = ("Workflow has no node to start the workflow - at least one trigger, poller or webhook node is "
              "required")
"""n8n's activation error for such a workflow (ActiveWorkflowManager, from its source)."""
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


def _workflow(name: str, *, active: bool, archived: bool, manual: bool | None = None) -> dict[str, Any]:
    """One workflow as GET /api/v1/workflows lists it: an active one on a schedule trigger with its active version,
    an inactive one without; `manual` (by default: when inactive) puts it on a manual trigger (as in
    n8n_workflows_page.json)."""
    workflow_id, version_id = _id(name), f"{_id(name + ' version')[:8]}-0000-4000-8000-000000000000"
    if not (manual if manual is not None else not active):
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


def _active_version(workflow: dict[str, Any]) -> dict[str, Any]:
    return {"updatedAt": STAMP, "createdAt": STAMP, "versionId": workflow["versionId"], "workflowId": workflow["id"],
            "nodes": copy.deepcopy(workflow["nodes"]), "connections": {}, "authors": "Lab Owner", "name": None,
            "description": None, "autosaved": False}


def _set_active(workflow: dict[str, Any], active: bool) -> None:
    workflow.update(active=active, activeVersionId=workflow["versionId"] if active else None,
                    activeVersion=_active_version(workflow) if active else None, triggerCount=1 if active else 0)


def _execution(number: int, workflow_id: str, *, status: str, mode: str) -> dict[str, Any]:
    """One execution as GET /api/v1/executions lists it: the fields n8n's public API selects."""
    started = f"2026-12-01T{number % 24:02d}:00:00.000Z"
    return {"id": str(number), "finished": status == "success", "mode": mode, "retryOf": None,
            "retrySuccessId": None, "status": status, "startedAt": started,
            "stoppedAt": None if status == "waiting" else f"2026-12-01T{number % 24:02d}:00:04.512Z",
            "workflowId": workflow_id, "waitTill": None}


RUNS_ACTIVE = ("success", "error", "success")
"""The past executions of an active workflow (by its trigger), oldest first; an inactive one ran once by hand."""

ALL_WORKFLOWS = [_workflow(name, active=index % 2 == 0, archived=False) for index, name in enumerate(WORKFLOWS)] + [
    _workflow(name, active=False, archived=True) for name in ARCHIVED_WORKFLOWS]


def _executions(workflows: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    runs: list[dict[str, Any]] = []
    for workflow in workflows:
        if workflow["isArchived"]:
            continue
        statuses, mode = (RUNS_ACTIVE, "trigger") if workflow["active"] else (("success",), "manual")
        runs += [_execution(len(runs) + 1 + offset, workflow["id"], status=status, mode=mode)
                 for offset, status in enumerate(statuses)]
    return runs


@dataclass
class N8nState:
    """One emulated n8n's workflows and executions (oldest first); activating changes `workflows`."""

    workflows: list[dict[str, Any]] = field(default_factory=lambda: copy.deepcopy(ALL_WORKFLOWS))
    executions: list[dict[str, Any]] = field(default_factory=list)

    def __post_init__(self) -> None:
        if not self.executions:
            self.executions = _executions(self.workflows)

    @classmethod
    def named(cls, names: Sequence[str], *, manual: Sequence[str] = ()) -> N8nState:
        """Workflows of these names, every second one active, all on a schedule trigger but those in `manual`
        (which n8n will not activate): for tests that need other names or inactive workflows that can start."""
        return cls([_workflow(name, active=index % 2 == 0, archived=False, manual=name in manual)
                    for index, name in enumerate(names)])

    def find(self, workflow_id: str) -> dict[str, Any] | None:
        return next((w for w in self.workflows if w["id"] == workflow_id), None)


def cursor_for(limit: int, offset: int) -> str:
    return base64.b64encode(json.dumps({"limit": limit, "offset": offset}, separators=(",", ":")).encode()).decode()


def _read_cursor(cursor: str) -> tuple[int, int] | None:
    try:
        fields = json.loads(base64.b64decode(cursor, validate=True))
        limit, offset = int(fields["limit"]), int(fields["offset"])
    except (binascii.Error, ValueError, TypeError, KeyError):
        return None
    return (limit, offset) if 1 <= limit <= PAGE_LIMIT and offset >= 0 else None


def _refused_key(request: Request) -> Response | None:
    """The recorded 401 for a missing or revoked key, or None for a key n8n accepts."""
    key = request.headers.get("x-n8n-api-key")
    if not key:
        return _message("'X-N8N-API-KEY' header required", 401)
    if key.startswith(REVOKED_KEY_PREFIX):
        return _message("unauthorized", 401)
    return None


def _page_limit(request: Request) -> int | Response:
    try:
        limit = int(request.query_params.get("limit") or PAGE_DEFAULT)
    except ValueError:
        return _message("request/query/limit must be integer", 400)  # guessed: not recorded
    if not 1 <= limit <= PAGE_LIMIT:
        return _message(f"request/query/limit must be <= {PAGE_LIMIT}", 400)  # guessed: not recorded
    return limit


def n8n_routes(state: N8nState | None = None) -> dict[str, Handler]:
    """The routes of one n8n over `state` (a fresh default one when None)."""
    held = state if state is not None else N8nState()

    async def healthz(_request: Request, faults: RequestFaults) -> Response:
        return faults.json_reply({"status": "ok"}, malformed=b'{"status": ', headers=JSON_TYPE)

    async def workflows(request: Request, faults: RequestFaults) -> Response:
        if (refused := _refused_key(request)) is not None:
            return refused
        listed = held.workflows
        if cursor := request.query_params.get("cursor"):
            # With a cursor, n8n pages by the limit and offset inside it.
            read = _read_cursor(cursor)
            if read is None:
                return _message("An invalid cursor was provided", 400)  # guessed: not recorded
            limit, offset = read
        else:
            limit_or_error = _page_limit(request)
            if isinstance(limit_or_error, Response):
                return limit_or_error
            limit, offset = limit_or_error, 0
        after = offset + limit
        return faults.json_reply({"data": listed[offset:after],
                                  "nextCursor": cursor_for(limit, after) if after < len(listed) else None},
                                 malformed=b'{"data": [', headers=JSON_TYPE)

    def switch(active: bool) -> Handler:
        async def handler(request: Request, faults: RequestFaults) -> Response:
            if (refused := _refused_key(request)) is not None:
                return refused
            workflow = held.find(request.path_params["id"])
            if workflow is None:
                return _message("Not Found", 404)
            if active and not workflow["active"] and all(
                    node["type"] == "n8n-nodes-base.manualTrigger" for node in workflow["nodes"]):
                return _message(NO_TRIGGER, 400)
            _set_active(workflow, active)
            return faults.json_reply(workflow, malformed=b'{"id": ', headers=JSON_TYPE)

        return handler

    async def executions(request: Request, faults: RequestFaults) -> Response:
        if (refused := _refused_key(request)) is not None:
            return refused
        limit = _page_limit(request)
        if isinstance(limit, Response):
            return limit
        wanted = request.query_params.get("workflowId")
        # Newest first; the cursor of a further page is not emulated (a page of the newest is all llmdeck reads).
        runs = [run for run in reversed(held.executions) if wanted is None or run["workflowId"] == wanted]
        return faults.json_reply({"data": runs[:limit], "nextCursor": None}, malformed=b'{"data": [',
                                 headers=JSON_TYPE)

    return {"GET /healthz": healthz, "GET /healthz/readiness": healthz, "GET /api/v1/workflows": workflows,
            "POST /api/v1/workflows/{id}/activate": switch(True),
            "POST /api/v1/workflows/{id}/deactivate": switch(False), "GET /api/v1/executions": executions}
