"""Snapshots of the Health and Routes panes and the help screen at 80×24 and 160×48, from a frozen Deck: fixed
health values, a fixed router clock, fixed spend; nothing is probed and no latency is live."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from textual.pilot import Pilot

from config.schema import DeckConfig
from console.app import DeckApp
from console.bridge import DeckBridge
from console.panes.health import HealthPane
from providers.base import Health
from providers.deck import Deck
from providers.monitor import HealthEvent
from tests.console.pane_harness import wait_until

SIZES = [(80, 24), (160, 48)]
NOW = 1000.0

CONFIG: dict[str, Any] = {
    "providers": [
        {"name": "gpu-vllm", "kind": "vllm", "base_url": "http://127.0.0.1:9", "host": "gpu1"},
        {"name": "gpu-llamacpp", "kind": "llamacpp", "base_url": "http://127.0.0.1:9", "host": "gpu1"},
        {"name": "local-ollama", "kind": "ollama", "base_url": "http://127.0.0.1:9", "host": "workstation"},
        {"name": "sd", "kind": "a1111", "base_url": "http://127.0.0.1:9", "host": "workstation"},
        {"name": "cloud", "kind": "openai", "api_key": "keyring:openai"},
        {"name": "claude", "kind": "anthropic", "api_key": "keyring:anthropic"},
    ],
    "routes": [
        {"alias": "chat", "targets": [{"provider": "gpu-vllm", "model": "meta-llama/Llama-3.1-8B-Instruct"},
                                      {"provider": "gpu-llamacpp", "model": "qwen2.5-7b-instruct-q4_k_m"}],
         "fallbacks": ["cloud-chat"]},
        {"alias": "cloud-chat", "targets": [{"provider": "cloud", "model": "gpt-4o-mini"},
                                            {"provider": "claude", "model": "claude-sonnet-4-5"}]},
        {"alias": "local", "targets": [{"provider": "local-ollama", "model": "llama3.2:1b"}]},
    ],
    "budgets": [{"provider": "claude", "usd_per_day": 2.0}],
}
HEALTH = {
    "gpu-vllm": Health("up", 21.0, "0.10.1.1", ("meta-llama/Llama-3.1-8B-Instruct",),
                       metrics={"kv_cache_usage": 0.37}),
    "gpu-llamacpp": Health("down", None, detail="unreachable: connection refused"),
    "local-ollama": Health("up", 4.0, "0.12.6", ("llama3.2:1b",), vram_used_bytes=2 * 2**30),
    "sd": Health("degraded", 180.0, None, ("v1-5-pruned-emaonly.safetensors",), detail="queue busy",
                 vram_used_bytes=3 * 2**30, vram_total_bytes=24 * 2**30),
    "cloud": Health("up", 95.0),
    "claude": Health("up", 120.0),
}
TRENDS = {"gpu-vllm": (30.0, 24.0, 22.0, 21.0), "local-ollama": (9.0, 5.0, 4.0, 4.0), "cloud": (80.0, 140.0, 95.0)}


def frozen_deck(tmp_path: Path) -> Deck:
    deck = Deck(DeckConfig.model_validate(CONFIG), tmp_path / "data")
    deck.router.clock = lambda: NOW
    deck.monitor.snapshots.update(HEALTH)
    deck.router.breakers.get("cloud", "gpt-4o-mini").open_until(NOW, NOW + 30, "5 failures in a row: overloaded")
    deck.spend.add("claude", 2.5)  # over its $2 daily budget
    return deck


async def feed_trends(pilot: Pilot[None], app: DeckApp) -> None:
    """Probes as the bridge delivers them, one flush per round; probes that change no status are drawn by the
    clock's next tick."""
    pane = app.panes["health"]
    assert isinstance(pane, HealthPane)
    rounds = max(len(values) for values in TRENDS.values())
    for index in range(rounds):
        app.post_message(DeckBridge.HealthChanged(tuple(
            HealthEvent(provider, Health("up", values[index]), None, False, NOW)
            for provider, values in TRENDS.items() if index < len(values))))
    expected = {provider: len(values) + 1 for provider, values in TRENDS.items()}  # and the frozen first probe
    await wait_until(pilot, lambda: {p: len(pane.history[p]) for p in TRENDS} == expected and not pane.changed,
                     what="the trends drawn")


SnapCompare = Callable[..., bool]


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_health_pane(snap_compare: SnapCompare, tmp_path: Path, size: tuple[int, int]) -> None:
    app = DeckApp(frozen_deck(tmp_path))

    async def prepare(pilot: Pilot[None]) -> None:
        await feed_trends(pilot, app)
        await pilot.pause()

    assert snap_compare(app, terminal_size=size, run_before=prepare)


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_routes_pane(snap_compare: SnapCompare, tmp_path: Path, size: tuple[int, int]) -> None:
    assert snap_compare(DeckApp(frozen_deck(tmp_path)), press=["4"], terminal_size=size)


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_help_screen(snap_compare: SnapCompare, tmp_path: Path, size: tuple[int, int]) -> None:
    assert snap_compare(DeckApp(frozen_deck(tmp_path)), press=["question_mark"], terminal_size=size)
