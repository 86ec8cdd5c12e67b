"""PullQueue: progress rows for model pulls and model downloads (Hub, CivitAI), run one at a time per host (per
provider for a provider without a host); cancelling closes the job's stream, which stops the transfer."""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Literal, get_args

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.coordinate import Coordinate
from textual.message import Message
from textual.widgets import Label
from textual.worker import Worker, WorkerState

from console.widgets.column_fit import middle_cut
from console.widgets.keyed_table import NavigableTable
from providers.base import PullProgress, closing_stream
from providers.deck import Deck
from providers.display import finite, percent
from providers.errors import ProviderError, UnknownProviderError
from providers.safe_text import one_line

PULL_WORKERS = "pulls"
FINISHED_KEPT = 3
"""Finished pulls stay listed (newest first) so their outcome can be read; older ones are dropped."""
REDRAW_EVERY_S = 0.1
"""Progress arrives line by line; the row is redrawn at most this often unless the status text changes."""
BAR_WIDTH = 12
NAME_WIDTH = 40
"""A long name (a Hub repository and file) is cut in the middle to this many cells: at 80 columns the state and
the bar beside it stay on screen."""

PullState = Literal["queued", "pulling", "done", "failed", "cancelled"]
JobKind = Literal["pull", "download"]
ProgressSource = Callable[[], AsyncIterator[PullProgress]]
"""Starts a job's transfer and streams its progress; closing the stream stops it."""
STATE_WIDTH = max(len(state) for state in get_args(PullState))
"""Cells of the state column: every state fits ("cancelled"). A column sized by its first row cut the rest."""
PROGRESS_WIDTH = BAR_WIDTH + len(" 100%")
STATUS_COLUMN = "status"
"""The server's words, of any length: that column is widened to each new status (the table scrolls sideways)."""
_job_ids = itertools.count(1)


@dataclass
class PullJob:
    """One requested pull or download and how far it got. `lane`: jobs of one lane run one after another (the
    provider's host, else the provider); `source` is a download's stream, None for the provider's own pull."""

    provider: str
    model: str
    kind: JobKind = "pull"
    lane: str = ""
    source: ProgressSource | None = None
    id: str = field(default_factory=lambda: f"pull-{next(_job_ids)}")
    state: PullState = "queued"
    status: str = "queued"
    fraction: float | None = None
    completed_bytes: int = 0
    total_bytes: int = 0
    worker: Worker[None] | None = None
    drawn_at: float = 0.0

    @property
    def finished(self) -> bool:
        return self.state in ("done", "failed", "cancelled")

    def bar(self) -> str:
        fraction = finite(self.fraction)
        if fraction is None:
            return "·" * BAR_WIDTH
        fraction = min(1.0, max(0.0, fraction))  # a server's count past its total still fills the bar once
        filled = round(fraction * BAR_WIDTH)
        return f"{'█' * filled}{'░' * (BAR_WIDTH - filled)} {percent(fraction):>4}"

    def cells(self) -> tuple[Text, ...]:
        """Plain Text cells: the model name and the status line are the server's words, never markup. A status
        that only repeats the state ("done", "cancelled") is left out: it is said once."""
        status = "" if self.status == self.state else self.status
        name = middle_cut(one_line(f"{self.provider}/{self.model}"), NAME_WIDTH)
        return tuple(Text(one_line(cell)) for cell in (name, self.state, self.bar(), status))


class PullQueue(Vertical):
    """The pulls and downloads of this session. `enqueue` adds one; `cancel_selected` stops the highlighted one."""

    DEFAULT_CSS = """
    PullQueue {
        height: auto;
        max-height: 7;
        border-top: solid $primary 50%;
    }
    PullQueue > Label {
        color: $text-muted;
    }
    PullQueue > DataTable {
        height: auto;
        min-height: 1;  /* a queue shown before its first row arrives still gets a line for it */
        max-height: 5;
    }
    """

    class PullFinished(Message):
        """A pull ended: done, failed or cancelled."""

        def __init__(self, job: PullJob, error: str | None = None) -> None:
            super().__init__()
            self.job = job
            self.error = error

    def __init__(self, deck: Deck, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.deck = deck
        self.jobs: list[PullJob] = []
        self.display = False

    def compose(self) -> ComposeResult:
        yield Label("Pulls and downloads  (x cancels the highlighted one)")
        table = NavigableTable(id="pull-rows", cursor_type="row", show_header=False)
        table.add_column("model", key="model")
        table.add_column("state", width=STATE_WIDTH, key="state")
        table.add_column("progress", width=PROGRESS_WIDTH, key="progress")
        table.add_column(STATUS_COLUMN, key=STATUS_COLUMN)
        yield table

    @property
    def table(self) -> NavigableTable:
        return self.query_one("#pull-rows", NavigableTable)

    def job(self, job_id: str) -> PullJob:
        return next(j for j in self.jobs if j.id == job_id)

    def enqueue(self, provider: str, model: str, *, kind: JobKind = "pull",
                source: ProgressSource | None = None) -> PullJob:
        """Queue a pull (or, with `source`, a download landing on `provider`); it starts at once unless another
        job of the same lane (the provider's host, else the provider) is running."""
        config = self.deck.providers.get(provider)
        job = PullJob(provider, model, kind=kind, lane=(config.host if config else None) or provider, source=source)
        self.jobs.append(job)
        self.table.add_row(*job.cells(), key=job.id)
        self.table.move_cursor(row=self.table.get_row_index(job.id))
        self.display = True
        self._start_next(job.lane)
        return job

    @property
    def selected(self) -> PullJob | None:
        table = self.table
        if not table.row_count:
            return None
        row_key = table.coordinate_to_cell_key(Coordinate(table.cursor_row, 0)).row_key
        return self.job(str(row_key.value))

    def cancel_selected(self) -> PullJob | None:
        """Cancel the highlighted pull if it has not finished; returns it, or None when nothing could be cancelled."""
        job = self.selected
        if job is None or job.finished:
            return None
        if job.worker is not None:
            job.worker.cancel()
        else:
            self._finish(job, "cancelled", "cancelled before it started")
        return job

    def _start_next(self, lane: str) -> None:
        if any(j.lane == lane and j.state == "pulling" for j in self.jobs):
            return
        waiting = next((j for j in self.jobs if j.lane == lane and j.state == "queued"), None)
        if waiting is not None:
            waiting.state = waiting.status = "pulling"
            self._draw(waiting)
            waiting.worker = self.run_pull(waiting)

    @work(group=PULL_WORKERS, exit_on_error=False)
    async def run_pull(self, job: PullJob) -> None:
        try:
            progress_stream = job.source() if job.source is not None else self.deck.pull(job.provider, job.model)
            # Closing the stream (also on cancel) drops the connection, which tells the server to stop.
            outcome = "done"
            async with closing_stream(progress_stream):
                async for progress in progress_stream:
                    self._progress(job, progress)
                    if progress.done and job.source is not None:
                        outcome = progress.status  # a download's last line says where the file is
        except asyncio.CancelledError:
            self._finish(job, "cancelled", "cancelled")
            raise
        except (ProviderError, UnknownProviderError) as exc:
            self._finish(job, "failed", str(exc))
            return
        self._finish(job, "done", outcome)

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        # A worker cancelled before its first step never reaches its own `except CancelledError`.
        job = next((j for j in self.jobs if j.worker is event.worker), None)
        if job is not None and not job.finished and event.state in (WorkerState.CANCELLED, WorkerState.ERROR):
            error = event.worker.error
            self._finish(job, "failed" if error else "cancelled", str(error) if error else "cancelled")

    def _progress(self, job: PullJob, progress: PullProgress) -> None:
        status_changed = progress.status != job.status
        job.status = progress.status
        job.fraction = progress.fraction if progress.fraction is not None else job.fraction
        job.completed_bytes, job.total_bytes = progress.completed_bytes, progress.total_bytes
        now = time.monotonic()
        if status_changed or now - job.drawn_at >= REDRAW_EVERY_S:
            self._draw(job)

    def _finish(self, job: PullJob, state: PullState, status: str) -> None:
        job.state = state
        job.status = status
        job.worker = None
        if state == "done":
            job.fraction = 1.0
        self._draw(job)
        self.post_message(self.PullFinished(job, status if state == "failed" else None))
        self._drop_old()
        self._start_next(job.lane)

    def _draw(self, job: PullJob) -> None:
        job.drawn_at = time.monotonic()
        if job.id not in self.table.rows:
            return
        for column, cell in zip(self.table.columns, job.cells(), strict=True):
            self.table.update_cell(job.id, column, cell, update_width=column == STATUS_COLUMN)

    def _drop_old(self) -> None:
        finished = [j for j in self.jobs if j.finished]
        for job in finished[:-FINISHED_KEPT]:
            self.jobs.remove(job)
            if job.id in self.table.rows:
                self.table.remove_row(job.id)
