"""Snapshots of the Chat and Images panes at 80×24 and 160×48, from fixed content over a frozen Deck."""

from __future__ import annotations

from pathlib import Path

import pytest
from textual.app import App
from textual.pilot import Pilot
from textual.widgets import Input, TextArea

from config.schema import DeckConfig
from console.panes.chat import ChatPane
from console.panes.images import ImagesPane
from console.widgets.png_decode import decode_png
from providers.base import ModelInfo
from providers.chat_settings import ChatSettings
from providers.deck import Catalog, CatalogEntry, Deck
from providers.emulators.png import gradient_png
from providers.turns import TranscriptEntry, TurnSummary
from tests.console.pane_harness import PaneApp
from tests.waiting import wait_for_condition

CLOSED = "http://127.0.0.1:9"  # nothing is ever sent: the frozen deck answers the pane's only call itself
CONFIG = DeckConfig.model_validate({
    "providers": [
        {"name": "box-vllm", "kind": "vllm", "base_url": CLOSED},
        {"name": "local-ollama", "kind": "ollama", "base_url": CLOSED},
        {"name": "sd", "kind": "a1111", "base_url": CLOSED},
        {"name": "comfy", "kind": "comfyui", "base_url": CLOSED},
    ],
    "routes": [{"alias": "chat", "targets": [{"provider": "box-vllm", "model": "meta-llama/Llama-3.1-8B-Instruct"},
                                             {"provider": "local-ollama", "model": "llama3.2:1b"}]}],
})
MODELS = (
    ModelInfo("box-vllm", "meta-llama/Llama-3.1-8B-Instruct"),
    ModelInfo("local-ollama", "llama3.2:1b", loaded=True),
    ModelInfo("sd", "v1-5-pruned-emaonly.safetensors [6ce0161689]", kind="image", loaded=True),
    ModelInfo("sd", "sd_xl_base_1.0.safetensors [31e35c80fc]", kind="image"),
    ModelInfo("comfy", "v1-5-pruned-emaonly.safetensors", kind="image"),
)


class FrozenDeck(Deck):
    """A Deck whose catalog is fixed and which is never started (no ledger, no monitor, no requests)."""

    async def catalog(self, provider: str | None = None) -> Catalog:
        return Catalog(tuple(CatalogEntry(m, None, None) for m in MODELS if provider in (None, m.provider)), {})


def still_cursors(app: App[None]) -> None:
    for widget in app.query("TextArea, Input"):
        if isinstance(widget, TextArea | Input):
            widget.cursor_blink = False


ANSWER = """Three checks, in order:

1. `llmdeck health` — every provider **up**?
2. The route plan: `llmdeck route explain chat`
3. A test fire:

```sh
llmdeck chat chat "ping" --json
```
"""
TRANSCRIPT = [
    TranscriptEntry("user", "How do I check the lab before a demo?"),
    TranscriptEntry("assistant", ANSWER, TurnSummary(
        "complete", served_by="local-ollama/llama3.2:1b",
        fallbacks=("box-vllm/meta-llama/Llama-3.1-8B-Instruct unreachable ×2",), ttft_ms=412.0,
        tokens_per_s=61.3, prompt_tokens=18, completion_tokens=57, cost_usd=0.0)),
    TranscriptEntry("user", "And if a stream breaks?"),
    TranscriptEntry("assistant", "The router keeps the partial text and", TurnSummary(
        "cut", served_by="box-vllm/meta-llama/Llama-3.1-8B-Instruct", ttft_ms=95.0,
        reason="stream broke at box-vllm: connection dropped")),
]


def chat_app(tmp_path: Path) -> PaneApp:
    return PaneApp(ChatPane(FrozenDeck(CONFIG, tmp_path / "data")))


async def show_chat(pilot: Pilot[None]) -> None:
    await pilot.app.workers.wait_for_complete()
    pane = pilot.app.query_one(ChatPane)
    pane.settings = ChatSettings("You answer lab operators briefly.", 512, 0.7)
    await pane.show_transcript(TRANSCRIPT, "Checking the lab")
    still_cursors(pilot.app)
    await pilot.pause()


def images_app(tmp_path: Path) -> PaneApp:
    return PaneApp(ImagesPane(FrozenDeck(CONFIG, tmp_path / "data")))


async def show_image(pilot: Pilot[None]) -> None:
    await pilot.app.workers.wait_for_complete()
    pane = pilot.app.query_one(ImagesPane)
    pane.query_one("#images-prompt", Input).value = "a lighthouse at dusk, oil painting"
    pane.query_one("#images-negative", Input).value = "blurry"
    pane.query_one("#images-seed", Input).value = "42"
    pane.show_saved("~/.local/share/llmdeck/images/20250101-120000-000000-sd-42.png",
                    "20250101-120000-000000-sd-42.json", "saved · 96×64 · seed 42 · 3.2 s")
    pane.show_image(decode_png(gradient_png(96, 64, seed=5)), "20250101-120000-000000-sd-42.png")
    still_cursors(pilot.app)
    # The prompt has the focus, as on arriving at the pane. Set, not left to the app's first focus (which lands
    # at a moment that varies), and waited for: the keys line follows the focus through a few message hops.
    prompt = pane.query_one("#images-prompt", Input)
    prompt.focus()
    await wait_for_condition(lambda: pilot.app.focused is prompt
                             and str(pane.query_one("#images-keys").render()).startswith("prompt: "),
                             pause=pilot.pause)
    await pilot.pause()


@pytest.mark.parametrize("size", [(80, 24), (160, 48)])
def test_chat_pane_snapshot(snap_compare: object, tmp_path: Path, size: tuple[int, int]) -> None:
    assert snap_compare(chat_app(tmp_path), terminal_size=size, run_before=show_chat)  # type: ignore[operator]


@pytest.mark.parametrize("size", [(80, 24), (160, 48)])
def test_images_pane_snapshot(snap_compare: object, tmp_path: Path, size: tuple[int, int]) -> None:
    assert snap_compare(images_app(tmp_path), terminal_size=size, run_before=show_image)  # type: ignore[operator]
