"""Every table moves with the vim keys and sorts by any column: j/k, g/G, Ctrl-F/Ctrl-B beside the arrows; `o`
steps the sort column, `O` reverses, the heading shows ▲/▼; values sort as values (a latency as a number, `—`
last); rows stay under their host line; each table keeps its sort while the app runs, a dialog's too."""

from __future__ import annotations

from pathlib import Path

from rich.text import Text
from textual.app import App, ComposeResult

from console.app import DeckApp
from console.panes.chat import ChatPane
from console.panes.health import HealthPane
from console.panes.routes import RoutesPane
from console.screens.help import HelpScreen
from console.screens.sessions import SessionsDialog
from console.widgets.column_fit import ColumnSpec
from console.widgets.keyed_table import KeyedTable
from console.widgets.table_sort import SortChoice, heading, sorted_keys, text_value
from providers.deck import Deck
from tests.console.pane_harness import PaneApp, until, wait_until
from tests.console.test_snapshots_shell import frozen_deck

ROWS = 60


class OneTable(App[None]):
    """A table of ROWS numbered rows, focused."""

    def compose(self) -> ComposeResult:
        yield KeyedTable((ColumnSpec("n", "N", 6), ColumnSpec("name", "Name", 12)), id="numbers")

    def on_mount(self) -> None:
        table = self.query_one(KeyedTable)
        table.show([(str(n), (str(n), f"row {n}")) for n in range(ROWS)])
        table.focus()


async def test_j_k_g_shift_g_ctrl_f_ctrl_b_move_the_cursor() -> None:
    app = OneTable()
    async with app.run_test(size=(40, 20)) as pilot:
        table = app.query_one(KeyedTable)
        await pilot.press("j", "j")
        assert table.cursor_row == 2
        await pilot.press("k")
        assert table.cursor_row == 1
        await pilot.press("G")
        assert table.cursor_row == ROWS - 1 and table.cursor_key() == str(ROWS - 1)
        await pilot.press("g")
        assert table.cursor_row == 0
        await pilot.press("ctrl+f")
        page = table.cursor_row
        assert 10 <= page < ROWS - 1, "a page is about the rows on screen"
        await pilot.press("ctrl+f")
        assert table.cursor_row > page
        await pilot.press("ctrl+b", "ctrl+b")
        assert table.cursor_row == 0
        await pilot.press("down", "down")  # the arrows still work
        assert table.cursor_row == 2


async def test_a_table_without_values_sorts_by_its_text_and_keeps_the_cursor_on_its_row() -> None:
    app = OneTable()
    async with app.run_test(size=(40, 20)) as pilot:
        table = app.query_one(KeyedTable)
        await pilot.press("j", "j", "j")  # row 3
        await pilot.press("o", "o")  # N, then Name (text: "row 10" before "row 2")
        assert table.sort_choice == SortChoice("name")
        assert table.keys[:4] == ["0", "1", "10", "11"]
        assert table.cursor_key() == "3", "the cursor stays on the row it was on"
        assert str(table.columns["name"].label) == "Name ▲" and str(table.columns["n"].label) == "N"
        await pilot.press("o")  # past the last column: the order the rows came in
        assert table.sort_choice == SortChoice() and table.keys[:3] == ["0", "1", "2"]
        assert [str(column.label) for column in table.columns.values()] == ["N", "Name"]


def test_values_sort_as_values_with_no_value_last_and_sections_kept() -> None:
    natural = ["head:a", "x", "y", "z", "head:b", "p", "q"]
    latency = {"x": 120.0, "y": None, "z": 95.0, "p": 4.0, "q": 180.0}
    assert sorted_keys(natural, latency, descending=False) == ["head:a", "z", "x", "y", "head:b", "p", "q"]
    assert sorted_keys(natural, latency, descending=True) == ["head:a", "x", "z", "y", "head:b", "q", "p"]
    mixed = {"x": "b", "y": 2.0, "z": (1.0, 2.0), "p": None, "q": "a"}
    assert sorted_keys(["x", "y", "z", "p", "q"], mixed, descending=False) == ["y", "z", "q", "x", "p"]
    assert [text_value(cell) for cell in ("Beta", Text(" — "), "", "-")] == ["beta", None, None, None]
    assert heading("Latency", 10, "▲") == "Latency ▲"
    assert heading("Latency", 8, "▲") == "Latency▲", "the arrow takes the space when the column is full"
    assert heading("Size", 4, "▼") == "Siz▼", "the arrow shows however narrow the column"


async def test_health_sorts_latency_as_numbers_within_each_host_and_other_panes_keep_their_own_sort(
        tmp_path: Path) -> None:
    app = DeckApp(frozen_deck(tmp_path))
    async with app.run_test(size=(160, 48)) as pilot:
        pane = app.panes["health"]
        assert isinstance(pane, HealthPane)
        table = pane.table
        await wait_until(pilot, lambda: "claude" in table.keys, what="the health rows")
        natural = table.keys
        await pilot.press("o", "o", "o")  # provider → status → latency
        assert table.sort_choice == SortChoice("latency")
        # 4 < 95 < 120 < 180 as numbers (as text "120 ms" would come before "95 ms"); down (—) last in its host
        assert table.keys == ["host:gpu1", "gpu-vllm", "gpu-llamacpp", "host:workstation", "local-ollama", "sd",
                              "host:", "cloud", "claude"]
        assert str(table.columns["latency"].label) == "Latency▲"
        await pilot.press("O")
        assert table.keys == ["host:gpu1", "gpu-vllm", "gpu-llamacpp", "host:workstation", "sd", "local-ollama",
                              "host:", "claude", "cloud"]
        assert str(table.columns["latency"].label) == "Latency▼"

        await pilot.press("4")
        routes = app.panes["routes"]
        assert isinstance(routes, RoutesPane)
        await wait_until(pilot, lambda: bool(routes.table.keys), what="the routes")
        assert routes.table.sort_choice == SortChoice(), "each pane has its own sort"
        await pilot.press("1")
        assert table.sort_choice == SortChoice("latency", descending=True), "kept while the app runs"

        table.sort_by(SortChoice())
        assert table.keys == natural

        await pilot.press("question_mark")
        await wait_until(pilot, lambda: isinstance(app.screen, HelpScreen), what="the help")
        help_text = str(app.screen.query_one("#help-body").render())
        for key, description in (("j", "Down"), ("k", "Up"), ("g", "First row"), ("G", "Last row"),
                                 ("^f", "Page down"), ("^b", "Page up"), ("o", "Sort"), ("O", "Reverse sort"),
                                 ("y", "Copy URL")):
            assert f"  {key:<12} {description}" in help_text, key


async def test_routes_sorted_by_another_column_name_the_alias_on_every_row(tmp_path: Path) -> None:
    app = DeckApp(frozen_deck(tmp_path), first_pane="routes")
    async with app.run_test(size=(160, 48)) as pilot:
        pane = app.panes["routes"]
        assert isinstance(pane, RoutesPane)
        table = pane.table
        await wait_until(pilot, lambda: bool(table.keys), what="the routes")

        def alias_cells() -> list[str]:
            return [str(table.get_row(key)[1]) for key in table.keys]

        assert "" in alias_cells(), "the routes' order: the alias once above its hops"
        await pilot.press("o")  # the ▶ column is skipped: by alias, the hops stay under it
        assert table.sort_choice == SortChoice("alias") and "" in alias_cells()
        assert [key.partition("#")[0] for key in table.keys] == sorted(key.partition("#")[0] for key in table.keys)
        await pilot.press("o")  # by provider: the hops mix, each names its alias
        assert table.sort_choice == SortChoice("provider")
        await wait_until(pilot, lambda: "" not in alias_cells(), what="every row to name its alias")
        providers = [str(table.get_row(key)[2]) for key in table.keys]
        assert providers == sorted(providers, key=str.casefold)


async def test_the_sessions_dialog_finds_its_sort_again_when_it_opens_again(lab_deck: Deck) -> None:
    assert lab_deck.ledger is not None
    for title in ("beta", "Alpha", "gamma"):
        lab_deck.ledger.new_session(title)
    pane = ChatPane(lab_deck)
    async with PaneApp(pane).run_test(size=(100, 30)) as pilot:
        await pilot.app.workers.wait_for_complete()
        await pilot.press("ctrl+o")
        await until(pilot, lambda: isinstance(pilot.app.screen, SessionsDialog))
        dialog = pilot.app.screen
        assert isinstance(dialog, SessionsDialog)
        titles = {str(s.id): s.title for s in dialog.sessions}
        assert [titles[key] for key in dialog.table.keys] == ["gamma", "Alpha", "beta"], "newest first"
        await pilot.press("o")  # the ● column is skipped: by title
        assert [titles[key] for key in dialog.table.keys] == ["Alpha", "beta", "gamma"]
        await pilot.press("g", "j", "enter")  # moves as every table does; Enter switches to the highlighted one
        await until(pilot, lambda: pane.session is not None and pane.session.title == "beta")

        await pilot.press("ctrl+o")
        await until(pilot, lambda: isinstance(pilot.app.screen, SessionsDialog) and pilot.app.screen is not dialog)
        again = pilot.app.screen
        assert isinstance(again, SessionsDialog)
        assert again.table.sort_choice == SortChoice("title")
        assert [titles[key] for key in again.table.keys] == ["Alpha", "beta", "gamma"]
        assert str(again.table.columns["title"].label) == "Title ▲"
        assert again.table.cursor_key() is not None and titles[again.table.cursor_key() or ""] == "beta"
