"""Snapshots of the Models and Graphs panes and the ConfirmDialog at 80×24 and 160×48, from frozen data."""

from __future__ import annotations

import math
from collections.abc import Iterable
from pathlib import Path

import pytest
from textual.app import App, ComposeResult
from textual.pilot import Pilot
from textual.widgets import Footer, Static

from config.schema import DeckConfig
from console.panes.graphs import GraphsPane
from console.panes.models import ModelsPane
from console.screens.confirm import ConfirmDialog
from providers.base import ModelInfo
from providers.deck import Catalog, CatalogEntry, Deck
from providers.metrics import RollingMetrics
from tests.console.pane_harness import PaneApp

SIZES = [pytest.param((80, 24), id="80x24"), pytest.param((160, 48), id="160x48")]
NOW = 1_750_000_000.0
CONFIG = DeckConfig.model_validate({"providers": [
    {"name": "local-ollama", "kind": "ollama", "base_url": "http://127.0.0.1:9"},
    {"name": "box-vllm", "kind": "vllm", "base_url": "http://127.0.0.1:9"},
    {"name": "cloud", "kind": "openai", "base_url": "http://127.0.0.1:9"},
    {"name": "claude", "kind": "anthropic", "base_url": "http://127.0.0.1:9"},
    {"name": "sd", "kind": "a1111", "base_url": "http://127.0.0.1:9"},
]})
GIB = 1024**3


def entry(provider: str, name: str, *, kind: str = "chat", size: float | None = None, quant: str | None = None,
          context: int | None = None, loaded: bool = False, price: tuple[float, float] | None = (0.0, 0.0),
          ) -> CatalogEntry:
    model = ModelInfo(provider, name, kind, int(size * GIB) if size else None, quant, context_length=context,  # type: ignore[arg-type]
                      loaded=loaded)
    return CatalogEntry(model, price[0] if price else None, price[1] if price else None)


CATALOG = Catalog((
    entry("local-ollama", "llama3.2:1b", size=1.23, quant="Q8_0", context=131072, loaded=True),
    entry("local-ollama", "qwen2.5:7b", size=4.36, quant="Q4_K_M", context=32768),
    entry("local-ollama", "nomic-embed-text:latest", kind="embed", size=0.26, quant="F16", context=2048),
    entry("box-vllm", "meta-llama/Llama-3.1-8B-Instruct", context=8192, loaded=True),
    entry("cloud", "gpt-4o-mini", price=(0.15, 0.6)),
    entry("cloud", "gpt-image-1", kind="image", price=None),
    entry("claude", "claude-sonnet-4-5-20250929", context=200000, price=(3.0, 15.0)),
    entry("sd", "v1-5-pruned-emaonly.safetensors [6ce0161689]", kind="image", loaded=True),
    entry("sd", "sd_xl_base_1.0.safetensors [31e35c80fc]", kind="image"),
), {"box-llamacpp": "unreachable: connection refused"})


class FrozenDeck(Deck):
    """A Deck that is never started: its catalog is fixed and its metrics run on a fixed clock."""

    async def catalog(self, provider: str | None = None, *, only: Iterable[str] | None = None) -> Catalog:
        names = None if provider is None and only is None else {provider} if provider else set(only or ())
        return Catalog(tuple(e for e in CATALOG.entries if names is None or e.model.provider in names),
                       CATALOG.errors if names is None else {})


def frozen_deck(tmp_path: Path) -> Deck:
    deck = FrozenDeck(CONFIG, tmp_path / "data")
    deck.metrics = RollingMetrics(clock=lambda: NOW)
    for i in range(60):  # five minutes, one call every five seconds per provider
        at = NOW - 300 + i * 5
        wave = 1 + 0.5 * math.sin(i / 6)
        deck.metrics.record("box-vllm", "llama", ok=True, latency_ms=400 * wave, ttft_ms=80 * wave,
                            completion_tokens=120, now=at)
        deck.metrics.record("local-ollama", "qwen2.5:7b", ok=i % 7 != 3, error_kind="timeout",
                            latency_ms=900 * wave + i * 10, ttft_ms=150 + i, completion_tokens=90, now=at)
        if i % 2 == 0:
            deck.metrics.record("cloud", "gpt-4o-mini", ok=i % 10 != 4, error_kind="rate_limited",
                                latency_ms=1200 / wave, ttft_ms=350, completion_tokens=200, cost_usd=0.002, now=at)
        if i % 3 == 0:
            deck.metrics.record("claude", "claude-sonnet", ok=i % 9 != 0, error_kind="overloaded",
                                latency_ms=1500, ttft_ms=450 * wave, completion_tokens=150, cost_usd=0.006, now=at)
    return deck


async def settled(pilot: Pilot[None]) -> None:
    await pilot.app.workers.wait_for_complete()
    await pilot.pause()


class DialogApp(App[None]):
    def compose(self) -> ComposeResult:
        yield Static("llmdeck — models")
        yield Footer()

    def on_mount(self) -> None:
        self.push_screen(ConfirmDialog(
            "Delete mistral:7b from local-ollama?", 'DELETE http://127.0.0.1:11434/api/delete {"model": "mistral:7b"}',
            "Removes the model (3.8G) from that machine's disk; using it again means pulling it again."))


@pytest.mark.parametrize("size", SIZES)
def test_models_pane(snap_compare, tmp_path: Path, size: tuple[int, int]) -> None:
    deck = frozen_deck(tmp_path)
    assert snap_compare(PaneApp(ModelsPane(deck), deck=deck), terminal_size=size, run_before=settled)


@pytest.mark.parametrize("size", SIZES)
def test_graphs_pane(snap_compare, tmp_path: Path, size: tuple[int, int]) -> None:
    deck = frozen_deck(tmp_path)
    assert snap_compare(PaneApp(GraphsPane(deck), deck=deck), terminal_size=size, run_before=settled)


@pytest.mark.parametrize("size", SIZES)
def test_confirm_dialog(snap_compare, size: tuple[int, int]) -> None:
    assert snap_compare(DialogApp(), terminal_size=size, run_before=settled)
