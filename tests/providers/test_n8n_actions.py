"""Acting on n8n workflows over loopback: load activates and unload deactivates through the public API, the call a
confirmation shows is the call sent, n8n's refusals arrive as its words, and a workflow's last executions are read
bounded and newest first."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest

from providers.adapters import build_adapter
from providers.adapters.n8n import N8nAdapter
from providers.base import AdapterOptions
from providers.emulators.n8n import NO_TRIGGER, N8nState
from providers.emulators.server import EmulatorServer
from providers.errors import AuthFailedError, BadRequestError, NotFoundError
from providers.model_details import model_sheet
from providers.service_details import MAX_RUNS, WorkflowRun
from tests.hostile.hostile_server import HostileServer, Request, canned, hostile_server, http_reply
from tests.providers.n8n_served import serve_n8n

KEY = "n8n_api_test_key"


def n8n_at(url: str, client: httpx.AsyncClient, key: str | None = KEY) -> N8nAdapter:
    adapter = build_adapter(AdapterOptions(name="flows", base_url=url, kind="n8n", timeout_s=5.0,
                                           api_key=(lambda: key) if key else None), client)
    assert isinstance(adapter, N8nAdapter)
    return adapter


@pytest.fixture
def state() -> N8nState:
    """Active, inactive on a schedule trigger, active, and inactive on a manual trigger (n8n will not activate
    that one)."""
    return N8nState.named(["Nightly eval report", "Ticket triage", "Weekly spend digest", "Manual reindex"],
                          manual=["Manual reindex"])


@pytest.fixture
def served(state: N8nState) -> Iterator[EmulatorServer]:
    with serve_n8n(state) as server:
        yield server


def workflow(state: N8nState, name: str) -> dict[str, Any]:
    return next(w for w in state.workflows if w["name"] == name)


async def test_n8n_can_load_and_unload_and_nothing_else(served: EmulatorServer, client: httpx.AsyncClient) -> None:
    capabilities = n8n_at(served.url, client).capabilities
    assert (capabilities.load, capabilities.unload) == (True, True)
    assert not (capabilities.chat or capabilities.pull or capabilities.delete or capabilities.restart)


async def test_load_activates_the_workflow_with_the_exact_call_the_confirmation_showed(
        served: EmulatorServer, state: N8nState, client: httpx.AsyncClient) -> None:
    flows = n8n_at(served.url, client)
    before = {m.name: m.loaded for m in await flows.list_models()}
    assert before["Ticket triage"] is False
    workflow_id = workflow(state, "Ticket triage")["id"]
    shown = flows.describe_call("load", "Ticket triage")
    assert shown == f"POST {served.url}/api/v1/workflows/{workflow_id}/activate (X-N8N-API-KEY)"
    assert KEY not in shown

    await flows.load("Ticket triage")
    assert workflow(state, "Ticket triage")["active"] is True, "the server's state changed"
    assert workflow(state, "Ticket triage")["activeVersionId"] == workflow(state, "Ticket triage")["versionId"]
    assert {m.name: m.loaded for m in await flows.list_models()}["Ticket triage"] is True


async def test_unload_deactivates_and_again_is_harmless(served: EmulatorServer, state: N8nState,
                                                        client: httpx.AsyncClient) -> None:
    flows = n8n_at(served.url, client)
    await flows.list_models()
    assert flows.describe_call("unload", "Nightly eval report").endswith("/deactivate (X-N8N-API-KEY)")
    await flows.unload("Nightly eval report")
    assert workflow(state, "Nightly eval report")["active"] is False
    await flows.unload("Nightly eval report")  # n8n answers an inactive workflow as it is
    assert workflow(state, "Nightly eval report")["active"] is False
    await flows.load("Nightly eval report")  # on a schedule trigger: it can run again
    assert workflow(state, "Nightly eval report")["active"] is True


async def test_a_workflow_without_a_trigger_is_refused_in_n8ns_words(served: EmulatorServer, state: N8nState,
                                                                    client: httpx.AsyncClient) -> None:
    with pytest.raises(BadRequestError, match="no node to start the workflow") as refused:
        await n8n_at(served.url, client).load("Manual reindex")
    assert NO_TRIGGER in str(refused.value)
    assert workflow(state, "Manual reindex")["active"] is False


async def test_an_unknown_name_is_not_found_and_sends_no_action(served: EmulatorServer,
                                                                client: httpx.AsyncClient) -> None:
    with pytest.raises(NotFoundError, match="no workflow named 'Gone'"):
        await n8n_at(served.url, client).load("Gone")


async def test_a_revoked_key_is_an_auth_error(served: EmulatorServer, client: httpx.AsyncClient) -> None:
    with pytest.raises(AuthFailedError):
        await n8n_at(served.url, client, key="revoked-key").load("Ticket triage")


@pytest.fixture
def twin_n8n() -> Iterator[HostileServer]:
    """Two workflows of one name (n8n allows it), ids that need quoting, and a server that ignores `limit`."""
    page = {"data": [{"id": "a/1", "name": "Twin", "active": False}, {"id": "b", "name": "Twin", "active": True},
                     {"id": "x?y", "name": "Odd id", "active": False}], "nextCursor": None}
    runs = {"data": [{"id": str(n), "status": "success", "mode": "trigger", "startedAt": f"t{n}",
                      "stoppedAt": None} for n in range(40, 0, -1)], "nextCursor": None}

    async def activated(_: Request) -> AsyncIterator[bytes]:
        yield http_reply(b'{"id": "x?y", "name": "Odd id", "active": true}')

    routes = {"/api/v1/workflows": canned(http_reply(httpx.Response(200, json=page).content)),
              "/api/v1/executions": canned(http_reply(httpx.Response(200, json=runs).content)),
              "POST /api/v1/workflows/x%3Fy/activate": activated}
    with hostile_server(routes) as server:
        yield server


async def test_a_shared_name_is_refused_not_guessed(twin_n8n: HostileServer, client: httpx.AsyncClient) -> None:
    flows = n8n_at(twin_n8n.url, client)
    with pytest.raises(BadRequestError, match="several n8n workflows are named 'Twin'"):
        await flows.unload("Twin")
    assert not [r for r in twin_n8n.seen if r.method == "POST"]


async def test_an_id_is_quoted_in_the_path_shown_and_sent(twin_n8n: HostileServer, client: httpx.AsyncClient) -> None:
    flows = n8n_at(twin_n8n.url, client)
    # Before any listing the id is not known: the confirmation says it will be looked up, and claims no path.
    assert "looked up first" in flows.describe_call("load", "Odd id")
    await flows.list_models()
    assert flows.describe_call("load", "Odd id") == (
        f"POST {twin_n8n.url}/api/v1/workflows/x%3Fy/activate (X-N8N-API-KEY)")
    await flows.load("Odd id")
    assert [r.path for r in twin_n8n.seen if r.method == "POST"] == ["/api/v1/workflows/x%3Fy/activate"]


async def test_executions_are_the_newest_ten_even_from_a_server_that_sends_more(
        twin_n8n: HostileServer, client: httpx.AsyncClient) -> None:
    runs = await n8n_at(twin_n8n.url, client).workflow_runs("Odd id")
    assert [run.id for run in runs] == [str(n) for n in range(40, 40 - MAX_RUNS, -1)]
    asked = [r.path for r in twin_n8n.seen if r.path.startswith("/api/v1/executions")]
    assert asked == [f"/api/v1/executions?workflowId=x%3Fy&limit={MAX_RUNS}"]


async def test_executions_of_a_workflow_newest_first_in_n8ns_fields(served: EmulatorServer, state: N8nState,
                                                                    client: httpx.AsyncClient) -> None:
    flows = n8n_at(served.url, client)
    runs = await flows.workflow_runs("Nightly eval report")
    workflow_id = workflow(state, "Nightly eval report")["id"]
    mine = [run for run in reversed(state.executions) if run["workflowId"] == workflow_id]
    assert runs == [WorkflowRun(run["id"], run["status"], run["mode"], run["startedAt"], run["stoppedAt"])
                    for run in mine]
    assert [run.status for run in runs] == ["success", "error", "success"] and {run.mode for run in runs} == {
        "trigger"}
    assert int(runs[0].id) > int(runs[-1].id), "newest first"
    by_hand = await flows.workflow_runs("Ticket triage")  # inactive: it ran once, started by hand
    assert [(run.status, run.mode) for run in by_hand] == [("success", "manual")]


async def test_unreadable_executions_leave_the_rest_of_the_sheet(client: httpx.AsyncClient) -> None:
    page = {"data": [{"id": "w1", "name": "Lonely", "active": True}], "nextCursor": None}
    routes = {"/api/v1/workflows": canned(http_reply(httpx.Response(200, json=page).content))}
    with hostile_server(routes) as server:  # no executions route: a 404, as a key without that scope would get
        sheet = await model_sheet(n8n_at(server.url, client), "Lonely")
    assert sheet.entry is not None and sheet.state == "active" and sheet.runs is None
    assert sheet.service_error is not None and "404" in sheet.service_error
