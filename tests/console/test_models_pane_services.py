"""The Models pane acting on services: w activates and u deactivates an n8n workflow after a confirmation showing
the exact call (Cancel focused), the emulated n8n changes and the row shows it; d shows a workflow's last
executions and a vector collection's records, dimension and metric; names and fields with escape sequences or
markup stay plain text."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from textual.pilot import Pilot
from textual.widgets import Button, Static

from config.schema import DeckConfig
from console.panes.models import ModelsPane
from console.screens.confirm import ConfirmDialog
from console.screens.model_details import ModelDetailsScreen
from providers.deck import Deck
from providers.emulators.n8n import N8nState
from providers.emulators.server import EmulatorServer
from tests.conftest import EmulatorFactory
from tests.console.pane_harness import PaneApp, wait_until
from tests.providers.n8n_served import serve_n8n

N8N = "flows"
HOSTILE_NAME = "evil \x1b[31mred\x1b[0m [bold]flow[/bold]\x1b]0;pwned\x07"
HOSTILE_STATUS = "\x1b[2Jsuccess [blink]"
NAMES = ["Nightly eval report", "Ticket triage", HOSTILE_NAME]
"""Active, inactive on a schedule trigger (it can be activated), active with a hostile name."""


def key(provider: str, model: str) -> str:
    return f"{provider}\x1f{model}"


@pytest.fixture
def n8n_state() -> N8nState:
    state = N8nState.named(NAMES)
    hostile = next(w for w in state.workflows if w["name"] == HOSTILE_NAME)
    state.executions.append({"id": "99\x1b[1A", "finished": True, "mode": "trig\ngered\x1b[0m", "retryOf": None,
                             "retrySuccessId": None, "status": HOSTILE_STATUS, "startedAt": "[red]2026[/red]",
                             "stoppedAt": "\x9b31mlate", "workflowId": hostile["id"], "waitTill": None})
    return state


@pytest.fixture
def n8n_server(n8n_state: N8nState) -> Iterator[EmulatorServer]:
    with serve_n8n(n8n_state) as server:
        yield server


@pytest.fixture
async def deck(n8n_server: EmulatorServer, emulator: EmulatorFactory, tmp_path: Path,
               monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Deck]:
    monkeypatch.setenv("LLMDECK_TEST_N8N_KEY", "n8n-test-key")
    config = DeckConfig.model_validate({"providers": [
        {"name": N8N, "kind": "n8n", "base_url": n8n_server.url, "api_key": "env:LLMDECK_TEST_N8N_KEY"},
        {"name": "vectors-q", "kind": "qdrant", "base_url": emulator("qdrant").url},
        {"name": "vectors-c", "kind": "chroma", "base_url": emulator("chroma").url},
    ]})
    started = Deck(config, tmp_path / "data")
    await started.start(monitor=False)
    yield started
    await started.stop()


def workflow(state: N8nState, name: str) -> dict[str, Any]:
    return next(w for w in state.workflows if w["name"] == name)


async def showing(pilot: Pilot[None], pane: ModelsPane, provider: str, model: str) -> None:
    """Wait for the row, then put the cursor on it."""
    await wait_until(pilot, lambda: key(provider, model) in pane.table.rows_by_key, what=f"the row of {model!r}")
    pane.table.focus()
    pane.table.move_cursor(row=pane.table.get_row_index(key(provider, model)))


async def details_text(pilot: Pilot[None], app: PaneApp) -> str:
    """Open the details of the selected row and return all it shows, as drawn."""
    await pilot.press("d")
    await wait_until(pilot, lambda: isinstance(app.screen, ModelDetailsScreen) and app.screen.sheet is not None
                     and bool(app.screen.query("#details-facts")), what="the details")
    return "\n".join(str(widget.render()) for widget in app.screen.query(Static))


def facts_of(shown: str) -> dict[str, str]:
    """The label → value lines of the facts block (labels may hold one space; two or more end them)."""
    facts = shown.split("Last executions", 1)[0]
    return dict(re.split(r" {2,}", line, maxsplit=1) for line in facts.splitlines() if re.search(r"\S {2,}\S", line))


async def test_w_activates_a_workflow_after_showing_the_exact_call_and_u_deactivates_it(
        deck: Deck, n8n_state: N8nState, n8n_server: EmulatorServer) -> None:
    pane = ModelsPane(deck)
    app = PaneApp(pane, deck=deck)
    triage = workflow(n8n_state, "Ticket triage")
    async with app.run_test(size=(140, 30)) as pilot:
        await showing(pilot, pane, N8N, "Ticket triage")
        assert not pane.table.rows_by_key[key(N8N, "Ticket triage")].loaded
        await pilot.press("w")
        await wait_until(pilot, lambda: isinstance(app.screen, ConfirmDialog), what="the confirmation")
        dialog = app.screen
        assert isinstance(dialog, ConfirmDialog)
        assert isinstance(app.focused, Button) and app.focused.id == "cancel"
        assert dialog.dialog_title == f"Activate Ticket triage on {N8N}?"
        assert dialog.call == f"POST {n8n_server.url}/api/v1/workflows/{triage['id']}/activate (X-N8N-API-KEY)"
        assert str(dialog.query_one("#confirm-call", Static).render()) == dialog.call
        await pilot.press("enter")  # Cancel: nothing is sent
        await wait_until(pilot, lambda: not isinstance(app.screen, ConfirmDialog), what="the dialog to close")
        assert triage["active"] is False

        await pilot.press("w")
        await wait_until(pilot, lambda: isinstance(app.screen, ConfirmDialog), what="the confirmation")
        await pilot.press("tab", "enter")
        await wait_until(pilot, lambda: pane.table.rows_by_key[key(N8N, "Ticket triage")].loaded,
                         what="the row to show it active")
        assert triage["active"] is True, "the emulated n8n changed"
        assert str(pane.table.get_cell(key(N8N, "Ticket triage"), "loaded")) == "●"
        await wait_until(pilot, lambda: any("activate: flows/Ticket triage done." in n.message
                                            for n in app._notifications), what="the notification")

        await pilot.press("u")
        await wait_until(pilot, lambda: isinstance(app.screen, ConfirmDialog), what="the confirmation")
        assert isinstance(app.screen, ConfirmDialog) and app.screen.call.endswith("/deactivate (X-N8N-API-KEY)")
        await pilot.press("tab", "enter")
        await wait_until(pilot, lambda: not pane.table.rows_by_key[key(N8N, "Ticket triage")].loaded,
                         what="the row to show it inactive")
        assert triage["active"] is False
    journaled = [(e.kind, e.subject, e.summary) for e in deck.journal.entries() if e.kind in ("load", "unload")]
    assert [(kind, subject) for kind, subject, _ in journaled] == [("load", N8N), ("unload", N8N)]
    assert all("Ticket triage" in summary for _, _, summary in journaled)


async def test_details_of_a_workflow_show_its_last_executions(deck: Deck, n8n_state: N8nState) -> None:
    pane = ModelsPane(deck)
    app = PaneApp(pane, deck=deck)
    nightly = workflow(n8n_state, "Nightly eval report")
    runs = [run for run in reversed(n8n_state.executions) if run["workflowId"] == nightly["id"]]
    async with app.run_test(size=(140, 40)) as pilot:
        await showing(pilot, pane, N8N, "Nightly eval report")
        shown = await details_text(pilot, app)
    facts = facts_of(shown)
    assert (facts["kind"], facts["state"]) == ("workflow", "active")
    assert facts["operations"] == "activate (w), deactivate (u)"
    assert "Last executions" in shown
    lines = shown.split("Last executions", 1)[1].strip().splitlines()
    assert lines[0].split() == ["id", "status", "mode", "started", "stopped"]
    assert [line.split() for line in lines[1:1 + len(runs)]] == [
        [run["id"], run["status"], run["mode"], run["startedAt"], run["stoppedAt"]] for run in runs]


async def test_details_of_vector_collections_show_records_dimension_and_metric(deck: Deck) -> None:
    pane = ModelsPane(deck)
    app = PaneApp(pane, deck=deck)
    async with app.run_test(size=(140, 40)) as pilot:
        await showing(pilot, pane, "vectors-c", "papers")
        chroma = await details_text(pilot, app)
        await pilot.press("escape")
        await wait_until(pilot, lambda: not isinstance(app.screen, ModelDetailsScreen), what="the details to close")
        await showing(pilot, pane, "vectors-q", "support-tickets")
        qdrant = await details_text(pilot, app)
    facts = facts_of(chroma)
    assert (facts["kind"], facts["records"], facts["dimension"], facts["metric"]) == ("collection", "2", "3", "cosine")
    named = facts_of(qdrant)
    assert named["records"] == "1,280" and "dimension" not in named, "named vectors: one line each"
    assert (named["vector text"], named["vector image"]) == ("dimension 384, metric Cosine",
                                                             "dimension 512, metric Euclid")


async def test_hostile_workflow_names_and_execution_fields_are_plain_text(deck: Deck) -> None:
    pane = ModelsPane(deck)
    app = PaneApp(pane, deck=deck)
    async with app.run_test(size=(160, 40)) as pilot:
        await showing(pilot, pane, N8N, HOSTILE_NAME)
        cell = pane.table.get_cell(key(N8N, HOSTILE_NAME), "model")
        assert "\x1b" not in str(cell) and "[bold]flow[/bold]" in str(cell), "no escapes, markup kept as text"
        await pilot.press("u")
        await wait_until(pilot, lambda: isinstance(app.screen, ConfirmDialog), what="the confirmation")
        title = str(app.screen.query_one("#confirm-title").render())
        assert "\x1b" not in title and "\x07" not in title and "[bold]flow[/bold]" in title
        await pilot.press("escape")
        await wait_until(pilot, lambda: not isinstance(app.screen, ConfirmDialog), what="the dialog to close")
        shown = await details_text(pilot, app)
    assert not any(char in shown for char in "\x1b\x07\x9b"), "no control sequence reaches the screen"
    assert "[blink]" in shown and "[red]2026[/red]" in shown, "markup in a field is shown, not obeyed"
    runs = shown.split("Last executions", 1)[1].strip().splitlines()
    assert "success [blink]" in runs[1] and "trig gered" in runs[1], "one execution, one line"
