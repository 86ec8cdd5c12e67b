"""Deterministic fake text and token pacing for the emulators."""

from __future__ import annotations

import asyncio
import hashlib
import random
from collections.abc import AsyncIterator
from dataclasses import dataclass

_VOCABULARY = (
    "the model answers in short plain sentences while the lab keeps its servers warm and every request "
    "finds a route through the fallback chain so that operators can watch latency tokens cost and health "
    "from one terminal over a slow link without losing a turn when a provider goes down"
)
_WORDS = tuple(_VOCABULARY.split())


def count_tokens(text: str) -> int:
    """A rough, stable token count: words and punctuation runs (good enough for usage numbers)."""
    return max(1, len(text.split())) if text.strip() else 0


def fake_tokens(prompt: str, seed: int, n_tokens: int) -> list[str]:
    """`n_tokens` pieces of text, the same for the same prompt and seed."""
    digest = hashlib.sha256(f"{seed}:{prompt}".encode()).digest()
    rng = random.Random(int.from_bytes(digest[:8], "big"))
    tokens = []
    for index in range(n_tokens):
        word = rng.choice(_WORDS)
        if index == 0:
            word = word.capitalize()
        tokens.append(word if index == 0 else " " + word)
    if tokens:
        tokens[-1] += "."
    return tokens


@dataclass(frozen=True, slots=True)
class Pace:
    """How fast an emulator answers: time to first token and tokens per second (0 = as fast as possible), and
    how long a model pull takes (None = the emulator's own quick default)."""

    ttft_s: float = 0.0
    tokens_per_s: float = 0.0
    pull_s: float | None = None

    async def paced(self, tokens: list[str]) -> AsyncIterator[tuple[int, str]]:
        if self.ttft_s:
            await asyncio.sleep(self.ttft_s)
        gap = 1.0 / self.tokens_per_s if self.tokens_per_s else 0.0
        for index, token in enumerate(tokens):
            if gap and index:
                await asyncio.sleep(gap)
            yield index, token
