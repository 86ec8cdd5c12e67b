"""The Events view (`:events`, or E): the Deck's event journal as one timestamped table, newest last.

Health changes, failed probes, breaker moves, every request (target, who served, the hops it fell back from,
status, latency, cost), model operations and config reloads: the first place to look when a chat fell back.
The table follows new entries while its cursor is on the last row; moved up, it stays where it is (f follows
again). `/` filters (a substring; `!` keeps the rows that do not match), Esc clears the filter, then goes back.
The highlighted entry's whole detail shows below the table. Every text is backend text: one terminal-safe line
per cell, never read as markup.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date, datetime
from typing import ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.screen import Screen
from textual.widgets import DataTable, Input, Static

from console.widgets.column_fit import PADDING, SCROLLBAR_ROOM, Fit
from console.widgets.keyed_table import NavigableTable, plain
from console.widgets.row_filter import RowFilter
from console.widgets.status_badge import theme_style
from providers.deck import Deck
from providers.journal import JournalEntry
from providers.safe_text import one_line, terminal_safe

POLL_S = 0.5
"""How often the open view asks the Deck whether anything new was recorded (one integer compare when not)."""
LEVEL_COLOURS = {"error": "error", "warning": "warning", "info": "foreground"}
"""Theme variable of each level, for the kind column."""
COLUMNS = (("time", "Time"), ("kind", "Kind"), ("subject", "Subject"), ("summary", "What happened"))
KIND_WIDTH = 7
"""The longest kind (`request`, `breaker`, `restart`)."""
SUMMARY_MIN_WIDTH = 20
HINT = "↑↓ select · Tab detail · / filter (!inverts) · f follow newest · Esc back"


def column_widths(width: int, *, dated: bool) -> Fit:
    """Time (with the date when the journal reaches back before today), kind, subject, and what happened in
    every cell that is left: the summary is what an operator reads."""
    time_width = 11 if dated else 8
    subject = 12 if width < 100 else 20
    fixed = time_width + KIND_WIDTH + subject + PADDING * len(COLUMNS) + SCROLLBAR_ROOM
    return (("time", time_width), ("kind", KIND_WIDTH), ("subject", subject),
            ("summary", max(SUMMARY_MIN_WIDTH, width - fixed)))


def _today() -> date:
    return datetime.now().astimezone().date()


def _day_of(at: float) -> date:
    return datetime.fromtimestamp(at).astimezone().date()


def when(at: float, today: date) -> str:
    """`14:03:22` today; `06-12 14:03` on another day (the ledger's requests from an earlier run)."""
    moment = datetime.fromtimestamp(at).astimezone()
    return moment.strftime("%H:%M:%S") if moment.date() == today else moment.strftime("%m-%d %H:%M")


def detail_text(entry: JournalEntry) -> str:
    """The whole entry, for the pane below the table."""
    moment = datetime.fromtimestamp(entry.at).astimezone().strftime("%Y-%m-%d %H:%M:%S")
    head = one_line(f"{moment} · {entry.kind} · {entry.subject} · {entry.summary}")
    return head + ("\n" + terminal_safe(entry.detail) if entry.detail else "")


class EventsTable(NavigableTable):
    """Rows keyed by entry number, added and removed one by one; the columns fit the width it gets. The vim
    movement keys of every table (no sort: the rows are in the order things happened)."""

    def __init__(self, **kwargs: object) -> None:
        super().__init__(cursor_type="row", **kwargs)  # type: ignore[arg-type]
        self.fit: Fit = ()
        self.seqs: list[int] = []
        """The entry number of each row, top to bottom."""

    def fit_to(self, width: int, *, dated: bool) -> bool:
        """Size the columns for `width`; True when they changed (the rows are gone: the caller adds them again)."""
        fit = column_widths(width, dated=dated)
        if fit == self.fit:
            return False
        self.fit = fit
        self.clear(columns=True)
        self.seqs = []
        labels = dict(COLUMNS)
        for key, column_width in fit:
            self.add_column(labels[key], key=key, width=column_width)
        return True

    def add_entry(self, entry: JournalEntry, today: date, colours: Mapping[str, str]) -> None:
        kind = Text(entry.kind, style=theme_style(LEVEL_COLOURS[entry.level], colours, bold=entry.level == "error"),
                    no_wrap=True, overflow="ellipsis")
        cells: dict[str, str | Text] = {"time": when(entry.at, today), "kind": kind,
                                        "subject": plain(entry.subject), "summary": plain(entry.summary)}
        self.add_row(*(cells[key] for key, _ in self.fit), key=str(entry.seq))
        self.seqs.append(entry.seq)

    def drop_before(self, seq: int) -> int:
        """Remove the rows of entries older than `seq` (the journal let them go); how many went."""
        gone = 0
        while self.seqs and self.seqs[0] < seq:
            self.remove_row(str(self.seqs.pop(0)))
            gone += 1
        return gone

    @property
    def on_last_row(self) -> bool:
        return self.cursor_row >= self.row_count - 1


class EventsScreen(Screen[None]):
    """Full screen over the panes; Esc goes back to them."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "back", "Back", id="events-back"),
        Binding("slash", "filter", "Filter", id="events-filter", key_display="/"),
        Binding("f", "follow", "Follow newest", id="events-follow"),
    ]
    CSS_PATH = "events.tcss"

    def __init__(self, deck: Deck, filter_text: str = "") -> None:
        super().__init__()
        self.deck = deck
        self.row_filter = RowFilter.parse(filter_text)
        self._seen = -1
        """The journal's newest entry number when it was last read."""
        self._entries: dict[int, JournalEntry] = {}
        """The entries shown, by number."""
        self._total = 0
        self._added_up_to = 0
        """The newest entry number looked at for adding (shown or filtered out)."""
        self._today = _today()

    def compose(self) -> ComposeResult:
        yield Static(id="events-title", markup=False)
        yield EventsTable(id="events-table")
        with VerticalScroll(id="events-detail-box"):
            yield Static(id="events-detail", markup=False)
        yield Input(placeholder="filter: substring, !text inverts · Enter keeps · Esc clears", id="events-filter-line")
        yield Static(HINT, classes="hint", markup=False)

    @property
    def table(self) -> EventsTable:
        return self.query_one(EventsTable)

    @property
    def filter_line(self) -> Input:
        return self.query_one("#events-filter-line", Input)

    def on_mount(self) -> None:
        self.set_focus(self.table)
        entries = self.deck.events()
        if not self._refit(entries):
            self._rebuild(entries)
        self.set_interval(POLL_S, self.sync)

    def on_resize(self) -> None:
        self._refit(self.deck.events())

    # --- keeping up with the journal ----------------------------------------------------------------------

    def sync(self) -> None:
        """Add what was recorded since the last look, drop what the journal let go, follow the newest row."""
        latest = self.deck.latest_event_seq()
        if latest == self._seen and self._today == _today():
            return
        entries = self.deck.events()
        if self._refit(entries):
            return
        self._seen = latest
        table = self.table
        following = table.on_last_row
        cursor = table.cursor_row
        oldest = entries[0].seq if entries else latest + 1
        gone = table.drop_before(oldest)
        for seq in [seq for seq in self._entries if seq < oldest]:
            del self._entries[seq]
        self._add([entry for entry in entries if entry.seq > self._added_up_to])
        self._added_up_to = latest
        self._total = len(entries)
        if following:
            self._follow()
        elif gone:
            table.move_cursor(row=max(0, cursor - gone), animate=False)
        self._show_title()

    def _refit(self, entries: Sequence[JournalEntry]) -> bool:
        """Rebuild the table when its columns change (a new width; the journal now reaching back before today) or
        the day did (the times of yesterday's rows get their date); True when it did."""
        today = _today()
        dated = bool(entries) and _day_of(entries[0].at) != today
        if self.table.fit_to(self.size.width, dated=dated) or today != self._today:
            self._rebuild(entries)
            return True
        return False

    def _add(self, entries: Sequence[JournalEntry]) -> None:
        table, colours = self.table, self.app.theme_variables
        for entry in entries:
            if self.row_filter.keeps(entry):
                table.add_entry(entry, self._today, colours)
                self._entries[entry.seq] = entry

    def _rebuild(self, entries: Sequence[JournalEntry] | None = None) -> None:
        """Every entry the journal keeps, through the filter, the newest selected (after a filter change or new
        columns)."""
        entries = self.deck.events() if entries is None else entries
        table = self.table
        table.clear()
        table.seqs = []
        self._entries = {}
        self._today = _today()
        self._seen = self._added_up_to = self.deck.latest_event_seq()
        self._total = len(entries)
        self._add(entries)
        self._follow()
        self._show_title()

    def _follow(self) -> None:
        table = self.table
        if table.row_count:
            table.move_cursor(row=table.row_count - 1, animate=False)
        else:
            self._show_detail(None)

    def _show_title(self) -> None:
        table = self.table
        parts = [f"Events · {len(table.seqs)} shown of {self._total} · newest last",
                 "following" if table.on_last_row else "paused (f follows)"]
        if self.row_filter.needle:
            parts.append(f"filter {self.row_filter}")
        self.query_one("#events-title", Static).update(one_line(" · ".join(parts)))

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        event.stop()
        key = event.row_key.value
        self._show_detail(self._entries.get(int(key)) if key is not None else None)
        self._show_title()

    def _show_detail(self, entry: JournalEntry | None) -> None:
        text = detail_text(entry) if entry is not None else "Nothing recorded yet." if not self._total else (
            "No entry matches the filter.")
        self.query_one("#events-detail", Static).update(text)

    # --- keys -------------------------------------------------------------------------------------------

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        # While the filter is typed, `f` and `/` are letters of it.
        return not (action in ("follow", "filter") and self.filter_line.has_focus)

    def action_follow(self) -> None:
        self._follow()
        self._show_title()

    def action_filter(self) -> None:
        line = self.filter_line
        line.value = str(self.row_filter)
        line.add_class("open")
        line.display = True  # shown and focused now, not on the next refresh: the keys typed after `/` land in it
        self.set_focus(line)

    def action_back(self) -> None:
        """Esc: close the filter line (clearing it), else clear the filter, else go back to the panes."""
        line = self.filter_line
        if line.has_class("open") or self.row_filter.needle:
            self._close_filter_line()
            self._apply_filter("")
            self.set_focus(self.table)
            return
        self.dismiss(None)

    def on_input_changed(self, event: Input.Changed) -> None:
        event.stop()
        if self.filter_line.has_class("open"):
            self._apply_filter(event.value)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self._apply_filter(event.value)
        self._close_filter_line()
        self.set_focus(self.table)

    def _close_filter_line(self) -> None:
        line = self.filter_line
        line.remove_class("open")
        line.display = False

    def _apply_filter(self, text: str) -> None:
        row_filter = RowFilter.parse(text)
        if row_filter != self.row_filter:
            self.row_filter = row_filter
            self._rebuild()
