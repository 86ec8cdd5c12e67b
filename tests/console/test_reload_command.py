"""`:reload`: the config file read again, checked whole first, and applied to the running console."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from textual.pilot import Pilot

from config.loader import load_config
from console.app import DeckApp
from providers.base import ChatRequest, Message
from providers.deck import Deck
from providers.emulators.lab import Lab
from tests.conftest import EmulatorFactory
from tests.console.pane_harness import wait_until
from tests.console.shell_harness import FAST_MONITOR, screen_text
from tests.waiting import bounded

HELLO = ChatRequest(model="", messages=(Message("user", "Say hello to the lab."),), max_tokens=16)
LLAMACPP_TARGET = "box-llamacpp/qwen2.5-7b-instruct-q4_k_m"


def provider_yaml(name: str, kind: str, url: str) -> str:
    return f"  - name: {name}\n    kind: {kind}\n    base_url: {url}\n"


def route_yaml(alias: str, provider: str, model: str) -> str:
    return f"  - alias: {alias}\n    targets:\n      - provider: {provider}\n        model: {model}\n"


def first_config(lab: Lab) -> str:
    return ("providers:\n"
            + provider_yaml("local-ollama", "ollama", lab.servers["local-ollama"].url)
            + provider_yaml("box-vllm", "vllm", lab.servers["box-vllm"].url)
            + provider_yaml("box-llamacpp", "llamacpp", lab.servers["box-llamacpp"].url)
            + "routes:\n" + route_yaml("chat", "box-vllm", "meta-llama/Llama-3.1-8B-Instruct"))


@pytest.fixture
async def file_deck(lab: Lab, tmp_path: Path) -> AsyncIterator[Deck]:
    """A started Deck over a config file of three lab providers, as `llmdeck --config FILE` starts one."""
    path = tmp_path / "llmdeck.yaml"
    path.write_text(first_config(lab), encoding="utf-8")
    deck = Deck(load_config(path), tmp_path / "data", monitor_policy=FAST_MONITOR, config_path=path)
    await deck.start()
    yield deck
    await deck.stop()


def notified(app: DeckApp, text: str) -> bool:
    return any(text in str(notification.message) for notification in app._notifications)


async def run_reload(pilot: Pilot[None], app: DeckApp, expect: str) -> None:
    await pilot.press("colon", *"reload", "enter")
    await wait_until(pilot, lambda: notified(app, expect), what=f"a notification saying {expect!r}")


async def test_an_invalid_file_keeps_the_running_config_and_shows_where(file_deck: Deck) -> None:
    path = file_deck.config_path
    assert path is not None
    text = path.read_text(encoding="utf-8")
    path.write_text(text.replace("kind: llamacpp", "kind: llamacp").replace("kind: vllm", "kind: vlm"),
                    encoding="utf-8")
    lines = text.splitlines()
    vllm_line, llamacpp_line = lines.index("    kind: vllm") + 1, lines.index("    kind: llamacpp") + 1
    app = DeckApp(file_deck)
    async with app.run_test(size=(120, 30)) as pilot:
        await wait_until(pilot, lambda: "box-llamacpp" in screen_text(app), what="the health table")
        await run_reload(pilot, app, f"config not reloaded, the running one stays (2 problems): {path}:{vllm_line}:")
        assert notified(app, f"\n{path}:{llamacpp_line}:11: unknown kind 'llamacp'"), "each problem, with its line"
        assert any(entry.kind == "config" and entry.level == "error" and f"{path}:{vllm_line}:" in entry.summary
                   and "(and 1 more)" in entry.summary for entry in file_deck.events()), "the journal has it too"
        assert list(file_deck.providers) == ["local-ollama", "box-vllm", "box-llamacpp"]
        assert file_deck.providers["box-llamacpp"].kind == "llamacpp"
        await pilot.press("ctrl+r")
        await wait_until(pilot, lambda: "box-llamacpp" in screen_text(app), what="the old providers still shown")


async def test_a_valid_file_adds_removes_and_reroutes_while_a_chat_on_a_removed_provider_finishes(
        lab: Lab, file_deck: Deck, emulator: EmulatorFactory) -> None:
    path = file_deck.config_path
    assert path is not None
    extra = emulator("ollama")
    path.write_text("providers:\n"
                    + provider_yaml("local-ollama", "ollama", lab.servers["local-ollama"].url)
                    + provider_yaml("box-vllm", "vllm", lab.servers["box-vllm"].url)
                    + provider_yaml("lab-extra", "ollama", extra.url)
                    + "routes:\n" + route_yaml("chat", "local-ollama", "llama3.2:1b"), encoding="utf-8")
    app = DeckApp(file_deck)
    async with app.run_test(size=(120, 30)) as pilot:
        await wait_until(pilot, lambda: "box-llamacpp" in screen_text(app), what="the health table")
        async with file_deck.chat_stream(LLAMACPP_TARGET, HELLO) as run:
            chunks = aiter(run)
            first = await bounded(anext(chunks), what="the first chunk from box-llamacpp")
            await run_reload(pilot, app, "providers: +lab-extra −box-llamacpp; routes: ~chat")
            rest = [chunk async for chunk in chunks]  # the answer goes on on the removed provider's adapter

        assert run.error is None and run.text == first.text + "".join(chunk.text for chunk in rest)
        ledger = file_deck.history()
        assert ledger is not None
        row = ledger.recent_requests(1)[0]
        assert (row.provider, row.status) == ("box-llamacpp", "ok")

        await wait_until(pilot, lambda: "lab-extra" in screen_text(app) and "box-llamacpp" not in screen_text(app),
                         what="the health table with the new provider and without the removed one")
        await wait_until(pilot, lambda: (health := file_deck.health_of("lab-extra")) is not None
                         and health.status == "up", what="the added provider probed up")
        assert [hop.provider for hop in file_deck.explain("chat")] == ["local-ollama"]
        assert any(entry.kind == "config" and "providers added: lab-extra; providers removed: box-llamacpp; "
                   "routes changed: chat" in entry.summary for entry in file_deck.events())


async def test_reload_without_a_file_says_so(lab: Lab, tmp_path: Path) -> None:
    deck = Deck(lab.config, tmp_path / "data", monitor_policy=FAST_MONITOR)
    await deck.start()
    try:
        await deck.stop_probing()
        app = DeckApp(deck)
        async with app.run_test(size=(120, 30)) as pilot:
            await run_reload(pilot, app, "nothing to reload: no config file was read at start")
            assert list(deck.providers) == [provider.name for provider in lab.config.providers]
    finally:
        await deck.stop()
