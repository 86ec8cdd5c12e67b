"""The Deck's event journal and what feeds it: the Deck calls these hooks where things happen (a probe, a breaker
move, a finished request, a model operation, a config reload, the ledger's rows at start)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

from providers.breaker import BreakerChange
from providers.journal import DEFAULT_CAPACITY, EventJournal
from providers.journal_notes import (
    HealthNotes,
    OperationKind,
    OperationOutcome,
    breaker_note,
    config_reload_note,
    error_text,
    ledger_request_note,
    operation_note,
    request_note,
)
from providers.ledger_schema import RequestRecord
from providers.monitor import HealthEvent
from providers.routing import Attempt, Target

HISTORY_ROWS = 200
"""Request rows the journal takes from the ledger at start: what happened before this run."""
OUTPUT_TAIL_CHARS = 1500
"""The end of an operation's output (a restart command's) kept with its entry: the end says how it went."""


@dataclass
class OperationRecord:
    """What a model operation tells its entry besides raising: a failure reported in its result (a restart
    command's exit status), its output, and whether a pull had finished before its stream was closed."""

    error: str | None = None
    detail: str = ""
    finished: bool = False


class DeckJournal(EventJournal):
    """An EventJournal with the Deck's hooks. Every hook runs on the event loop."""

    def __init__(self, capacity: int = DEFAULT_CAPACITY) -> None:
        super().__init__(capacity)
        self._health_notes = HealthNotes()

    def health(self, event: HealthEvent) -> None:
        """A probe result: a status change, or a failed probe that says something new."""
        note = self._health_notes.note(event)
        if note is not None:
            self.add(note)

    def breaker(self, change: BreakerChange) -> None:
        """A breaker opened, half-opened or closed (the router's listener)."""
        self.add(breaker_note(change))

    def request(self, alias: str, served_by: Target | None, attempts: Sequence[Attempt], *, status: str,
                latency_ms: float | None, cost_usd: float, error_kind: str | None, error: str | None) -> None:
        """A routed chat ended: its target, who served, the hops that failed first, status, latency and cost."""
        self.add(request_note(alias, served_by, attempts, status=status, latency_ms=latency_ms, cost_usd=cost_usd,
                              error_kind=error_kind, error=error))

    def history(self, rows: Sequence[RequestRecord]) -> None:
        """The ledger's request rows (newest first, as it reads them) from before this run, noted oldest first;
        only into an empty journal, so that opening the ledger again never notes them twice."""
        if not len(self):
            for row in reversed(rows):
                self.add(ledger_request_note(row))

    @contextmanager
    def operation(self, kind: OperationKind, provider: str, model: str | None = None) -> Iterator[OperationRecord]:
        """Note the outcome of the operation run in the block: done (with its time), failed (with why) or
        cancelled; whatever it raised goes on."""
        record = OperationRecord()
        started = time.perf_counter()
        outcome: OperationOutcome = "done"
        error = ""
        try:
            yield record
        except (asyncio.CancelledError, GeneratorExit):
            outcome = "done" if record.finished else "cancelled"  # a pull closed after its last step is done
            raise
        except Exception as exc:
            outcome, error = "failed", error_text(exc)
            raise
        finally:
            if outcome == "done" and record.error is not None:
                outcome, error = "failed", record.error
            ms = (time.perf_counter() - started) * 1000.0 if outcome == "done" else None
            self.add(operation_note(kind, provider, model, outcome, error=error,
                                    detail=record.detail[-OUTPUT_TAIL_CHARS:], ms=ms))

    def config_reload(self, source: str, *, error: str | None = None, changes: Sequence[str] = ()) -> None:
        """A config file read again: applied with `changes`, or refused with `error`."""
        self.add(config_reload_note(source, error=error, changes=changes))
