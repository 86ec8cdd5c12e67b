"""Uploading to Dropbox by hand from the console: `:upload [PROVIDER]`, and `Y` in the Images pane and in the
chat sessions dialog. All of them end here.

What goes up: the image the Images pane shows (PNG and JSON sidecar) when that pane is in front, else the Chat
pane's session, first exported to Markdown as ctrl+s does (providers/sessions.py, the data dir's exports folder).
The upload runs in a worker through the Deck (`Deck.upload`), so the console never waits on it, and it is noted in
the event journal as the automatic uploads are. One notification says where the files went in Dropbox, or why
they did not (a full account, a refused token) in one line; the local files stay either way.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any

from textual.app import App

from config.secret_registry import scrub
from console.screens.command_line import unknown_name
from providers.adapters.dropbox_upload import with_sidecars
from providers.deck import Deck
from providers.errors import ProviderError
from providers.journal_notes import error_text
from providers.ledger import LedgerError, UnknownSessionError
from providers.safe_text import one_line
from providers.sessions import LedgerUnavailableError, SessionBook

UPLOAD_GROUP = "upload-by-hand"
TITLE = "Upload"
FAILURE_TIMEOUT_S = 15.0
"""A failed upload stays on screen long enough to read what to do about it."""


class UploadRefusedError(Exception):
    """Nothing can be uploaded as asked: the message says why, as the operator reads it."""


def dropbox_names(deck: Deck) -> list[str]:
    """The configured dropbox providers, by name."""
    return sorted(name for name, provider in deck.providers.items() if provider.kind == "dropbox")


def deck_of(app: App[Any]) -> Deck | None:
    """The Deck an app renders (the console's, or a test app's), if it has one."""
    deck = getattr(app, "deck", None)
    return deck if isinstance(deck, Deck) else None


def can_upload(app: App[Any]) -> bool:
    """Whether an upload key has anywhere to send to: the keys are hidden without a dropbox provider."""
    deck = deck_of(app)
    return deck is not None and bool(dropbox_names(deck))


def choose_dropbox(deck: Deck, asked: str | None) -> str:
    """The provider to upload to: the one named, else the only dropbox configured. UploadRefusedError otherwise."""
    boxes = dropbox_names(deck)
    if asked is not None:
        if asked not in deck.providers:
            raise UploadRefusedError(unknown_name("dropbox provider", asked, boxes))
        if asked not in boxes:
            raise UploadRefusedError(f"{asked} (kind {deck.providers[asked].kind}) is not a dropbox provider")
        return asked
    if not boxes:
        raise UploadRefusedError("No dropbox provider is configured: add one (kind: dropbox) to the config to upload.")
    if len(boxes) > 1:
        raise UploadRefusedError(f"Several dropbox providers ({', '.join(boxes)}): say which with :upload NAME")
    return boxes[0]


async def upload_current(app: App[Any], args: Sequence[str]) -> None:
    """`:upload [PROVIDER]`: the Images pane's saved image when that pane is shown, else the chat session."""
    from console.panes.chat_session_pane import ChatSessionPane  # the panes import this module for their keys
    from console.panes.images import ImagesPane

    deck = deck_of(app)
    try:  # where to first: without a dropbox, what is shown does not matter
        provider = choose_dropbox(deck, args[0] if args else None) if deck is not None else None
    except UploadRefusedError as exc:
        app.notify(str(exc), title=TITLE, severity="error", markup=False)
        return
    panes: dict[str, object] = getattr(app, "panes", {})
    shown = getattr(app, "current_pane", None)
    images, chat = panes.get("images"), panes.get("chat")
    if shown == "images" and isinstance(images, ImagesPane) and images.saved_path is not None:
        upload_image(app, images.saved_path, provider)
        return
    if isinstance(chat, ChatSessionPane) and chat.session is not None and chat.session.id > 0:
        upload_session(app, chat.session.id, provider)
        return
    app.notify("Nothing to upload: no saved image is shown and no chat session is open.", title=TITLE,
               severity="warning", markup=False)


def upload_image(app: App[Any], png: Path, provider: str | None = None) -> None:
    """Upload a saved image and its sidecar (in a worker)."""

    async def files(_deck: Deck) -> list[Path]:
        return [png]

    _start(app, provider, files, png.name)


def upload_session(app: App[Any], session_id: int, provider: str | None = None) -> None:
    """Export a chat session to Markdown, then upload the file (both in a worker). An auto_upload of chats to the
    same provider, started by the export, is the upload waited for: the file is not sent twice."""

    async def files(deck: Deck) -> list[Path]:
        return [await SessionBook(deck).export(session_id)]

    _start(app, provider, files, f"session {session_id}")


FileSource = Callable[[Deck], Awaitable[list[Path]]]


def _start(app: App[Any], asked: str | None, files: FileSource, what: str) -> None:
    deck = deck_of(app)
    try:
        if deck is None:
            raise UploadRefusedError("No deck to upload through.")
        provider = choose_dropbox(deck, asked)
    except UploadRefusedError as exc:
        app.notify(str(exc), title=TITLE, severity="error", markup=False)
        return
    app.notify(f"Uploading {what} to {provider}…", title=TITLE, markup=False)
    app.run_worker(_upload(app, deck, provider, files), group=UPLOAD_GROUP, exit_on_error=False)


async def _upload(app: App[Any], deck: Deck, provider: str, files: FileSource) -> None:
    try:
        local = await files(deck)
    except (LedgerUnavailableError, LedgerError, UnknownSessionError, OSError) as exc:
        app.notify(f"Export failed, nothing uploaded: {one_line(str(exc))}", title=TITLE, severity="error",
                   timeout=FAILURE_TIMEOUT_S, markup=False)
        return
    try:
        uploaded = await deck.upload(provider, local)
    except (ProviderError, OSError) as exc:
        kept = ", ".join(str(path) for path in with_sidecars(local))
        # A token is never in these messages; scrubbed all the same, as everything quoting a failure is.
        app.notify(f"Upload to {provider} failed: {scrub(one_line(error_text(exc)))} (kept locally: {kept})",
                   title=TITLE, severity="error", timeout=FAILURE_TIMEOUT_S, markup=False)
        return
    places = ", ".join(one_line(item.path) for item in uploaded)
    app.notify(f"Uploaded to {provider}: {places}", title=TITLE, markup=False)
