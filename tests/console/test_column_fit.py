"""Choosing columns by width: priorities, essential columns, shrinking, middle cuts; the Models fit and the footer."""

from __future__ import annotations

from console.panes.health import COLUMNS as HEALTH_COLUMNS
from console.panes.health import HealthPane
from console.panes.models_table import ColumnFit, ModelRow
from console.panes.routes import COLUMNS as ROUTES_COLUMNS
from console.screens.help import live_entries
from console.widgets.column_fit import PADDING, SCROLLBAR_ROOM, ColumnSpec, fit_columns, is_cut, middle_cut
from console.widgets.footer import LAST
from providers.deck import Deck
from tests.console.pane_harness import PaneApp, wait_until


def used(fit: tuple[tuple[str, int], ...]) -> int:
    return sum(width + PADDING for _, width in fit) + SCROLLBAR_ROOM


def test_low_priority_columns_go_first_and_essential_ones_never() -> None:
    specs = [ColumnSpec("name", "Name", 10), ColumnSpec("extra", "Extra", 10, priority=2),
             ColumnSpec("nice", "Nice", 10, priority=1), ColumnSpec("status", "Status", 10)]
    assert [key for key, _ in fit_columns(specs, 200)] == ["name", "extra", "nice", "status"]
    assert [key for key, _ in fit_columns(specs, 40)] == ["name", "nice", "status"]
    assert [key for key, _ in fit_columns(specs, 10)] == ["name", "status"]  # too narrow: still never dropped
    assert fit_columns(specs, 10, wide=True) == tuple((spec.key, 10) for spec in specs)


def test_shrinkable_columns_share_the_room_left() -> None:
    specs = [ColumnSpec("a", "A", 30, min_width=10), ColumnSpec("b", "B", 30, min_width=10)]
    fit = fit_columns(specs, 40)
    assert used(fit) <= 40 and dict(fit) == {"a": 17, "b": 17}
    assert is_cut(fit, specs) and not is_cut(fit_columns(specs, 200), specs)


def test_health_at_80_keeps_status_vram_version_and_last_error() -> None:
    fit = fit_columns(HEALTH_COLUMNS, 80)
    assert {"provider", "status", "vram", "version", "error"} <= {key for key, _ in fit}
    assert used(fit) <= 80
    assert len(fit_columns(HEALTH_COLUMNS, 160)) == len(HEALTH_COLUMNS)


def test_routes_at_80_keeps_every_column_with_via_and_hop() -> None:
    fit = fit_columns(ROUTES_COLUMNS, 80)
    assert [key for key, _ in fit] == [spec.key for spec in ROUTES_COLUMNS] and used(fit) <= 80


def test_a_middle_cut_keeps_both_ends_so_close_names_differ() -> None:
    first, second = middle_cut("claude-sonnet-4-5-20250929", 13), middle_cut("claude-sonnet-4-20250514", 13)
    assert first != second and len(first) == 13 and first.startswith("claude") and first.endswith("929")
    assert middle_cut("short", 13) == "short"


def test_models_at_80_drop_columns_before_cutting_names_so_they_differ() -> None:
    rows = [ModelRow("claude", f"claude-sonnet-4-5-2025092{n}-with-a-very-long-tail-{n}", "chat", 10**9, "Q4_K_M",
                     200000, n == 1, 3.0, 15.0) for n in range(2)]
    fit = ColumnFit.for_width(80, rows)
    assert fit.narrow and "quant" in fit.hidden
    names = [str(row.display_cells(fit)[1]) for row in rows]
    assert names[0] != names[1] and all("…" in name for name in names)
    assert ColumnFit.for_width(300, rows) == ColumnFit()


def test_the_footer_leaves_out_refresh_and_the_palette_first() -> None:
    assert LAST[:2] == ("refresh_now", "command_palette") and "help" not in LAST


async def test_w_toggles_the_wide_view_and_help_lists_it(deck: Deck) -> None:
    pane = HealthPane(deck)
    app = PaneApp(pane, deck=deck)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_until(pilot, lambda: pane.table.shown_columns and "trend" not in pane.table.shown_columns,
                         what="the fitted columns")
        assert {"status", "vram", "version", "error"} <= set(pane.table.shown_columns)
        pane.table.focus()
        await pilot.press("W")
        await wait_until(pilot, lambda: pane.table.shown_columns == [spec.key for spec in HEALTH_COLUMNS],
                         what="every column in the wide view")
        assert pane.table.virtual_size.width > pane.table.size.width, "the wide view scrolls sideways"
        assert any(entry.description == "Wide view" and entry.key == "W" for entry in live_entries(app))
        await pilot.press("W")
        await wait_until(pilot, lambda: "trend" not in pane.table.shown_columns, what="the fitted columns again")
