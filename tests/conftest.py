"""Isolation for every test, and emulator fixtures over real loopback HTTP."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import keyring
import pytest

from config.throwaway_keyring import use_throwaway_keyring
from providers.deck import Deck
from providers.emulators.lab import Lab, start_lab
from providers.emulators.registry import start_emulator
from providers.emulators.server import EmulatorServer, stop_all
from providers.emulators.text import Pace
from providers.monitor import MonitorPolicy


@pytest.fixture(autouse=True)
def isolated_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Point HOME, XDG dirs and the data dir at a temp dir; never touch the real keyring."""
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / ".config"))
    monkeypatch.setenv("XDG_DATA_HOME", str(home / ".local" / "share"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(home / ".cache"))
    monkeypatch.setenv("LLMDECK_DATA_DIR", str(home / "data"))
    monkeypatch.delenv("LLMDECK_CONFIG", raising=False)
    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", "keyring.backends.fail.Keyring")
    return home


EmulatorFactory = Callable[..., EmulatorServer]


@pytest.fixture
def emulator() -> Iterator[EmulatorFactory]:
    """Start emulators by kind: `emulator("ollama", faults="503")`; all are stopped after the test."""
    started: list[EmulatorServer] = []

    def start(kind: str, *, faults: str = "", seed: int = 0, pace: Pace | None = None) -> EmulatorServer:
        server = start_emulator(kind, faults=faults, seed=seed, pace=pace)
        started.append(server)
        return server

    yield start
    stop_all(started)


@pytest.fixture(scope="module")
def module_lab() -> Iterator[Lab]:
    """Every emulator of the demo lab, unpaced, once per test module (starting seven servers per test would
    dominate the run time)."""
    running = start_lab(paced=False)
    yield running
    running.stop()


@pytest.fixture
def lab(module_lab: Lab) -> Iterator[Lab]:
    """The module's lab with its keys in a throw-away keyring; every fault is mended after the test."""
    previous = keyring.get_keyring()
    use_throwaway_keyring(module_lab.keys)
    yield module_lab
    for name, server in module_lab.servers.items():
        if server.plan.faults or not server.listening:
            module_lab.set_faults(name, "")
    keyring.set_keyring(previous)


@pytest.fixture
async def lab_deck(lab: Lab, tmp_path: Path) -> AsyncIterator[Deck]:
    """A started Deck over the lab, with a fast health monitor."""
    deck = Deck(lab.config, tmp_path / "data",
                monitor_policy=MonitorPolicy(interval_s=0.5, fast_interval_s=0.2, probe_timeout_s=10.0))
    await deck.start()
    yield deck
    await deck.stop()
