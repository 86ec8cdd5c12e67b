"""Models pane over the emulator lab: catalog, filter/sort, pull with progress and cancel, delete, load/unload,
restart, details, checkpoint switch, readonly.

One lab serves the whole module (stopping seven servers per test would dominate its run time); every test gets
its own started Deck (`lab_deck`) and works on models no other test touches.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from rich.text import Text
from textual.pilot import Pilot
from textual.widgets import Button

from console.panes.models import ModelsPane
from console.panes.models_table import MIN_MODEL_WIDTH, ColumnFit, ModelRow
from console.screens.confirm import ConfirmDialog
from console.screens.model_details import ModelDetailsScreen
from console.screens.pull_dialog import PullDialog
from providers.deck import Deck
from providers.emulators.lab import Lab
from tests.console.pane_harness import PaneApp, wait_until
from tests.emulator_control import pulls_held

OLLAMA = "local-ollama"


pytestmark = pytest.mark.usefixtures("monitor_stopped")  # the Models pane does not read health


def key(provider: str, model: str) -> str:
    return f"{provider}\x1f{model}"


async def started(pilot: Pilot[None], pane: ModelsPane) -> None:
    await wait_until(pilot, lambda: key("sd", "dreamshaper_8.safetensors [879db523c3]") in pane.table.rows_by_key,
                     what="the catalog")


def select(pane: ModelsPane, provider: str, model: str) -> None:
    pane.table.focus()
    pane.table.move_cursor(row=pane.table.get_row_index(key(provider, model)))


async def catalog_names(deck: Deck, provider: str) -> set[str]:
    return {e.model.name for e in (await deck.catalog(provider)).entries}


def notes(app: PaneApp) -> str:
    return "\n".join(n.message for n in app._notifications)


async def test_catalog_lists_models_of_every_provider_with_size_quant_context_and_price(
        lab: Lab, lab_deck: Deck) -> None:
    pane = ModelsPane(lab_deck)
    app = PaneApp(pane, deck=lab_deck)
    async with app.run_test(size=(120, 30)) as pilot:
        await started(pilot, pane)
        row = pane.table.rows_by_key[key(OLLAMA, "qwen2.5:7b")]
        assert row.cells()[3:6] == ("4.4G", "Q4_K_M", "32k")
        assert pane.table.rows_by_key[key("cloud", "gpt-4o-mini")].cells()[-1] == "0.15/0.60"
        image_rows = {r.provider for r in pane.table.rows_by_key.values() if r.kind == "image"}
        assert {"sd", "comfy"} <= image_rows
        assert {r.provider for r in pane.table.shown()} == set(lab_deck.adapters)

        lab.set_faults("box-vllm", "refuse")  # a provider that stops answering keeps its rows, marked in the status
        pane.refresh_now()
        await wait_until(pilot, lambda: "box-vllm" in pane.catalog_errors, what="the catalog error")
        assert key("box-vllm", "meta-llama/Llama-3.1-8B-Instruct") in pane.table.rows
        status = str(pane.query_one("#models-status").render())
        assert status.count("box-vllm: ") == 1, status  # the provider's name once, then what went wrong


async def test_at_80_columns_every_column_fits_and_long_names_are_cut_until_the_terminal_widens(
        lab_deck: Deck) -> None:
    pane = ModelsPane(lab_deck)
    app = PaneApp(pane, deck=lab_deck)
    async with app.run_test(size=(80, 24)) as pilot:
        await started(pilot, pane)
        await pilot.pause()
        table = pane.table
        assert table.column_fit.narrow and table.column_fit.model_width is not None
        assert table.virtual_size.width <= table.size.width, "no sideways scrolling at 80 columns"
        assert [str(column.label) for column in table.columns.values()][-3:] == ["Ctx", "Ld", "$/M in/out"]
        long_name = "meta-llama/Llama-3.1-8B-Instruct"
        assert len(long_name) > table.column_fit.model_width
        select(pane, "box-vllm", long_name)
        assert table.selected is not None and table.selected.name == long_name, "the row keeps the whole name"
        status = pane.query_one("#models-status")
        await wait_until(pilot, lambda: f"▸ {long_name}" in str(status.render()), what="the whole name in the status")
        select(pane, "cloud", "gpt-4o-mini")  # short enough: not repeated
        await wait_until(pilot, lambda: "▸" not in str(status.render()), what="no name for an uncut row")
        select(pane, "box-vllm", long_name)

        await pilot.resize_terminal(200, 40)
        await wait_until(pilot, lambda: not table.column_fit.narrow, what="the wide layout")
        assert [str(column.label) for column in table.columns.values()][-3:] == ["Context", "Loaded", "$/Mtok in/out"]
        assert table.columns["model"].width == max(len(row.name) for row in table.rows_by_key.values())
        assert table.selected is not None and table.selected.name == long_name, "the cursor stays on its model"


def test_names_from_a_backend_are_never_read_as_markup() -> None:
    row = ModelRow("p[x]", "evil [bold]model[/bold] [31e35c80fc]", "chat", None, "[q]", None, False, None, None)
    cells = row.display_cells()
    assert [cell.plain for cell in cells if isinstance(cell, Text)] == [
        "p[x]", "evil [bold]model[/bold] [31e35c80fc]", "[q]"]


def test_the_fit_caps_only_the_model_column_and_never_below_its_minimum() -> None:
    rows = [ModelRow("local-ollama", "x" * 60, "chat", 10**9, "Q4_K_M", 32768, True, 0.15, 0.6)]
    assert ColumnFit.for_width(200, rows) == ColumnFit()
    narrow = ColumnFit.for_width(80, rows)
    assert narrow.narrow and narrow.model_width is not None and MIN_MODEL_WIDTH <= narrow.model_width < 60
    assert ColumnFit.for_width(30, rows).model_width == MIN_MODEL_WIDTH
    short = [ModelRow("p", "m", "chat", None, None, None, False, None, None)]
    assert ColumnFit.for_width(80, short) == ColumnFit()


async def test_filter_is_a_substring_and_bang_inverts_it_and_o_cycles_the_sort(lab_deck: Deck) -> None:
    pane = ModelsPane(lab_deck)
    app = PaneApp(pane, deck=lab_deck)
    async with app.run_test(size=(120, 30)) as pilot:
        await started(pilot, pane)
        total = pane.table.row_count
        pane.apply_filter("OLLAMA")
        assert {r.provider for r in pane.table.shown()} == {OLLAMA}
        pane.apply_filter("!ollama")
        assert OLLAMA not in {r.provider for r in pane.table.shown()}
        assert pane.table.row_count == total - 4
        pane.apply_filter("")
        assert pane.table.row_count == total
        pane.table.focus()
        await pilot.press("o", "o", "o", "o")  # provider → model → kind → size, smallest first
        assert pane.table.sort_choice.column == "size"
        sizes = [r.size_bytes for r in pane.table.shown()]
        known = [size for size in sizes if size is not None]
        assert known == sorted(known) and len(known) >= 4
        assert sizes == known + [None] * (len(sizes) - len(known)), "a model of unknown size sorts last"
        await pilot.press("O")  # biggest first; still unknown sizes last
        sizes = [r.size_bytes for r in pane.table.shown()]
        assert sizes[:len(known)] == sorted(known, reverse=True)
        assert "sort: Size ▼" in str(pane.query_one("#models-status").render())


async def test_pull_shows_progress_then_the_model_appears(lab: Lab, lab_deck: Deck) -> None:
    pane = ModelsPane(lab_deck)
    app = PaneApp(pane, deck=lab_deck)
    async with app.run_test(size=(120, 30)) as pilot:
        await started(pilot, pane)
        with pulls_held(lab.servers[OLLAMA]):  # the pull waits halfway, so its progress can be seen
            select(pane, "cloud", "gpt-4o")  # cannot pull: the dialog offers a provider that can
            await pilot.press("p")
            await wait_until(pilot, lambda: isinstance(app.screen, PullDialog), what="the pull dialog")
            await pilot.press(*"gemma2:2b", "enter")
            await wait_until(pilot, lambda: isinstance(app.screen, ConfirmDialog), what="the confirmation")
            assert "/api/pull" in app.screen.call and '"gemma2:2b"' in app.screen.call
            await pilot.press("tab", "enter")  # from Cancel to Pull
            await wait_until(pilot, lambda: bool(pane.pulls.jobs) and "%" in str(
                pane.pulls.table.get_row(pane.pulls.jobs[0].id)[2]), what="pull progress")
            job = pane.pulls.jobs[0]
            assert job.provider == OLLAMA and pane.pulls.display and job.status.startswith("pulling ")
        await wait_until(pilot, lambda: key(OLLAMA, "gemma2:2b") in pane.table.rows_by_key, what="the new row")
        assert job.state == "done"
    assert "gemma2:2b" in await catalog_names(lab_deck, OLLAMA)


async def test_pulls_queue_per_provider_and_x_cancels_them_so_the_server_never_gets_the_models(
        lab: Lab, lab_deck: Deck) -> None:
    pane = ModelsPane(lab_deck)
    app = PaneApp(pane, deck=lab_deck)
    with pulls_held(lab.servers[OLLAMA]) as server:
        async with app.run_test(size=(120, 30)) as pilot:
            await started(pilot, pane)
            first = pane.pulls.enqueue(OLLAMA, "phi3:mini")
            second = pane.pulls.enqueue(OLLAMA, "llava:7b")
            pane.refresh_bindings()
            await wait_until(pilot, lambda: first.status.startswith("pulling "), what="pull progress")
            assert second.state == "queued"  # one pull at a time per provider
            pane.table.focus()
            assert "x" in app.screen.active_bindings  # shown while a pull can be cancelled
            pulls = pane.pulls.table
            pulls.move_cursor(row=pulls.get_row_index(second.id))
            await pilot.press("x")
            assert second.state == "cancelled" and first.state == "pulling"
            pulls.move_cursor(row=pulls.get_row_index(first.id))
            await pilot.press("x")
            await wait_until(pilot, lambda: first.state == "cancelled", what="the cancellation")
            assert second.status == "cancelled before it started"
            # the server saw the client go away: nothing is left to finish once the pulls are let go
            await wait_until(pilot, lambda: server.active_pulls == 0 and server.cancelled["pull"] >= 1,
                             what="the server to drop the cancelled pull")
            assert key(OLLAMA, "phi3:mini") not in pane.table.rows_by_key
            assert "x" not in app.screen.active_bindings
    assert not {"phi3:mini", "llava:7b"} & await catalog_names(lab_deck, OLLAMA)


async def test_delete_asks_with_cancel_focused_cancel_keeps_and_confirm_removes(lab_deck: Deck) -> None:
    pane = ModelsPane(lab_deck)
    app = PaneApp(pane, deck=lab_deck)
    async with app.run_test(size=(120, 30)) as pilot:
        await started(pilot, pane)
        select(pane, OLLAMA, "mistral:7b")
        await pilot.press("ctrl+d")
        await wait_until(pilot, lambda: isinstance(app.screen, ConfirmDialog), what="the confirmation")
        dialog = app.screen
        assert isinstance(app.focused, Button) and app.focused.id == "cancel"
        assert dialog.call.startswith("DELETE ") and '"mistral:7b"' in dialog.call
        await pilot.press("enter")
        await wait_until(pilot, lambda: not isinstance(app.screen, ConfirmDialog), what="the dialog to close")
        await pilot.pause(0.1)
        assert key(OLLAMA, "mistral:7b") in pane.table.rows_by_key
        assert "mistral:7b" in await catalog_names(lab_deck, OLLAMA)

        await pilot.press("ctrl+d")
        await wait_until(pilot, lambda: isinstance(app.screen, ConfirmDialog), what="the confirmation")
        await pilot.press("tab", "enter")
        await wait_until(pilot, lambda: key(OLLAMA, "mistral:7b") not in pane.table.rows, what="the row to go")
        assert "mistral:7b" not in await catalog_names(lab_deck, OLLAMA)


async def test_w_loads_and_u_unloads_after_confirming(lab_deck: Deck) -> None:
    pane = ModelsPane(lab_deck)
    app = PaneApp(pane, deck=lab_deck)

    def loaded() -> bool:
        return pane.table.rows_by_key[key(OLLAMA, "llama3.2:1b")].loaded

    async with app.run_test(size=(120, 30)) as pilot:
        await started(pilot, pane)
        assert not loaded()
        select(pane, OLLAMA, "llama3.2:1b")
        await pilot.press("w")
        await wait_until(pilot, loaded, what="loaded")
        assert str(pane.table.get_cell(key(OLLAMA, "llama3.2:1b"), "loaded")) == "●"
        await pilot.press("u")
        await wait_until(pilot, lambda: isinstance(app.screen, ConfirmDialog), what="the confirmation")
        assert '"keep_alive": 0' in app.screen.call
        await pilot.press("tab", "enter")
        await wait_until(pilot, lambda: not loaded(), what="unloaded")


async def test_a_key_the_provider_cannot_do_says_why_and_changes_nothing(lab_deck: Deck) -> None:
    pane = ModelsPane(lab_deck)
    app = PaneApp(pane, deck=lab_deck)
    async with app.run_test(size=(120, 30)) as pilot:
        await started(pilot, pane)
        select(pane, "cloud", "gpt-4o")
        await pilot.press("ctrl+d", "u", "w", "s")
        await wait_until(pilot, lambda: "gpt-4o is a chat model" in notes(app), what="the refusals")
        assert not isinstance(app.screen, ConfirmDialog)
        assert "cloud (openai) cannot delete models" in notes(app)
        assert "cloud (openai) cannot unload models" in notes(app)
        assert "gpt-4o is a chat model" in notes(app)
        select(pane, "comfy", "sd_xl_base_1.0.safetensors")
        await pilot.press("s")
        await pilot.press("r")
        await pilot.pause(0.1)
        assert "comfy (comfyui) cannot switch checkpoints" in notes(app)
        assert "no restart configured for comfy" in notes(app)
        assert key("cloud", "gpt-4o") in pane.table.rows_by_key


async def test_readonly_hides_the_actions_from_the_footer_and_refuses_them(lab_deck: Deck) -> None:
    pane = ModelsPane(lab_deck, readonly=True)
    app = PaneApp(pane, deck=lab_deck)
    async with app.run_test(size=(120, 30)) as pilot:
        await started(pilot, pane)
        select(pane, OLLAMA, "qwen2.5:7b")
        shown = set(app.screen.active_bindings)
        assert not {"p", "ctrl+d", "u", "w", "r", "s", "x"} & shown
        assert {"d", "o"} <= shown
        await pilot.press("p", "ctrl+d", "u", "w", "r", "s")
        await pilot.pause(0.1)
        assert app.screen is app.screen_stack[0]
        pane.request_pull(OLLAMA, "gemma2:2b")  # as `:pull` would
        await pilot.pause(0.1)
        assert app.screen is app.screen_stack[0] and not pane.pulls.jobs
        assert "read-only" in notes(app)
    assert "qwen2.5:7b" in await catalog_names(lab_deck, OLLAMA)


async def test_restart_dialog_shows_the_argv_and_runs_it(lab: Lab, tmp_path: Path) -> None:
    providers = tuple(p.model_copy(update={"restart": ("true", "--restart", "local ollama")})
                      if p.name == OLLAMA else p for p in lab.config.providers)
    deck = Deck(lab.config.model_copy(update={"providers": providers}), tmp_path / "restart-data")
    await deck.start(monitor=False)
    try:
        pane = ModelsPane(deck)
        app = PaneApp(pane, deck=deck)
        async with app.run_test(size=(120, 30)) as pilot:
            await started(pilot, pane)
            select(pane, OLLAMA, "qwen2.5:7b")
            await pilot.press("r")
            await wait_until(pilot, lambda: isinstance(app.screen, ConfirmDialog), what="the confirmation")
            assert app.screen.call == "true --restart 'local ollama'"
            await pilot.press("tab", "enter")
            await wait_until(pilot, lambda: pane.last_restart is not None, what="the restart")
            assert pane.last_restart is not None and pane.last_restart.returncode == 0
            assert f"{OLLAMA}: exit 0" in notes(app)
    finally:
        await deck.stop()


async def test_s_switches_the_a1111_checkpoint(lab_deck: Deck) -> None:
    pane = ModelsPane(lab_deck)
    app = PaneApp(pane, deck=lab_deck)
    target = "sd_xl_base_1.0.safetensors [31e35c80fc]"
    async with app.run_test(size=(120, 30)) as pilot:
        await started(pilot, pane)
        assert not pane.table.rows_by_key[key("sd", target)].loaded
        select(pane, "sd", target)
        await pilot.press("s")
        await wait_until(pilot, lambda: pane.table.rows_by_key[key("sd", target)].loaded, what="the switch")
        loaded = [r.name for r in pane.table.rows_by_key.values() if r.provider == "sd" and r.loaded]
        assert loaded == [target]
    assert (await lab_deck.health_all())["sd"].models_loaded == (target,)


async def test_d_opens_the_details_with_ollama_modelfile_and_context(lab_deck: Deck) -> None:
    pane = ModelsPane(lab_deck)
    app = PaneApp(pane, deck=lab_deck)
    async with app.run_test(size=(120, 30)) as pilot:
        await started(pilot, pane)
        select(pane, OLLAMA, "qwen2.5:7b")
        await pilot.press("d")
        await wait_until(pilot, lambda: isinstance(app.screen, ModelDetailsScreen) and app.screen.sheet is not None,
                         what="the details")
        screen = app.screen
        assert screen.sheet is not None and screen.sheet.ollama is not None
        assert "FROM" in screen.sheet.ollama.modelfile
        await wait_until(pilot, lambda: "context_length  32768" in str(screen.query_one("#details-facts").render()),
                         what="the facts to render")
        await pilot.press("escape")
        assert not isinstance(app.screen, ModelDetailsScreen)
        select(pane, "box-vllm", "meta-llama/Llama-3.1-8B-Instruct")
        await pilot.press("d")
        await wait_until(pilot, lambda: isinstance(app.screen, ModelDetailsScreen) and app.screen.sheet is not None,
                         what="the vLLM details")
        assert "max_model_len" in str(app.screen.query_one("#details-facts").render())


async def test_catalog_changed_updates_that_providers_rows_in_place(lab_deck: Deck) -> None:
    pane = ModelsPane(lab_deck)
    app = PaneApp(pane, deck=lab_deck)
    async with app.run_test(size=(120, 30)) as pilot:
        await started(pilot, pane)
        cloud_row = pane.table.get_row(key("cloud", "gpt-4o"))
        await lab_deck.delete(OLLAMA, "nomic-embed-text:latest")  # outside the pane: only the event tells it
        await wait_until(pilot, lambda: key(OLLAMA, "nomic-embed-text:latest") not in pane.table.rows,
                         what="the refresh")
        assert pane.table.get_row(key("cloud", "gpt-4o")) == cloud_row
        assert isinstance(pane.table.rows_by_key[key(OLLAMA, "qwen2.5:7b")], ModelRow)
