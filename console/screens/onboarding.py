"""First start with no config and nothing answering: where the config goes, an example, keys, the demo."""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

EXAMPLE = """\
providers:
  - name: local-ollama
    kind: ollama
    base_url: http://127.0.0.1:11434
  - name: claude
    kind: anthropic
    api_key: keyring:anthropic      # a reference; the key lives in the keyring
routes:
  - alias: chat
    targets:
      - {provider: local-ollama, model: "llama3.2:1b"}
    fallbacks: [cloud]
  - alias: cloud
    targets:
      - {provider: claude, model: claude-sonnet-4-5}"""


def onboarding_text(config_path: Path, probed: int) -> str:
    return "\n".join([
        "Welcome to llmdeck",
        "",
        f"There is no config file yet, and nothing answered on the {probed} usual local ports.",
        "",
        f"1. Write your config to {config_path}",
        "   (or point --config / $LLMDECK_CONFIG at one), for example:",
        "",
        *("   " + line for line in EXAMPLE.splitlines()),
        "",
        "2. Store API keys in the OS keyring, never in the file:   llmdeck keys set anthropic",
        "3. Check the file:                                         llmdeck config validate",
        "4. Or look around first with built-in emulators:           llmdeck --demo",
        "",
        "Once servers answer on their usual ports, llmdeck finds them by itself and :save-config writes",
        "a starter file with what it found.",
    ])


class OnboardingScreen(ModalScreen[None]):
    """Esc closes (the console stays open, empty); ctrl+q quits."""

    BINDINGS: ClassVar = [Binding("escape,enter", "dismiss", "Close", id="onboarding-close")]
    CSS_PATH = "onboarding.tcss"

    def __init__(self, config_path: Path, probed: int) -> None:
        super().__init__()
        self.config_path = config_path
        self.probed = probed

    def compose(self) -> ComposeResult:
        with Vertical():
            with VerticalScroll():
                yield Static(onboarding_text(self.config_path, self.probed), id="onboarding-body", markup=False)
            yield Static("Esc close · ctrl+q quit", classes="hint")

    def on_mount(self) -> None:
        self.set_focus(self.query_one(VerticalScroll))
