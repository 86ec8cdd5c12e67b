"""Demo mode: it starts with every pane alive, `:chaos` makes the next chat fall back and the routes pane
change, and it leaves nothing in the real data dir or keyring."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import keyring
import pytest

from config.paths import DATA_DIR_ENV
from config.throwaway_keyring import ThrowawayKeyring
from console.app import DeckApp
from console.demo import DEFAULT_CHAOS, ChaosError, DemoSession, run_traffic
from console.panes.models import ModelsPane
from console.screens.confirm import ConfirmDialog
from providers.base import ChatRequest, Message
from providers.deck import Deck
from tests.console.pane_harness import wait_until
from tests.console.shell_harness import FAST_MONITOR, screen_text

HELLO = ChatRequest(model="", messages=(Message("user", "hello"),), max_tokens=16)


@pytest.fixture
def users_keyring() -> Iterator[ThrowawayKeyring]:
    """Stands in for the operator's real keyring: the demo must neither write to it nor leave it replaced."""
    previous = keyring.get_keyring()
    backend = ThrowawayKeyring()
    keyring.set_keyring(backend)
    yield backend
    keyring.set_keyring(previous)


@pytest.fixture
def demo(users_keyring: ThrowawayKeyring) -> Iterator[DemoSession]:
    session = DemoSession.start(paced=False)
    yield session
    session.stop()


@pytest.fixture
async def demo_deck(demo: DemoSession) -> AsyncIterator[Deck]:
    deck = Deck(demo.config, demo.data_dir, monitor_policy=FAST_MONITOR, demo=True)
    await deck.start()
    yield deck
    await deck.stop()


async def test_the_demo_starts_and_every_pane_shows_live_data(demo: DemoSession, demo_deck: Deck) -> None:
    app = DeckApp(demo_deck, demo=demo, traffic=False)
    async with app.run_test(size=(120, 36)) as pilot:
        assert "DEMO" in screen_text(app).splitlines()[0]
        await wait_until(pilot, lambda: "12/12 up" in screen_text(app), what="every emulator up")
        await demo_deck.chat("chat", HELLO)  # something for the graphs to draw
        expectations = {"health": "box-vllm", "models": "Llama-3.1-8B-Instruct", "graphs": "1 request",
                        "routes": "cloud-chat", "chat": "chat", "images": "v1-5-pruned-emaonly"}
        for pane_id, text in expectations.items():
            if pane_id != "health":
                await pilot.press("tab")
            assert app.current_pane == pane_id
            await wait_until(pilot, lambda text=text: text in screen_text(app), what=f"{pane_id} showing {text}")
            assert "not available" not in screen_text(app)


async def test_chaos_makes_the_next_chat_fall_back_and_the_routes_pane_change(
        demo: DemoSession, demo_deck: Deck) -> None:
    app = DeckApp(demo_deck, demo=demo, traffic=False)
    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.press("4")
        routes = app.panes["routes"]
        await wait_until(pilot, lambda: str(routes.table.get_row("chat#0")[0]) == "▶",  # type: ignore[attr-defined]
                         what="box-vllm serving chat")
        await app.shell.execute(":chaos box-vllm 503")
        await wait_until(pilot, lambda: demo.chaos.get("box-vllm") == "503", what="chaos applied")
        await wait_until(pilot, lambda: "chaos: box-vllm" in screen_text(app).splitlines()[0], what="header says")
        run = await demo_deck.chat("chat", HELLO)
        assert run.routed.served_by is not None and run.routed.served_by.provider != "box-vllm"
        assert run.routed.attempts[0].provider == "box-vllm" and run.routed.attempts[0].outcome != "ok"
        await wait_until(pilot, lambda: str(routes.table.get_row("chat#0")[4]) != "ready",  # type: ignore[attr-defined]
                         what="routes pane shows box-vllm not ready")
        assert str(routes.table.get_row("chat#1")[0]) == "▶"  # type: ignore[attr-defined]
        await app.shell.execute(":chaos box-vllm off")
        await wait_until(pilot, lambda: "box-vllm" not in demo.chaos, what="mended")
        await wait_until(pilot, lambda: str(routes.table.get_row("chat#0")[0]) == "▶",  # type: ignore[attr-defined]
                         what="box-vllm serving again")


async def test_the_demo_leaves_nothing_in_the_real_data_dir_or_keyring(users_keyring: ThrowawayKeyring) -> None:
    real_data = Path(os.environ[DATA_DIR_ENV])
    demo = await asyncio.to_thread(DemoSession.start, paced=False)
    try:
        assert os.environ[DATA_DIR_ENV] == str(demo.data_dir) != str(real_data)
        assert keyring.get_keyring() is not users_keyring
        deck = Deck(demo.config, demo.data_dir, monitor_policy=FAST_MONITOR, demo=True)
        await deck.start()
        try:
            await run_traffic(deck, interval_s=0.01, limit=3)
            assert await asyncio.to_thread((demo.data_dir / "ledger.sqlite3").exists)
        finally:
            await deck.stop()
    finally:
        await asyncio.to_thread(demo.stop)
    assert not await asyncio.to_thread(real_data.exists)
    assert not await asyncio.to_thread(demo.data_dir.exists)
    assert os.environ[DATA_DIR_ENV] == str(real_data)
    assert keyring.get_keyring() is users_keyring
    assert users_keyring.entries == {}


def test_chaos_defaults_validates_and_mends(demo: DemoSession) -> None:
    assert demo.set_chaos("cloud") == DEFAULT_CHAOS
    assert demo.lab.servers["cloud"].plan.spec() == DEFAULT_CHAOS
    assert demo.set_chaos("cloud", "off") == ""
    assert demo.lab.servers["cloud"].plan.faults == ()
    with pytest.raises(ChaosError, match="no demo provider"):
        demo.set_chaos("nowhere")
    with pytest.raises(ChaosError, match="unknown fault"):
        demo.set_chaos("cloud", "gremlins")


async def test_chaos_is_only_offered_in_the_demo(demo_deck: Deck) -> None:
    app = DeckApp(demo_deck)  # the same deck, but not a demo session
    async with app.run_test(size=(100, 30)) as pilot:
        assert "chaos" not in [c.name for c in app.shell.commands]
        await app.shell.execute(":chaos box-vllm")
        await pilot.pause()
        assert any("only works in the demo" in str(n.message) for n in app._notifications)


async def test_r_on_a_demo_provider_restarts_its_emulator_and_health_goes_down_and_up(
        demo: DemoSession, demo_deck: Deck) -> None:
    app = DeckApp(demo_deck, demo=demo, traffic=False)
    server = demo.lab.servers["local-ollama"]
    async with app.run_test(size=(120, 36)) as pilot:
        await wait_until(pilot, lambda: "12/12 up" in screen_text(app), what="every emulator up")
        await pilot.press("tab")
        pane = app.panes["models"]
        assert isinstance(pane, ModelsPane)
        row = "local-ollama\x1fqwen2.5:7b"
        await wait_until(pilot, lambda: row in pane.table.rows_by_key, what="the catalog")
        pane.table.focus()
        pane.table.move_cursor(row=pane.table.get_row_index(row))
        server.hold_restarts = True  # down until the test has seen it down, however slow the machine
        try:
            await pilot.press("r")
            await wait_until(pilot, lambda: isinstance(app.screen, ConfirmDialog), what="the confirmation")
            assert isinstance(app.screen, ConfirmDialog)
            assert "providers.emulators.restart_command" in app.screen.call and server.url in app.screen.call
            await pilot.press("tab", "enter")  # from Cancel to Restart
            await wait_until(pilot, lambda: pane.last_restart is not None, what="the restart")
            outcome = pane.last_restart
            assert outcome is not None and outcome.returncode == 0, outcome
            await wait_until(pilot, lambda: (h := demo_deck.health_of("local-ollama")) is not None
                             and h.status == "down", what="local-ollama down")
        finally:
            server.hold_restarts = False
        await wait_until(pilot, lambda: server.restarts == 1, what="the emulator back")
        demo_deck.probe_now("local-ollama")
        await wait_until(pilot, lambda: (h := demo_deck.health_of("local-ollama")) is not None
                         and h.status == "up", what="local-ollama up again")


async def test_the_demo_has_its_model_sources_and_storage_wired(demo: DemoSession, demo_deck: Deck,
                                                                tmp_path: Path) -> None:
    """`:hub`, `:civitai` and `:upload` have somewhere to search, to land and to upload in the demo."""
    found = await demo_deck.hub().search("tinystories", max_results=5)
    assert any(model.id == "lab-models/TinyStories-15M-GGUF" for model in found)
    assert any(model.name == "DreamShaper" for model in await demo_deck.civitai().search("dreamshaper"))
    providers = demo_deck.providers
    assert providers["box-llamacpp"].models_dir and providers["sd"].checkpoint_dir and providers["sd"].lora_dir
    assert Path(providers["sd"].checkpoint_dir).is_relative_to(demo.data_dir)  # removed with the demo
    made = tmp_path / "note.md"
    made.write_text("kept\n", encoding="utf-8")
    uploaded = await demo_deck.upload("dropbox", [made])
    assert [item.path for item in uploaded] == ["/llmdeck-demo/note.md"]
