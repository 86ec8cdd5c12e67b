"""Up/Down through the `:` commands typed before, kept in the data dir across runs."""

from __future__ import annotations

import json
from pathlib import Path

from textual.widgets import Input

from config.secret_registry import register_secret
from console.app import DeckApp
from console.command_history import HISTORY_FILE_NAME, MAX_COMMANDS, CommandHistory, HistoryWalk
from console.screens.command_line import CommandLine
from console.screens.route_plan import RoutePlanScreen
from providers.deck import Deck
from tests.console.pane_harness import wait_until


def line(app: DeckApp) -> str:
    assert isinstance(app.screen, CommandLine)
    return app.screen.query_one("#command-input", Input).value


def saved_commands(deck: Deck) -> list[str]:
    path = deck.data_dir / HISTORY_FILE_NAME
    if not path.exists():
        return []
    commands: list[str] = json.loads(path.read_text(encoding="utf-8"))["commands"]
    return commands


async def test_history_is_kept_across_runs_and_walked_newest_first(deck: Deck) -> None:
    first = DeckApp(deck)
    async with first.run_test(size=(100, 30)) as pilot:
        for command in ("models", "route chat", "graphs", "models"):
            await pilot.press("colon", *command, "enter")
            if command.startswith("route"):
                await wait_until(pilot, lambda: isinstance(first.screen, RoutePlanScreen), what="the plan")
                await pilot.press("escape")
        await wait_until(pilot, lambda: saved_commands(deck) == [":route chat", ":graphs", ":models"],
                         what="the history file written, a repeated command moved to the newest")

    second = DeckApp(deck)  # a new run over the same data dir
    async with second.run_test(size=(100, 30)) as pilot:
        await pilot.press("colon")
        seen = []
        for _ in range(4):  # one Up more than there are commands: the oldest stays
            await pilot.press("up")
            seen.append(line(second))
        assert seen == [":models", ":graphs", ":route chat", ":route chat"]
        for expected in (":graphs", ":models", ":"):  # Down walks back to what was typed
            await pilot.press("down")
            assert line(second) == expected
        await pilot.press("down")
        assert line(second) == ":"

        await pilot.press(*"r", "up")  # what was typed filters the walk by its start
        assert line(second) == ":route chat"
        await pilot.press("up")
        assert line(second) == ":route chat", "no older command starts with :r"
        await pilot.press("down")
        assert line(second) == ":r"

        await pilot.press("backspace", *"gra", "up", "enter")  # edited: a new walk from ":gra"
        await wait_until(pilot, lambda: second.current_pane == "graphs", what="the recalled :graphs run")
        await wait_until(pilot, lambda: saved_commands(deck)[-1] == ":graphs", what="the history saved again")


async def test_a_damaged_history_file_is_ignored_and_replaced(deck: Deck) -> None:
    path = deck.data_dir / HISTORY_FILE_NAME
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b'{"commands": [":models", \xff\xfe broken')
    app = DeckApp(deck)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("colon", "up")
        assert line(app) == ":", "nothing recalled from a damaged file"
        await pilot.press(*"routes", "enter")
        await wait_until(pilot, lambda: app.current_pane == "routes", what=":routes run")
        await wait_until(pilot, lambda: saved_commands(deck) == [":routes"], what="a sound history file")


def test_history_file_shapes_that_are_not_ours_load_empty(tmp_path: Path) -> None:
    path = tmp_path / HISTORY_FILE_NAME
    for text in ('["a list"]', '{"commands": 3}', "[" * 100_000, ""):
        path.write_text(text, encoding="utf-8")
        assert CommandHistory.load(path).commands == ()
    path.write_text(json.dumps({"commands": [":models", 7, ":health\x1b[2J", ":graphs"]}), encoding="utf-8")
    assert CommandHistory.load(path).commands == (":models", ":graphs"), "odd entries are left out"
    assert CommandHistory.load(tmp_path / "missing.json").commands == ()


def test_history_is_bounded_and_never_keeps_a_secret(tmp_path: Path) -> None:
    history = CommandHistory(tmp_path / "deep" / HISTORY_FILE_NAME)
    for number in range(MAX_COMMANDS + 20):
        history.add(f":route r{number}")
    register_secret("lab-token-8c1f2e")
    assert not history.add(":chat cloud/lab-token-8c1f2e")
    assert not history.add(":keys sk-abcdefghijklmnop")
    assert not history.add("  ") and not history.add(":")
    history.save()
    kept = CommandHistory.load(history.path or tmp_path).commands
    assert len(kept) == MAX_COMMANDS and kept[-1] == f":route r{MAX_COMMANDS + 19}" and kept[0] == ":route r20"
    assert not any("lab-token" in command or "sk-" in command for command in kept)
    assert (history.path or tmp_path).stat().st_mode & 0o077 == 0, "the file is the operator's alone"


def test_walk_without_history_gives_nothing() -> None:
    walk = HistoryWalk((), ":")
    assert walk.older() is None and walk.newer() is None
