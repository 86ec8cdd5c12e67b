"""SourceBrowser: a model source (the Hugging Face Hub, CivitAI) searched from the console, in two levels.

The search results come first (repositories, models); Enter opens one and lists what can be downloaded from it
(files, versions); Enter on that asks where it should land and confirms the exact call, then the download joins
the Models pane's queue beside the pulls and the Models pane is shown. Esc goes back a level, then closes. Each
source says what it lists and how a pick becomes a download; this module only moves between the levels. All the
source's words reach the screen as plain text, never markup.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import DataTable, Label, Static

from console.panes.models import ModelsPane
from console.screens.pull_queue import ProgressSource
from console.screens.target_picker import TargetPicker
from console.widgets.column_fit import ColumnSpec
from console.widgets.keyed_table import KeyedTable, Row
from console.widgets.table_sort import SortValue
from providers.deck import Deck
from providers.errors import ProviderError
from providers.safe_text import one_line

if TYPE_CHECKING:
    from console.app import DeckApp

BROWSE_WORKERS = "source-browse"

Listing = tuple[Sequence[Row], dict[str, Sequence[SortValue]]]
"""Rows for a table and their sort values by key."""


@dataclass(frozen=True, slots=True)
class DownloadChoice:
    """What the operator confirmed: `label` from `source` onto `provider` (no source: the provider's own pull)."""

    provider: str
    label: str
    source: ProgressSource | None


class SourceBrowser(ModalScreen[DownloadChoice | None]):
    """Subclasses fill in the titles, the two tables' columns, and how to list, open and pick."""

    CSS_PATH = "source_browser.tcss"

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "back", "Back", id="source-back")]

    RESULT_COLUMNS: ClassVar[tuple[ColumnSpec, ...]] = ()
    ITEM_COLUMNS: ClassVar[tuple[ColumnSpec, ...]] = ()
    SOURCE: ClassVar[str] = ""

    def __init__(self, deck: Deck, search_text: str) -> None:
        super().__init__()
        self.deck = deck
        self.search_text = search_text
        self.opened: str | None = None
        """The key of the result whose items are shown; None while the results are."""

    def compose(self) -> ComposeResult:
        with Vertical(id="source-box"):
            yield Label(one_line(f"{self.SOURCE}: {self.search_text or 'everything'}"), id="source-title", markup=False)
            yield Static(f"searching {self.SOURCE}…", id="source-status", markup=False)
            yield KeyedTable(self.RESULT_COLUMNS, id="source-results")
            yield KeyedTable(self.ITEM_COLUMNS, id="source-items")
            yield Static("enter open · esc back", id="source-hint", markup=False)

    @property
    def results(self) -> KeyedTable:
        return self.query_one("#source-results", KeyedTable)

    @property
    def items(self) -> KeyedTable:
        return self.query_one("#source-items", KeyedTable)

    def on_mount(self) -> None:
        self.items.display = False
        self.set_focus(self.results)
        self.search()

    def say(self, text: str) -> None:
        self.query_one("#source-status", Static).update(one_line(text))

    def hint(self, text: str) -> None:
        self.query_one("#source-hint", Static).update(text)

    # --- what a source fills in --------------------------------------------------------------------------

    async def list_results(self) -> Listing:
        raise NotImplementedError

    async def list_items(self, result: str) -> Listing:
        raise NotImplementedError

    async def pick(self, result: str, item: str) -> None:
        """Ask where and confirm; queue the download when confirmed (then close with `downloaded`)."""
        raise NotImplementedError

    async def choose_target(self, what: str, targets: Sequence[tuple[str, str]]) -> str | None:
        """The provider `what` lands on: the only one without asking, else the operator's pick (None: cancelled)."""
        if len(targets) == 1:
            return targets[0][0]
        return await self.app.push_screen_wait(TargetPicker(f"Download {what} onto which provider?", targets))

    def results_said(self, count: int) -> str:
        return f"{count} found · enter lists what can be downloaded"

    def items_said(self, result: str, count: int) -> str:
        return f"{result}: {count} to download · enter downloads one"

    # --- moving between the levels -----------------------------------------------------------------------

    @work(group=BROWSE_WORKERS, exclusive=True, exit_on_error=False)
    async def search(self) -> None:
        try:
            rows, values = await self.list_results()
        except ProviderError as exc:
            self.say(f"{self.SOURCE} failed: {exc}")
            return
        self.results.show(rows, values)
        self.say(self.results_said(len(rows)) if rows else f"nothing found for {self.search_text!r}")

    @work(group=BROWSE_WORKERS, exclusive=True, exit_on_error=False)
    async def open_result(self, result: str) -> None:
        self.say(f"listing {result}…")
        try:
            rows, values = await self.list_items(result)
        except ProviderError as exc:
            self.say(f"{result}: {exc}")
            return
        self.opened = result
        self.items.show(rows, values)
        self.results.display = False
        self.items.display = True
        self.set_focus(self.items)
        self.say(self.items_said(result, len(rows)) if rows else f"{result}: nothing to download")
        self.hint("enter download · esc back to the results")

    @work(group=BROWSE_WORKERS, exclusive=True, exit_on_error=False)
    async def pick_item(self, result: str, item: str) -> None:
        try:
            await self.pick(result, item)
        except ProviderError as exc:
            self.say(f"{item}: {exc}")

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        if event.data_table is self.results and (key := self.results.cursor_key()) is not None:
            self.open_result(key)
        elif (event.data_table is self.items and self.opened is not None
              and (key := self.items.cursor_key()) is not None):
            self.pick_item(self.opened, key)

    def action_back(self) -> None:
        if self.opened is None:
            self.dismiss(None)
            return
        self.opened = None
        self.items.display = False
        self.results.display = True
        self.set_focus(self.results)
        self.say(self.results_said(len(self.results.keys)))
        self.hint("enter open · esc back")

    def downloaded(self, provider: str, label: str, source: ProgressSource | None) -> None:
        """A confirmed download: close with it (`queue_download` then puts it in the Models pane's queue)."""
        self.dismiss(DownloadChoice(provider, label, source))


async def queue_download(app: DeckApp, choice: DownloadChoice | None) -> None:
    """A browser's confirmed download into the Models pane's queue, that pane shown and focused. Run once the
    browser has closed (its push_screen callback), so the keyboard lands on the pane, not on a closed screen."""
    if choice is None:
        return
    models = await app.show_pane("models")
    if isinstance(models, ModelsPane):
        models.queue_download(choice.provider, choice.label, choice.source)
