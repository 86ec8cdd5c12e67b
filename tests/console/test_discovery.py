"""Auto-discovery with no config: emulators on test-chosen ports are found, closed and hung ports are ignored
within a bounded time, `:save-config` writes a valid starter file without overwriting, onboarding when empty."""

from __future__ import annotations

import contextlib
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from config.loader import check_text
from console.app import DeckApp
from console.discovery import DiscoveryOutcome, discover_local, save_starter_config, starter_yaml
from console.screens.onboarding import EXAMPLE, OnboardingScreen
from providers.deck import Deck
from providers.discovery import discover
from tests.conftest import EmulatorFactory
from tests.console.pane_harness import wait_until
from tests.console.shell_harness import FAST_MONITOR

TIMEOUT_S = 3.0
"""Long enough for an emulator on a loaded machine to answer; HUNG_PORTS of them in a row would take 36 s."""
HUNG_PORTS = 12


def _closed_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def hung_ports() -> Iterator[list[int]]:
    """Ports that accept connections (the kernel's backlog) but never answer a byte."""
    with contextlib.ExitStack() as stack:
        ports = []
        for _ in range(HUNG_PORTS):
            sock = stack.enter_context(socket.socket(socket.AF_INET, socket.SOCK_STREAM))
            sock.bind(("127.0.0.1", 0))
            sock.listen(8)
            ports.append(int(sock.getsockname()[1]))
        yield ports


async def test_finds_emulators_on_given_ports_and_ignores_closed_and_hung_ones(
        emulator: EmulatorFactory, hung_ports: list[int]) -> None:
    ollama = emulator("ollama")
    vllm = emulator("vllm")
    qdrant = emulator("qdrant")
    candidates = [
        ("ollama", ollama.url),
        ("vllm", f"http://127.0.0.1:{_closed_port()}"),
        ("vllm", vllm.url),
        ("chroma", vllm.url),  # Chroma's usual port is vLLM's too: the vLLM must not pass for a Chroma
        *(("llamacpp", f"http://127.0.0.1:{port}") for port in hung_ports),
        ("qdrant", qdrant.url),
        ("civitai", f"http://127.0.0.1:{_closed_port()}"),  # closed: nothing answers
    ]
    started = time.perf_counter()
    found = await discover(candidates, timeout_s=TIMEOUT_S)
    elapsed = time.perf_counter() - started
    assert [f.provider.name for f in found] == [f"ollama-{ollama.port}", f"vllm-{vllm.port}", f"qdrant-{qdrant.port}"]
    assert all(f.health.status == "up" for f in found)
    # in parallel: one timeout for all the hung ports, where one after another would take 36 s
    assert elapsed < HUNG_PORTS * TIMEOUT_S - 6


async def test_a_port_shared_by_two_kinds_is_reported_once(emulator: EmulatorFactory) -> None:
    llamacpp = emulator("llamacpp")
    found = await discover([("llamacpp", llamacpp.url), ("localai", llamacpp.url)], timeout_s=TIMEOUT_S)
    assert [f.provider.kind for f in found] == ["llamacpp"]


async def test_save_config_writes_a_valid_starter_file_and_never_overwrites(
        emulator: EmulatorFactory, tmp_path: Path) -> None:
    ollama = emulator("ollama")
    target = tmp_path / "cfg" / "config.yaml"
    outcome = await discover_local([("ollama", ollama.url)], timeout_s=TIMEOUT_S, config_path=target)
    deck = Deck(outcome.config, tmp_path / "data", monitor_policy=FAST_MONITOR)
    await deck.start()
    try:
        app = DeckApp(deck, discovery=outcome)
        async with app.run_test(size=(100, 30)) as pilot:
            await pilot.pause()
            assert any(f"ollama-{ollama.port}" in str(n.message) for n in app._notifications)
            await app.shell.execute(":save-config")
            assert target.exists()
            config, problems = check_text(target.read_text(encoding="utf-8"), str(target))
            assert not problems and config is not None
            assert [(p.name, p.kind) for p in config.providers] == [(f"ollama-{ollama.port}", "ollama")]
            target.write_text("# mine\n", encoding="utf-8")
            await app.shell.execute(":save-config")
            await pilot.pause()
            assert target.read_text(encoding="utf-8") == "# mine\n"
            assert any("not overwritten" in str(n.message) for n in app._notifications)
    finally:
        await deck.stop()


async def test_onboarding_shows_when_nothing_answers(tmp_path: Path) -> None:
    outcome = await discover_local([("ollama", f"http://127.0.0.1:{_closed_port()}")], timeout_s=TIMEOUT_S,
                                   config_path=tmp_path / "config.yaml")
    assert outcome.found == ()
    deck = Deck(outcome.config, tmp_path / "data", monitor_policy=FAST_MONITOR)
    await deck.start()
    try:
        app = DeckApp(deck, discovery=outcome)
        async with app.run_test(size=(100, 40)) as pilot:
            await wait_until(pilot, lambda: isinstance(app.screen, OnboardingScreen), what="onboarding")
            body = str(app.screen.query_one("#onboarding-body").render())
            assert str(tmp_path / "config.yaml") in body
            assert "llmdeck keys set" in body and "llmdeck --demo" in body
            await pilot.press("escape")
            assert not isinstance(app.screen, OnboardingScreen)
    finally:
        await deck.stop()


def test_the_onboarding_example_and_an_empty_starter_are_valid_configs() -> None:
    config, problems = check_text(EXAMPLE, "example.yaml")
    assert not problems and config is not None and [p.name for p in config.providers] == ["local-ollama", "claude"]
    config, problems = check_text(starter_yaml([]), "empty.yaml")
    assert not problems and config is not None


def test_saving_refuses_an_existing_file(tmp_path: Path) -> None:
    target = tmp_path / "config.yaml"
    target.write_text("providers: []\n", encoding="utf-8")
    with pytest.raises(FileExistsError):
        save_starter_config(target, DiscoveryOutcome((), target).found)
    assert target.read_text(encoding="utf-8") == "providers: []\n"
