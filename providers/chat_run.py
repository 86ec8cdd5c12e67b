"""One routed chat through the Deck as its caller sees it: the chunks while it runs (scrubbed of secrets), then
the text, attempts, cost and error; its ledger row is written when it ends, however it ends."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, AsyncIterator
from dataclasses import replace
from typing import TYPE_CHECKING

from config.secret_registry import scrub as redact_secrets
from providers.base import ChatChunk
from providers.errors import ProviderError
from providers.router import RoutedStream
from providers.secret_stream import SecretStreamScrubber

if TYPE_CHECKING:
    from providers.deck import Deck


def request_status(run: ChatRun) -> str:
    """ok, cancelled (the operator stopped it), cut (failed after text was shown) or error."""
    if run.cancelled:
        return "cancelled"
    if run.error is None:
        return "ok"
    return "cut" if run.routed.text else "error"


class ChatRun:
    """One routed chat through the deck: chunks while it runs; text, attempts, cost and error afterwards."""

    def __init__(self, deck: Deck, routed: RoutedStream) -> None:
        self.deck = deck
        self.routed = routed
        self.cost_usd = 0.0
        self.error: ProviderError | None = None
        self.cancelled = False
        self._stream: AsyncGenerator[ChatChunk, None] | None = None
        self._secrets = SecretStreamScrubber()  # a proxy may echo the key into the answer, split across chunks

    def __aiter__(self) -> AsyncIterator[ChatChunk]:
        self._stream = self._run()
        return self._stream

    async def __aenter__(self) -> ChatRun:
        return self

    async def __aexit__(self, *exc: object) -> None:
        """Leaving the block ends the run however it was left (an error in the caller's own code, such as a
        closed pipe, included): the ledger row is written now, not by a generator finaliser after the deck
        has closed."""
        if self._stream is not None:
            await self._stream.aclose()

    async def _run(self) -> AsyncGenerator[ChatChunk, None]:
        stream = aiter(self.routed)
        secrets = self._secrets
        try:
            async for chunk in stream:
                text = secrets.feed(chunk.text)
                yield chunk if text == chunk.text else replace(chunk, text=text)
            if tail := secrets.flush():
                yield ChatChunk(text=tail)
        except ProviderError as exc:
            self.error = exc
            if tail := secrets.flush():  # a cut answer shows whole, as the ledger keeps it; then the error
                yield ChatChunk(text=tail)
            raise
        except (asyncio.CancelledError, GeneratorExit):
            self.cancelled = True
            raise
        finally:
            if isinstance(stream, AsyncGenerator):  # closed now, so the router records the hop it was on
                await stream.aclose()
            await asyncio.shield(self.deck._finish(self))

    @property
    def text(self) -> str:
        """The answer so far as the caller was given it: scrubbed of every known secret, without the few characters
        still held back in case a secret follows (a cancelled answer is kept exactly as it was shown)."""
        text = redact_secrets(self.routed.text)
        held = self._secrets.held
        return text[: len(text) - held] if held else text


