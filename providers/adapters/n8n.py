"""n8n (PROTOCOLS.md §10.4): health, and its workflows as the catalog.

Recorded from n8n 2.8.4 (../shared/fixtures/n8n_*): `/healthz` and `/healthz/readiness` answer `{"status":"ok"}`
and read no key; only the public API (`/api/v1/…`, header `X-N8N-API-KEY`) does, answering 401
`{"message":"'X-N8N-API-KEY' header required"}` without a key and 401 `{"message":"unauthorized"}` with a revoked
or wrong one. Workflow pages hold `data` and `nextCursor` (an opaque string, null on the last page); archived
workflows are still listed, with `isArchived: true`.

Acting on a workflow (from n8n's public API source, not recorded): POST /api/v1/workflows/{id}/activate and
/deactivate answer the workflow, already in that state or not; an unknown id is 404 and a workflow without a
trigger 400 with n8n's reason. An active workflow is the catalog's "loaded" one, so load activates and unload
deactivates: the Models pane's w/u keys, the CLI's load/unload, the journal and the confirmation show the exact
call. GET /api/v1/executions?workflowId=…&limit=… lists a workflow's executions, newest first.

The catalog names workflows, the API takes ids: the ids of the last listing are kept, so the call a confirmation
shows is the call sent. n8n does not make names unique; a name two workflows share is refused, not guessed.
"""

from __future__ import annotations

from typing import Any, Literal
from urllib.parse import quote

import httpx

from providers.adapters.services import ServiceAdapter
from providers.base import AdapterOptions, Capabilities, Health, ModelInfo
from providers.errors import AuthFailedError, BadRequestError, NotFoundError, ProtocolError, ProviderError
from providers.http import expect_dict, send
from providers.safe_text import one_line
from providers.service_details import MAX_RUNS, WorkflowRun, text_or_none

N8N_PAGE = 250
"""n8n's largest page of workflows."""
N8N_MAX_PAGES = 40
"""Stop after this many pages (10,000 workflows): a server that keeps handing out cursors must not loop forever."""
Switch = Literal["activate", "deactivate"]
SWITCHES: dict[str, Switch] = {"load": "activate", "unload": "deactivate"}
"""The catalog's operations and what they do to a workflow."""


class N8nAdapter(ServiceAdapter):
    """n8n: `/healthz` says the process is up, `/healthz/readiness` that its database is ready, and with a key
    configured one workflow read through the public API says the key is accepted (without a key the catalog is
    empty, not an error). Loading a workflow activates it, unloading deactivates it."""

    capabilities = Capabilities(load=True, unload=True)

    def __init__(self, options: AdapterOptions, client: httpx.AsyncClient) -> None:
        super().__init__(options, client)
        self._ids: dict[str, str | None] = {}
        """Workflow name → id from the last listing; None for a name several workflows share."""

    def key_headers(self, key: str) -> dict[str, str]:
        return {"X-N8N-API-KEY": key}

    async def _page(self, limit: int, cursor: str | None) -> dict[str, Any]:
        query = f"?limit={limit}" + (f"&cursor={quote(cursor, safe='')}" if cursor else "")
        page = expect_dict(await self.call("GET", f"/api/v1/workflows{query}"), self.name, "GET workflows")
        if not isinstance(page.get("data"), list):
            raise ProtocolError("workflows: `data` is not a list", provider=self.name)
        return page

    async def health(self) -> Health:
        alive = expect_dict(await self.call("GET", "/healthz"), self.name, "GET /healthz")
        if alive.get("status") != "ok":
            raise ProtocolError(f"/healthz said {alive!r}: not an n8n server", provider=self.name)
        # Past /healthz the process is proven up: a later failure is a part of n8n not working, n8n's own verdict.
        try:
            await send(self.client, "GET", self.url("/healthz/readiness"), provider=self.name,
                       headers=self.headers(), timeout_s=self.timeout())
        except ProviderError as exc:
            return Health("degraded", detail=f"not ready (database): {exc.brief}")
        if not self.key():
            return Health("up", detail="no API key: workflows not listed")
        # /healthz reads no key: a revoked one shows only here.
        try:
            await self._page(1, None)
        except AuthFailedError as exc:
            raise AuthFailedError(f"API key refused: {exc.brief}", provider=self.name) from None
        except ProviderError as exc:  # the process is up; its public API is not (disabled, failing)
            return Health("degraded", detail=f"public API: {exc.brief}")
        return Health("up", detail="API key accepted")

    async def list_models(self) -> list[ModelInfo]:
        if not self.key():
            return []
        workflows: list[ModelInfo] = []
        ids: list[tuple[str, Any]] = []
        cursor: str | None = None
        for _ in range(N8N_MAX_PAGES):
            page = await self._page(N8N_PAGE, cursor)
            # An archived workflow never runs and n8n's editor hides it; an active one runs on its triggers and is
            # shown as loaded.
            listed = [item for item in page["data"]
                      if isinstance(item, dict) and isinstance(item.get("name"), str)
                      and item.get("isArchived") is not True]
            workflows += [ModelInfo(provider=self.name, name=item["name"], kind="workflow",
                                    loaded=item.get("active") is True) for item in listed]
            ids += [(item["name"], item.get("id")) for item in listed]
            next_cursor = page.get("nextCursor")
            if not isinstance(next_cursor, str) or not next_cursor:
                break
            cursor = next_cursor
        self._ids = {}
        for name, workflow_id in ids:
            known = name in self._ids
            self._ids[name] = workflow_id if isinstance(workflow_id, str) and workflow_id and not known else None
        return workflows

    async def _workflow_id(self, name: str) -> str:
        """The id of the workflow of that name: from the last listing, or a new one when it has not been listed."""
        if name not in self._ids:
            await self.list_models()
        if name not in self._ids:
            raise NotFoundError(f"n8n lists no workflow named {one_line(name)!r}", provider=self.name)
        workflow_id = self._ids[name]
        if workflow_id is None:
            raise BadRequestError(f"several n8n workflows are named {one_line(name)!r} (or it has no id): act on "
                                  "it in n8n's editor", provider=self.name)
        return workflow_id

    @staticmethod
    def _switch_path(workflow_id: str, switch: Switch) -> str:
        return f"/api/v1/workflows/{quote(workflow_id, safe='')}/{switch}"

    async def _switch(self, name: str, switch: Switch) -> None:
        answer = expect_dict(await self.call("POST", self._switch_path(await self._workflow_id(name), switch)),
                             self.name, f"POST {switch}")
        if answer.get("active") is not (switch == "activate"):
            state = "active" if answer.get("active") is True else "inactive"
            raise ProtocolError(f"{switch} answered, but the workflow is {state}", provider=self.name)

    async def load(self, model: str) -> None:
        await self._switch(model, "activate")

    async def unload(self, model: str) -> None:
        await self._switch(model, "deactivate")

    def describe_call(self, operation: str, model: str | None = None) -> str:
        """E.g. `POST http://127.0.0.1:5678/api/v1/workflows/0AEp0hja3wqmM0R4/activate (X-N8N-API-KEY)`; the id is
        the last listing's, the one the call will use."""
        switch = SWITCHES.get(operation)
        if switch is None or model is None:
            return super().describe_call(operation, model)
        workflow_id = self._ids.get(model)
        where = self._switch_path(workflow_id, switch) if workflow_id else (
            f"/api/v1/workflows/{{id of {model!r}, looked up first}}/{switch}")
        return f"POST {self.url(where)} (X-N8N-API-KEY)"

    async def workflow_runs(self, name: str, limit: int = MAX_RUNS) -> list[WorkflowRun]:
        """The newest `limit` executions of the workflow, as n8n lists them (running ones are left out by n8n)."""
        workflow_id = quote(await self._workflow_id(name), safe="")
        page = expect_dict(await self.call("GET", f"/api/v1/executions?workflowId={workflow_id}&limit={limit}"),
                           self.name, "GET executions")
        items = page.get("data")
        if not isinstance(items, list):
            raise ProtocolError("executions: `data` is not a list", provider=self.name)
        return [WorkflowRun(id=str(item["id"]) if isinstance(item.get("id"), (str, int)) else "?",
                            status=text_or_none(item.get("status")),
                            mode=text_or_none(item.get("mode")), started_at=text_or_none(item.get("startedAt")),
                            stopped_at=text_or_none(item.get("stoppedAt")))
                for item in items[:limit] if isinstance(item, dict)]
