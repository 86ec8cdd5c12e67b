"""One routed chat through the Deck as its caller sees it, and who owns its end.

Lifetime, like an httpx stream: `async with deck.chat_stream(target, request) as run:` opens the run and
`async for chunk in run:` reads it, once (the chunks scrubbed of secrets). Leaving the block ends the run however
it was left and awaits its finish: the ledger row, with the chat turn when the run carries a TurnPlan, in one
transaction. Afterwards the run holds the text, attempts, cost, error and the turn's summary.

The Deck owns every run from entry to finish (a RunBook): a run still open when the deck stops is finished then,
as cancelled, and every finish is written before the ledger closes, within a bound.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable
from contextlib import suppress
from dataclasses import replace
from types import AsyncGeneratorType

from config.secret_registry import scrub as redact_secrets
from providers.base import ChatChunk
from providers.errors import ProviderError
from providers.ledger import Ledger, LedgerError, UnknownSessionError
from providers.ledger_schema import ChatWritten, RequestRow
from providers.router import RoutedStream
from providers.routing import Target
from providers.secret_stream import SecretStreamScrubber
from providers.turns import TurnPlan, TurnSummary, turn_row

DRAIN_S = 1.5
"""When the deck stops: how long open runs and the rows being written may take before the ledger closes anyway."""
DECK_STOPPED = "llmdeck closed before the answer ended"


class ChatRunError(RuntimeError):
    """A run used outside its lifetime: iterated twice, iterated outside its `async with`, or entered twice."""


def request_status(run: ChatRun) -> str:
    """ok, cancelled (the operator stopped it), cut (failed after text was shown) or error."""
    if run.cancelled:
        return "cancelled"
    if run.error is None:
        return "ok"
    return "cut" if run.routed.text else "error"


class ChatRun:
    """One routed chat through the deck: chunks while it runs; text, attempts, cost, error and summary afterwards."""

    def __init__(self, book: RunBook, routed: RoutedStream, turn: TurnPlan | None = None) -> None:
        self.routed = routed
        self.turn = turn
        self.cost_usd = 0.0
        self.error: ProviderError | None = None
        self.cancelled = False
        self.stop_reason = ""
        """Why the caller stopped the run early, kept with a cancelled turn: set it before leaving the block."""
        self.summary: TurnSummary | None = None
        """How the turn came out, once the run is finished."""
        self.written: ChatWritten | None = None
        """The ids the ledger wrote, once finished; None without a ledger or when the write failed."""
        self.turn_problem: str | None = None
        """Why the run's turn was not kept, when it was not (no ledger, a failed write, a deleted session)."""
        self._book = book
        self._stream: AsyncGenerator[ChatChunk, None] | None = None
        self._entered = False
        self._finish: asyncio.Task[None] | None = None
        self._closing = asyncio.Event()
        self._secrets = SecretStreamScrubber()  # a proxy may echo the key into the answer, split across chunks

    def __aiter__(self) -> AsyncIterator[ChatChunk]:
        if not self._entered:
            raise ChatRunError("a chat run is read inside `async with deck.chat_stream(...) as run:`")
        if self._stream is not None or self._finish is not None:
            raise ChatRunError("a chat run can be iterated only once; start another with deck.chat_stream(...)")
        self._stream = self._run()
        return self._stream

    async def __aenter__(self) -> ChatRun:
        if self._entered:
            raise ChatRunError("a chat run can be entered only once; start another with deck.chat_stream(...)")
        self._entered = True
        self._book.opened(self)
        return self

    async def __aexit__(self, *exc: object) -> None:
        """Leaving the block ends the run however it was left (an error in the caller's own code, such as a
        closed pipe, included) and waits until it is recorded."""
        await self.aclose()

    @property
    def streaming(self) -> bool:
        """A task is inside the stream right now, waiting for its next chunk."""
        return isinstance(self._stream, AsyncGeneratorType) and self._stream.ag_running

    async def aclose(self) -> None:
        """End the run and wait until it is recorded; again, only wait. A stream left before its end is closed
        (so the router records the hop it was on) and the run counts as cancelled. The write itself is the
        deck's: cancelling this wait does not stop it."""
        if not self._entered:
            return
        try:
            if self._stream is None and self._finish is None:
                self.cancelled = True  # left before it was read: nothing was asked
            elif self._stream is not None and not self.streaming:
                await self._stream.aclose()
        finally:  # started even when a cancel cuts the closing short: the run is recorded all the same
            finishing = self._book.finishing(self)
        await asyncio.shield(finishing)

    async def abandon(self, reason: str) -> None:
        """The deck stops with this run open: end it here, as cancelled unless its stream already ended."""
        if self._finish is not None:
            return
        self.stop_reason = self.stop_reason or reason
        try:
            if self._stream is not None and not self.streaming:
                await self._stream.aclose()
            else:  # never read, or another task is inside it: for the record it ends now
                self.cancelled = True
        finally:
            self._book.finishing(self)

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

    @property
    def text(self) -> str:
        """The answer so far as the caller was given it: scrubbed of every known secret, without the few characters
        still held back in case a secret follows (a cancelled answer is kept exactly as it was shown)."""
        text = redact_secrets(self.routed.text)
        held = self._secrets.held
        return text[: len(text) - held] if held else text




def request_row(run: ChatRun, served: Target | None) -> RequestRow:
    """The run's request row: who served it (or spoke last), tokens, cost, timings, outcome."""
    routed, usage = run.routed, run.routed.usage
    return RequestRow(
        alias=routed.route.alias, hop=next((i for i, a in enumerate(routed.attempts) if a.outcome == "ok"), None),
        provider=served.provider if served else None, model=served.model if served else None,
        prompt_tokens=usage.prompt_tokens if usage else 0, completion_tokens=usage.completion_tokens if usage else 0,
        cost_usd=run.cost_usd, ttft_ms=routed.ttft_ms, latency_ms=routed.total_ms, status=request_status(run),
        error_kind=run.error.kind if run.error else None, error_message=str(run.error) if run.error else None,
        usage_estimated=bool(usage and usage.estimated))


async def record_run(ledger: Ledger, run: ChatRun, served: Target | None) -> str | None:
    """Write the run's request row and its turn in one transaction (the row alone when the turn's session was
    deleted meanwhile); the ledger's one-line problem when nothing could be written."""
    request = request_row(run, served)
    turn = turn_row(run.turn, run, run.summary) if run.turn is not None and run.summary is not None else None
    try:
        try:
            run.written = await asyncio.to_thread(ledger.record_chat, request, turn)
        except UnknownSessionError as exc:
            run.turn_problem = str(exc)
            run.written = await asyncio.to_thread(ledger.record_chat, request)
    except LedgerError as exc:
        run.turn_problem = run.turn_problem or str(exc)
        return str(exc)
    return None


class RunBook:
    """The runs a Deck has open and the finishes still being written: what `Deck.stop()` drains."""

    def __init__(self, finish: Callable[[ChatRun], Awaitable[None]]) -> None:
        self._finish = finish
        self._open: set[ChatRun] = set()
        self._pending: set[asyncio.Task[None]] = set()

    def opened(self, run: ChatRun) -> None:
        self._open.add(run)

    def finishing(self, run: ChatRun) -> asyncio.Task[None]:
        """The run's finish, started on the first call; held here until it is done."""
        if run._finish is None:
            self._open.discard(run)
            run._finish = task = asyncio.ensure_future(self._finish(run))
            self._pending.add(task)
            task.add_done_callback(self._pending.discard)
            run._closing.set()
        return run._finish

    async def drain(self, timeout_s: float = DRAIN_S) -> None:
        """Finish every run still open and wait for every finish, within `timeout_s` in all.

        A run another task is inside gets the first half of the time to end itself: that task is most often
        unwinding a cancellation (the console closing), and its own ending says best how the run ended. The
        runs still open then end here, as cancelled."""
        with suppress(TimeoutError):
            async with asyncio.timeout(timeout_s):
                busy = [asyncio.ensure_future(run._closing.wait()) for run in self._open if run.streaming]
                if busy:
                    await asyncio.wait(busy, timeout=timeout_s / 2)
                    for waiter in busy:
                        waiter.cancel()
                for run in list(self._open):
                    await run.abandon(DECK_STOPPED)
                if self._pending:
                    await asyncio.wait(set(self._pending))
