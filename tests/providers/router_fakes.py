"""Scripted fake adapters, fake signals and a fake clock for router decision tests."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import httpx

from providers.base import Adapter, AdapterOptions, Capabilities, ChatChunk, ChatRequest, Usage
from providers.errors import ProviderError


@dataclass
class Script:
    """One call's behaviour: optional delay, some text pieces, then success or an error."""

    pieces: tuple[str, ...] = ("Hello", " world")
    error: ProviderError | None = None
    delay_first_s: float = 0.0
    gap_s: float = 0.0


class FakeClock:
    """Monotonic time that moves only when the router sleeps (or the test advances it)."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds

    def advance(self, seconds: float) -> None:
        self.now += seconds


class FakeAdapter(Adapter):
    """Plays one Script per call, the last one repeating. Records requests and whether streams were closed."""

    capabilities = Capabilities(chat=True)

    def __init__(self, name: str, *scripts: Script) -> None:
        super().__init__(AdapterOptions(name=name, base_url="http://127.0.0.1:9", kind="fake"),
                         httpx.AsyncClient())
        self.scripts = list(scripts) or [Script()]
        self.requests: list[ChatRequest] = []
        self.closed = 0
        self.open_streams = 0

    def chat_stream(self, request: ChatRequest) -> AsyncIterator[ChatChunk]:
        self.requests.append(request)
        script = self.scripts[min(len(self.requests) - 1, len(self.scripts) - 1)]
        return self._play(script)

    async def _play(self, script: Script) -> AsyncIterator[ChatChunk]:
        self.open_streams += 1
        try:
            if script.delay_first_s:
                await asyncio.sleep(script.delay_first_s)
            for index, piece in enumerate(script.pieces):
                if index and script.gap_s:
                    await asyncio.sleep(script.gap_s)
                yield ChatChunk(text=piece)
            if script.error is not None:
                raise script.error
            yield ChatChunk(finish_reason="stop", usage=Usage(10, len(script.pieces)))
        finally:
            self.open_streams -= 1
            self.closed += 1


@dataclass
class FakeSignals:
    latency: dict[str, float] = field(default_factory=dict)
    price: dict[str, float] = field(default_factory=dict)
    window: dict[str, int] = field(default_factory=dict)
    status: dict[str, str] = field(default_factory=dict)
    budget: dict[str, str] = field(default_factory=dict)

    def latency_ms(self, provider: str, model: str) -> float | None:
        return self.latency.get(provider)

    def price_per_token(self, provider: str, model: str) -> float | None:
        return self.price.get(provider)

    def context_window(self, provider: str, model: str) -> int | None:
        return self.window.get(provider)

    def health(self, provider: str) -> str | None:
        return self.status.get(provider)

    def over_budget(self, provider: str) -> str | None:
        return self.budget.get(provider)
