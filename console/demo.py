"""Demo mode: the emulator lab on loopback, throw-away keys and a temporary data dir, plus `:chaos`.

Every action works on the demo: pulls take seconds (watch them, cancel them), `r` really restarts an emulator,
image jobs show their progress. What the operator makes to keep (chat exports, generated images) goes to a
folder that outlives the demo; the ledger and the rest of the data dir are thrown away with it.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import keyring
import platformdirs
from keyring.backend import KeyringBackend

from config.paths import DATA_DIR_ENV
from config.schema import DeckConfig
from config.throwaway_keyring import use_throwaway_keyring
from providers.base import ChatRequest, Message
from providers.deck import Deck
from providers.emulators.faults import parse_faults
from providers.emulators.lab import Lab, add_model_sources, start_lab
from providers.errors import ProviderError

DEFAULT_CHAOS = "503@0.7,delay:1.5"
"""What `:chaos PROVIDER` does without a spec: most requests fail with 503, the rest answer late."""

OUTPUT_DIR_NAME = "llmdeck-demo"
RESTART_DOWN_S = 3.0
"""How long a restarted demo emulator stays down: long enough for the health view to show it."""
UNPACED_RESTART_DOWN_S = 0.2
"""The same for an unpaced demo (tests), which waits on the restart instead of watching it."""

TRAFFIC_ALIASES = ("chat", "fast", "cheap", "cloud-chat")
TRAFFIC_PROMPTS = ("Say hello to the lab.", "One line about GPUs.", "Name a fast model.", "What is a fallback?")


class ChaosError(ValueError):
    """A `:chaos` request that cannot be applied (unknown provider, bad spec)."""


def demo_output_dir() -> Path:
    """Where the demo's chat exports and images go: `llmdeck-demo` in the user data dir, beside llmdeck's own.

    It outlives the demo (the temp data dir does not), every platform has it, a headless box over SSH included,
    where a Downloads folder is often missing, and it is not the real data dir, which the demo leaves untouched.
    Created only when something is written to it."""
    return platformdirs.user_data_path(OUTPUT_DIR_NAME, appauthor=False)


@dataclass
class DemoSession:
    """A running demo; `stop()` ends the emulators, restores the keyring and deletes the data dir. Exports and
    images are written to `output_dir` (give it to the Deck), which stays."""

    lab: Lab
    data_dir: Path
    previous_keyring: KeyringBackend
    previous_data_env: str | None
    chaos: dict[str, str] = field(default_factory=dict)
    output_dir: Path = field(default_factory=demo_output_dir)

    @classmethod
    def start(cls, *, paced: bool = True) -> DemoSession:
        """Start the lab (blocking: run it in a thread from async code)."""
        restart_down_s = RESTART_DOWN_S if paced else UNPACED_RESTART_DOWN_S
        lab = start_lab(paced=paced, restart_down_s=restart_down_s)
        data_dir = Path(tempfile.mkdtemp(prefix="llmdeck-demo-"))
        try:
            add_model_sources(lab, data_dir / "models", restart_down_s=restart_down_s)
        except BaseException:
            lab.stop()
            shutil.rmtree(data_dir, ignore_errors=True)
            raise
        previous = keyring.get_keyring()
        use_throwaway_keyring(lab.keys)
        previous_env = os.environ.get(DATA_DIR_ENV)
        # Anything that asks config.paths for the data dir while the demo runs gets the temp dir too.
        os.environ[DATA_DIR_ENV] = str(data_dir)
        return cls(lab, data_dir, previous, previous_env)

    @property
    def config(self) -> DeckConfig:
        return self.lab.config

    @property
    def providers(self) -> list[str]:
        return list(self.lab.servers)

    def set_chaos(self, provider: str, spec: str | None = None) -> str:
        """Break `provider` with a fault spec (default DEFAULT_CHAOS), or mend it with "off". Returns the spec
        now in force ("" when mended). Blocking (a `refuse` stops a listener): call it in a thread."""
        if provider not in self.lab.servers:
            raise ChaosError(f"no demo provider {provider!r}; the demo has {', '.join(self.lab.servers)}")
        wanted = DEFAULT_CHAOS if spec is None or not spec.strip() else spec.strip()
        if wanted.lower() in ("off", "none", "mend"):
            wanted = ""
        try:
            parse_faults(wanted)
        except ValueError as exc:
            raise ChaosError(str(exc)) from None
        self.lab.set_faults(provider, wanted)
        if wanted:
            self.chaos[provider] = wanted
        else:
            self.chaos.pop(provider, None)
        return wanted

    def stop(self) -> None:
        """End the demo and leave nothing behind. Blocking; idempotent."""
        self.lab.stop()
        keyring.set_keyring(self.previous_keyring)
        if os.environ.get(DATA_DIR_ENV) == str(self.data_dir):
            if self.previous_data_env is None:
                os.environ.pop(DATA_DIR_ENV, None)
            else:
                os.environ[DATA_DIR_ENV] = self.previous_data_env
        shutil.rmtree(self.data_dir, ignore_errors=True)


async def run_traffic(deck: Deck, *, interval_s: float = 4.0, rng: random.Random | None = None,
                      limit: int | None = None) -> int:
    """Send a short chat to a random demo alias every ~`interval_s` (jittered) so every pane has something to
    show; failures are part of the show (they feed breakers and graphs). Returns how many were sent."""
    dice = rng or random.Random()
    aliases = [a for a in TRAFFIC_ALIASES if a in deck.aliases()] or deck.aliases()
    sent = 0
    while aliases and (limit is None or sent < limit):
        await asyncio.sleep(interval_s * dice.uniform(0.6, 1.4))
        alias = dice.choice(aliases)
        request = ChatRequest(model="", messages=(Message("user", dice.choice(TRAFFIC_PROMPTS)),),
                              max_tokens=dice.randint(12, 48))
        with contextlib.suppress(ProviderError):  # the ledger and metrics have recorded it
            await deck.chat(alias, request)
        sent += 1
    return sent
