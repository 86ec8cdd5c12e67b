"""Automatic upload to Dropbox of what the Deck makes: each saved image (PNG + JSON sidecar) and each chat export,
for every dropbox provider whose `auto_upload` asks for it, and what the operator uploads by hand. UI-free.

The Deck calls `saved()` right after it has written the files; the uploads run as background tasks on the event
loop, so the save is never slowed or failed by them. Each upload's outcome is an entry in the Deck's event journal
(kind `upload`): the Dropbox paths when done, the reason when it failed. `stop()` gives the uploads under way a
bounded time to finish before the Deck closes its HTTP client, then cancels the rest (noted as cancelled).

`upload_now()` is the upload by hand: the same upload and journal entry, awaited, its results returned and its
failure raised. Asked for files already on their way to that provider (a chat export its auto_upload has just
started), it waits for that upload instead of sending the files twice.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Literal

import httpx

from config.schema import DeckConfig, ProviderConfig
from providers.adapters.dropbox_upload import UploadedFile, UploadTuning, account_of, upload_file, with_sidecars
from providers.display import milliseconds
from providers.journal import EventJournal, JournalNote
from providers.journal_notes import error_text

Made = Literal["images", "chats"]
STOP_GRACE_S = 30.0
"""How long `stop()` waits for uploads under way: a CLI command that saved an image uploads it before exiting."""


def wants(provider: ProviderConfig, made: Made) -> bool:
    """Whether this provider uploads what was made: a dropbox with auto_upload of that kind, or both."""
    return provider.kind == "dropbox" and provider.auto_upload in (made, "both")


UploadKey = tuple[str, tuple[Path, ...]]
"""An upload under way: the provider's name and the files, in order."""


class AutoUploader:
    """Background uploads of saved files to the dropbox providers of the config of now (a reload is followed)."""

    def __init__(self, config: Callable[[], DeckConfig], client: httpx.AsyncClient, journal: EventJournal, *,
                 tuning: UploadTuning | None = None) -> None:
        self._config = config
        self._client = client
        self._journal = journal
        self.tuning = tuning
        self._tasks: dict[UploadKey, asyncio.Task[list[UploadedFile]]] = {}
        self.uploaded: list[UploadedFile] = []
        """Every file uploaded since start, oldest first (the journal keeps the story, this the results)."""

    @property
    def pending(self) -> int:
        """Uploads under way."""
        return len(self._tasks)

    def saved(self, made: Made, *files: Path) -> None:
        """Files were written: start their upload to each provider that wants them. Never raises, never waits."""
        try:
            for provider in self._config().providers:
                if wants(provider, made):
                    self._start(provider, files)
        except Exception as exc:  # what was saved stays saved; the failure is only noted
            self._journal.add(JournalNote("upload", "dropbox", f"auto upload not started: {error_text(exc)}",
                                          "error"))

    async def upload_now(self, provider: ProviderConfig, files: Sequence[Path]) -> list[UploadedFile]:
        """Upload `files` (each PNG with its sidecar) to `provider` now and return where they went; raises
        ProviderError or OSError when one fails (noted in the journal all the same). Cancelling the caller leaves
        the upload running, bounded by `stop()` as the automatic ones are."""
        return await asyncio.shield(self._start(provider, with_sidecars(files)))

    def _start(self, provider: ProviderConfig, files: Sequence[Path]) -> asyncio.Task[list[UploadedFile]]:
        key: UploadKey = (provider.name, tuple(files))
        task = self._tasks.get(key)
        if task is None:
            task = asyncio.get_running_loop().create_task(self._upload(provider, files))
            self._tasks[key] = task
            task.add_done_callback(lambda done: self._finished(key, done))
        return task

    def _finished(self, key: UploadKey, task: asyncio.Task[list[UploadedFile]]) -> None:
        if self._tasks.get(key) is task:
            del self._tasks[key]
        if not task.cancelled():
            task.exception()  # retrieved: the journal holds the failure, and a waiter by hand gets it raised

    async def _upload(self, provider: ProviderConfig, files: Sequence[Path]) -> list[UploadedFile]:
        started = time.perf_counter()
        names = ", ".join(path.name for path in files)
        done: list[UploadedFile] = []
        try:
            account = account_of(provider)
            for path in files:
                done.append(await upload_file(self._client, account, path, tuning=self.tuning))
        except asyncio.CancelledError:
            self._journal.add(JournalNote("upload", provider.name, f"upload of {names} cancelled", "warning",
                                          _paths(done)))
            raise
        except Exception as exc:  # an event; the saver never sees it, a caller of upload_now gets it raised
            self._journal.add(JournalNote("upload", provider.name, f"upload of {names} failed: {error_text(exc)}",
                                          "error", "\n".join(filter(None, (f"error: {error_text(exc)}",
                                                                           _paths(done))))))
            raise
        finally:
            self.uploaded.extend(done)
        took = milliseconds((time.perf_counter() - started) * 1000.0)
        self._journal.add(JournalNote("upload", provider.name, f"uploaded {names} in {took}", "info", _paths(done)))
        return done

    async def stop(self, grace_s: float = STOP_GRACE_S) -> None:
        """Wait up to `grace_s` for the uploads under way, then cancel the rest."""
        tasks = set(self._tasks.values())
        if not tasks:
            return
        _, late = await asyncio.wait(tasks, timeout=grace_s)
        for task in late:
            task.cancel()
        if late:
            await asyncio.wait(late)


def _paths(done: Sequence[UploadedFile]) -> str:
    return "\n".join(f"{item.local.name} → {item.path} ({item.size} bytes)" for item in done)
