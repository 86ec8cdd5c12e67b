"""Models pane: one catalog across providers; pull, delete, load, unload, restart, details, checkpoint switch.

An n8n workflow's "loaded" is its being active, so w activates and u deactivates it (after a confirmation showing
the exact call): no keys of their own to learn, and the Loaded column already shows which workflows are active."""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.notifications import SeverityLevel
from textual.widgets import DataTable, Static

from console.bridge import DeckBridge
from console.clipboard import copy_text
from console.panes.base import DeckPane
from console.panes.models_dialogs import (
    confirm_delete,
    confirm_load,
    confirm_pull,
    confirm_restart,
    confirm_unload,
    confirm_workflow_switch,
    will_it_fit,
)
from console.panes.models_table import ModelRow, ModelTable
from console.screens.confirm import ConfirmDialog
from console.screens.model_details import ModelDetailsScreen
from console.screens.pull_dialog import PullChoice, PullDialog
from console.screens.pull_queue import ProgressSource, PullQueue
from console.widgets.keyed_table import KeyedTable
from console.widgets.row_filter import RowFilter
from providers.deck import Deck
from providers.display import count, percent
from providers.errors import ProviderError, UnknownProviderError
from providers.restart import RestartOutcome
from providers.safe_text import one_line

CATALOG_WORKERS = "catalog"
MODEL_OP_WORKERS = "model-ops"
WRITE_ACTIONS = frozenset({"pull", "delete", "unload", "load", "restart", "switch_checkpoint", "cancel_pull"})
"""Hidden and refused with --readonly: everything that changes a backend."""
WORKFLOW_VERBS = {"load": "activate", "unload": "deactivate"}
"""What load and unload do to an n8n workflow, in the words the notifications use."""


class ModelsPane(DeckPane):
    """The catalog of every provider in one table. The table owns its rows, sort and filter; the pane owns the
    catalog errors, the status line and which providers must be listed again (a catalog change seen while hidden
    waits for `on_show`)."""

    PANE_ID = "models"
    PANE_TITLE = "Models"
    FOCUS = "#models-table"

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("p", "pull", "Pull", id="models-pull"),
        Binding("ctrl+d", "delete", "Delete", id="models-delete"),
        Binding("u", "unload", "Unload", id="models-unload"),
        Binding("w", "load", "Load", id="models-load"),
        Binding("r", "restart", "Restart", id="models-restart"),
        Binding("d", "details", "Details", id="models-details"),
        Binding("s", "switch_checkpoint", "Checkpoint", id="models-switch-checkpoint"),
        Binding("x", "cancel_pull", "Cancel pull", id="models-cancel-pull"),
        Binding("y", "copy_name", "Copy name", id="copy"),
    ]

    def __init__(self, deck: Deck, *, readonly: bool = False) -> None:
        super().__init__(deck, readonly=readonly)
        self.catalog_errors: dict[str, str] = {}
        self._stale: set[str] = set()
        self._showing = False
        self._context_stale = False
        """A host was chosen while the pane was hidden: its table is narrowed when shown."""
        self.last_restart: RestartOutcome | None = None

    def compose(self) -> ComposeResult:
        yield Static("loading the catalog…", id="models-status", markup=False)
        yield ModelTable(id="models-table")
        yield PullQueue(self.deck, id="pull-queue")

    @property
    def table(self) -> ModelTable:
        return self.query_one(ModelTable)

    @property
    def pulls(self) -> PullQueue:
        return self.query_one(PullQueue)

    def on_mount(self) -> None:
        # no `loading` overlay on the table: a loading widget cannot take the focus, and the keyboard must be on
        # the table from the first visit (the status line says the catalog is loading)
        self.table.context = self._host_providers()
        self.load_catalog()

    def on_show(self) -> None:
        self._showing = True
        if self._context_stale:
            self._context_stale = False
            self.table.set_context(self.table.context)
            self._show_status()
        self.call_after_refresh(self.table.refit)  # the width is known once shown: choose the columns for it
        if self._stale:  # one fetch and one redraw for them all: a hundred stale providers are not a hundred
            # After the pane is on screen: fetching a hundred catalogs keeps the loop busy for a while, and the
            # switch itself must not wait for it (the rows already shown are at most one refresh old).
            self.call_after_refresh(self.load_catalog, only=sorted(self._stale))
        self._stale.clear()

    def on_hide(self) -> None:
        self._showing = False

    # --- the DeckPane contract -------------------------------------------------------------------------

    def on_deck_bridge_catalogs_changed(self, message: DeckBridge.CatalogsChanged) -> None:
        changed = {event.provider for event in message.events}
        if self._showing:
            self.load_catalog(only=sorted(changed))  # the whole flush in one fetch and one redraw
        else:
            self._stale |= changed

    def refresh_now(self) -> None:
        self.load_catalog()

    def running_work(self) -> list[str]:
        return [f"{job.kind} {job.provider}/{job.model} ({job.state}"
                f"{', ' + percent(job.fraction) if job.fraction else ''})"
                for job in self.pulls.jobs if not job.finished]

    def watch_filter_text(self, text: str) -> None:
        self.table.set_filter(RowFilter.parse(text))
        self._show_status()

    def watch_host(self) -> None:
        if not self.display:  # drawn on show: narrowing every pane costs only the visible one
            self.table.context = self._host_providers()
            self._context_stale = True
            return
        self.table.set_context(self._host_providers())
        self._show_status()

    def _host_providers(self) -> frozenset[str] | None:
        return None if self.host is None else frozenset(filter(self.in_context, self.deck.providers))

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if self.readonly and action in WRITE_ACTIONS:
            return False
        if action == "cancel_pull":  # shown only while there is something to cancel
            return any(not job.finished for queue in self.query(PullQueue) for job in queue.jobs)
        return True

    # --- catalog ---------------------------------------------------------------------------------------

    @work(group=CATALOG_WORKERS, exit_on_error=False)
    async def load_catalog(self, provider: str | None = None, *, only: Sequence[str] | None = None) -> None:
        """Fetch the catalog (one provider, those in `only`, or all) and put its rows in place, in one redraw."""
        try:
            catalog = await self.deck.catalog(provider, only=only)
        except (ProviderError, UnknownProviderError) as exc:
            self._say(str(exc), title="Catalog", severity="error")
            return
        names = [provider] if provider else self.deck.providers_able() if only is None else list(only)
        # A provider whose catalog failed keeps what was listed before; the status line says why it is stale.
        listed = [name for name in names if name not in catalog.errors]
        rows: dict[str, list[ModelRow]] = {name: [] for name in listed}
        for entry in catalog.entries:
            if entry.model.provider in rows:
                rows[entry.model.provider].append(ModelRow.from_entry(entry))
        self.table.replace_providers(rows)
        for name in listed:
            self.catalog_errors.pop(name, None)
        self.catalog_errors.update(catalog.errors)
        self._show_status()

    def _show_status(self) -> None:
        table = self.table
        parts = [f"{table.row_count} of {count(len(table.in_context()), 'model')}",
                 f"sort: {table.sort_label or 'provider'}"]
        if str(table.row_filter):
            parts.append(f"filter: {table.row_filter}")
        if self.readonly:
            parts.append("read-only")
        selected = table.selected
        if selected is not None and table.column_fit.cuts(selected.name):
            parts.append(f"▸ {selected.name}")  # the name the narrow table cut, whole
        parts += [f"{name}: {error}" for name, error in sorted(self.catalog_errors.items())]
        # Model names and catalog errors are the servers' words: one terminal-safe line.
        self.query_one("#models-status", Static).update(one_line(" · ".join(parts)))

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        if event.data_table is self.table:
            self._show_status()

    # --- actions ---------------------------------------------------------------------------------------

    def _say(self, message: str, *, title: str = "", severity: SeverityLevel = "information") -> None:
        # Provider errors and argv may hold brackets; never read them as markup.
        self.notify(message, title=title, severity=severity, markup=False)

    def _refused(self) -> bool:
        """Actions can also arrive from the command line, so readonly is checked here too, not only in bindings."""
        if self.readonly:
            self._say("read-only console: this action is disabled", severity="warning")
        return self.readonly

    def _selected(self) -> ModelRow | None:
        row = self.table.selected
        if row is None:
            self._say("No model selected.", severity="warning")
        return row

    def _can(self, provider: str, capability: str, what: str) -> bool:
        """Whether the provider's adapter can do it; if not, say why the key did nothing."""
        try:
            able = bool(getattr(self.deck.adapter(provider).capabilities, capability))
        except (ProviderError, UnknownProviderError) as exc:
            self._say(str(exc), severity="warning")
            return False
        if not able:
            kind = self.deck.providers[provider].kind
            self._say(f"{provider} ({kind}) cannot {what}.", severity="warning")
        return able

    def on_keyed_table_sort_changed(self, message: KeyedTable.SortChanged) -> None:
        if message.table is self.table:
            self._show_status()

    def action_copy_name(self) -> None:
        row = self._selected()
        if row is not None:
            copy_text(self.app, row.name, "model name")

    def action_details(self) -> None:
        row = self._selected()
        if row is not None:
            self.app.push_screen(ModelDetailsScreen(self.deck, row.provider, row.name))

    def action_pull(self) -> None:
        row = self.table.selected
        self.request_pull(row.provider if row else None)

    def request_pull(self, provider: str | None = None, model: str | None = None) -> None:
        """Pull flow, also for `:pull PROVIDER MODEL`: ask what is missing, confirm the exact call, queue it."""
        if self._refused():
            return
        able = self.deck.providers_able("pull")
        if not able:
            self._say("No configured provider can pull models (Ollama can).", severity="warning")
            return
        if provider is not None and provider not in able:
            if model is not None:
                self._can(provider, "pull", "pull models")
                return
            provider = None
        self._pull_flow(provider or able[0], able, model)

    @work(group=MODEL_OP_WORKERS, exit_on_error=False)
    async def _pull_flow(self, provider: str, able: list[str], model: str | None) -> None:
        choice = PullChoice(provider, model) if model else await self.app.push_screen_wait(PullDialog(able, provider))
        if choice is None:
            return
        # Its size where another provider lists the same model; a pull itself reports it only once it runs.
        sizes = [row.size_bytes for row in self.table.rows_by_key.values() if row.name == choice.model]
        dialog = confirm_pull(self.deck, choice.provider, choice.model, next(filter(None, sizes), None))
        if await self.app.push_screen_wait(dialog):
            self.pulls.enqueue(choice.provider, choice.model)
            self.refresh_bindings()

    def queue_download(self, provider: str, label: str, source: ProgressSource | None) -> None:
        """A confirmed download (`:hub`, `:civitai`) joins the pulls: same queue, progress, cancel and lanes. No
        `source`: the provider fetches it itself (Ollama's pull of `hf.co/REPO:QUANT`), a pull like any other."""
        self.pulls.enqueue(provider, label, kind="pull" if source is None else "download", source=source)
        self.refresh_bindings()

    def action_cancel_pull(self) -> None:
        if self._refused():
            return
        job = self.pulls.cancel_selected()
        if job is None:
            self._say("No running or queued pull is highlighted.", severity="warning")

    def on_pull_queue_pull_finished(self, message: PullQueue.PullFinished) -> None:
        self.refresh_bindings()
        job = message.job
        title = job.kind.capitalize()
        if message.error:
            self._say(f"{job.provider}/{job.model}: {message.error}", title=f"{title} failed", severity="error")
        elif job.state == "done" and job.kind == "download":
            self._say(f"{job.provider}: {job.status}", title=title)
            self.load_catalog(job.provider)  # a file in its folder may be a new model of it
        elif job.state == "done":
            self._say(f"{job.provider}/{job.model} pulled.", title=title)

    def action_delete(self) -> None:
        row = self._selected()
        if self._refused() or row is None or not self._can(row.provider, "delete", "delete models"):
            return
        self._confirm_then("delete", row, confirm_delete(self.deck, row))

    def action_unload(self) -> None:
        row = self._selected()
        if self._refused() or row is None or not self._can(row.provider, "unload", "unload models"):
            return
        if row.kind == "workflow":
            self._confirm_then("unload", row, confirm_workflow_switch(self.deck, row, activate=False))
            return
        self._confirm_then("unload", row, confirm_unload(self.deck, row))

    def action_load(self) -> None:
        row = self._selected()
        if self._refused() or row is None or not self._can(row.provider, "load", "load models"):
            return
        if row.kind == "workflow":
            self._confirm_then("load", row, confirm_workflow_switch(self.deck, row, activate=True))
            return
        fit = will_it_fit(self.deck, row.provider, row.size_bytes)
        if fit is not None and not fit.on_one_gpu:
            self._confirm_then("load", row, confirm_load(self.deck, row, fit))
            return
        self._say(f"Loading {row.name} on {row.provider}…" + (f"\n{fit.text}" if fit else ""))
        self._run_op("load", row)

    def action_switch_checkpoint(self) -> None:
        row = self._selected()
        if self._refused() or row is None:
            return
        if row.kind != "image":
            self._say(f"s switches image checkpoints; {row.name} is a {row.kind} model.", severity="warning")
            return
        if self._can(row.provider, "switch_checkpoint", "switch checkpoints (it picks one per job)"):
            self._say(f"Switching {row.provider} to {row.name}…")
            self._run_op("switch", row)

    def action_restart(self) -> None:
        row = self._selected()
        if self._refused() or row is None:
            return
        plan = self.deck.restart_plan(row.provider)
        if plan.argv is None:
            self._say(plan.shown, title="No restart configured", severity="warning")
            return
        self._restart(row.provider, confirm_restart(plan))

    @work(group=MODEL_OP_WORKERS, exit_on_error=False)
    async def _confirm_then(self, operation: str, row: ModelRow, dialog: ConfirmDialog) -> None:
        if await self.app.push_screen_wait(dialog):
            await self._op(operation, row)

    @work(group=MODEL_OP_WORKERS, exit_on_error=False)
    async def _run_op(self, operation: str, row: ModelRow) -> None:
        await self._op(operation, row)

    async def _op(self, operation: str, row: ModelRow) -> None:
        calls = {"delete": self.deck.delete, "unload": self.deck.unload, "load": self.deck.load,
                 "switch": self.deck.switch_checkpoint}
        try:
            await calls[operation](row.provider, row.name)
        except (ProviderError, UnknownProviderError) as exc:
            self._say(str(exc), title=f"{operation} failed", severity="error")
            return
        if operation == "delete":
            self.table.forget(row.key)  # at once; the CatalogChanged refresh then agrees
            self._show_status()
        verb = WORKFLOW_VERBS.get(operation, operation) if row.kind == "workflow" else operation
        self._say(f"{verb}: {row.provider}/{row.name} done.")

    @work(group=MODEL_OP_WORKERS, exit_on_error=False)
    async def _restart(self, provider: str, dialog: ConfirmDialog) -> None:
        if not await self.app.push_screen_wait(dialog):
            return
        self._say(f"Restarting {provider}…")
        try:
            outcome = await self.deck.restart(provider)
        except (OSError, ValueError) as exc:
            self._say(str(exc), title="Restart failed", severity="error")
            return
        tail = outcome.output.strip().splitlines()[-3:]
        text = f"{provider}: exit {outcome.returncode}" + ("\n" + "\n".join(tail) if tail else "")
        self._say(text, title="Restart", severity="information" if outcome.returncode == 0 else "error")
        self.last_restart = outcome
