"""Uploading to Dropbox by hand from the console, over the Dropbox and A1111 emulators on loopback: `:upload` on
the shown image and on the chat session, `Y` in the Images pane and the sessions dialog, the messages when no
dropbox or several are configured, a chat export that auto_upload already sends (sent once), and a failed upload
that leaves the local file and says why in one line."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from textual.pilot import Pilot
from textual.widgets import Input, Select

from config.schema import DeckConfig
from console.app import DeckApp
from console.panes.chat import ChatPane
from console.panes.images import ImagesPane
from console.screens.sessions import SessionsDialog
from providers.adapters.dropbox_upload import local_content_hash
from providers.deck import Deck
from providers.emulators.dropbox import content_hash
from providers.monitor import MonitorPolicy
from tests.conftest import EmulatorFactory
from tests.console.pane_harness import wait_until

TOKEN = "sl.by-hand-token-0042"


def dropbox(name: str, url: str, **options: Any) -> dict[str, Any]:
    return {"name": name, "kind": "dropbox", "base_url": url, "api_key": "env:DROPBOX_TOKEN",
            "upload_folder": "/lab", **options}


def stored(url: str, path: str) -> bytes | None:
    response = httpx.get(f"{url}/_emulator/dropbox/file", params={"path": path}, timeout=10)
    return response.content if response.status_code == 200 else None


def uploads_seen(url: str) -> list[dict[str, Any]]:
    entries: list[dict[str, Any]] = httpx.get(f"{url}/_emulator/dropbox/log", timeout=10).json()
    return [entry for entry in entries if entry.get("route") == "files/upload"]


def messages(app: DeckApp) -> list[str]:
    return [str(notification.message) for notification in app._notifications]


def said(app: DeckApp, start: str) -> str | None:
    return next((message for message in messages(app) if message.startswith(start)), None)


@pytest.fixture
async def started(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Callable[..., Any]]:
    """`await started(provider, …)`: a Deck over those providers with its own data dir; all stopped after."""
    monkeypatch.setenv("DROPBOX_TOKEN", TOKEN)
    decks: list[Deck] = []

    async def start(*providers: dict[str, Any]) -> Deck:
        config = DeckConfig.model_validate({"providers": list(providers)})
        deck = Deck(config, tmp_path / f"data-{len(decks)}", monitor_policy=MonitorPolicy(probe_timeout_s=10.0))
        await deck.start(monitor=False)
        decks.append(deck)
        return deck

    yield start
    for deck in decks:
        await deck.stop()


def session_with_turn(deck: Deck, title: str) -> int:
    assert deck.ledger is not None
    session_id = deck.ledger.new_session(title)
    deck.ledger.add_message(session_id, "user", f"what about {title}?")
    deck.ledger.add_message(session_id, "assistant", f"{title}: later.")
    return session_id


async def generate(pilot: Pilot[None], app: DeckApp) -> Path:
    """An image made through the Images pane's form, as the operator makes one; the saved PNG."""
    pane = app.pane("images")
    assert isinstance(pane, ImagesPane)
    await pilot.app.workers.wait_for_complete()
    pane.query_one("#images-backend", Select).value = "sd"
    pane.query_one("#images-prompt", Input).value = "a red cube"
    pane.query_one("#images-steps", Input).value = "2"
    pane.query_one("#images-seed", Input).value = "42"
    await pilot.press("ctrl+g")
    await wait_until(pilot, lambda: pane.saved_path is not None, what="the image saved")
    assert pane.saved_path is not None
    return pane.saved_path


async def open_chat(pilot: Pilot[None], app: DeckApp, session_id: int) -> None:
    pane = app.pane("chat")
    assert isinstance(pane, ChatPane)
    await wait_until(pilot, lambda: pane.session is not None and pane.session.id == session_id,
                     what="the latest session shown")


async def test_y_in_the_images_pane_uploads_the_saved_image_with_its_sidecar(
        emulator: EmulatorFactory, started: Callable[..., Any]) -> None:
    sd, box = emulator("a1111").url, emulator("dropbox").url
    deck = await started({"name": "sd", "kind": "a1111", "base_url": sd}, dropbox("box", box))
    app = DeckApp(deck, first_pane="images")
    async with app.run_test(size=(120, 36)) as pilot:
        png = await generate(pilot, app)
        sidecar = png.with_suffix(".json")
        await pilot.press("escape", "Y")  # out of the text field first: there `Y` is typed
        await wait_until(pilot, lambda: said(app, "Uploaded to box:"), what="the upload done")
        assert said(app, "Uploaded to box:") == f"Uploaded to box: /lab/{png.name}, /lab/{sidecar.name}"
        assert stored(box, f"/lab/{png.name}") == png.read_bytes()
        assert stored(box, f"/lab/{sidecar.name}") == sidecar.read_bytes()
        note = next(entry for entry in deck.journal.entries() if entry.kind == "upload")
        assert (note.subject, note.level) == ("box", "info")
        assert TOKEN not in "\n".join(messages(app))


async def test_upload_command_sends_the_chat_session_exported_to_markdown(
        emulator: EmulatorFactory, started: Callable[..., Any]) -> None:
    box = emulator("dropbox").url
    deck = await started(dropbox("box", box))
    session_id = session_with_turn(deck, "Plans for friday")
    app = DeckApp(deck, first_pane="chat")
    async with app.run_test(size=(120, 36)) as pilot:
        await open_chat(pilot, app, session_id)
        await app.shell.execute(":upload")
        await wait_until(pilot, lambda: said(app, "Uploaded to box:"), what="the upload done")
        exported = deck.data_dir / "exports" / f"chat-{session_id}-Plans-for-friday.md"
        assert said(app, "Uploaded to box:") == f"Uploaded to box: /lab/{exported.name}"
        assert "Plans for friday: later." in exported.read_text(encoding="utf-8")
        remote = stored(box, f"/lab/{exported.name}")
        assert remote is not None and content_hash(remote) == local_content_hash(exported)


async def test_a_session_that_auto_upload_already_sends_goes_up_once(
        emulator: EmulatorFactory, started: Callable[..., Any]) -> None:
    box = emulator("dropbox").url
    deck = await started(dropbox("box", box, auto_upload="chats"))
    session_id = session_with_turn(deck, "once")
    app = DeckApp(deck, first_pane="chat")
    async with app.run_test(size=(120, 36)) as pilot:
        await open_chat(pilot, app, session_id)
        await app.shell.execute(":upload box")
        await wait_until(pilot, lambda: said(app, "Uploaded to box:"), what="the upload done")
        assert said(app, "Uploaded to box:") == f"Uploaded to box: /lab/chat-{session_id}-once.md"
        await wait_until(pilot, lambda: deck.uploads.pending == 0, what="no upload left under way")
        assert len(uploads_seen(box)) == 1
        assert len([entry for entry in deck.journal.entries() if entry.kind == "upload"]) == 1


async def test_y_in_the_sessions_dialog_uploads_the_highlighted_session(
        emulator: EmulatorFactory, started: Callable[..., Any]) -> None:
    box = emulator("dropbox").url
    deck = await started(dropbox("box", box))
    older = session_with_turn(deck, "older")
    newest = session_with_turn(deck, "newest")
    app = DeckApp(deck, first_pane="chat")
    async with app.run_test(size=(120, 36)) as pilot:
        await open_chat(pilot, app, newest)
        await pilot.press("ctrl+o")
        await wait_until(pilot, lambda: isinstance(app.screen, SessionsDialog), what="the sessions dialog")
        assert "Y upload" in str(app.screen.query_one("#sessions-hint").render())
        await pilot.press("down", "Y")  # the current (newest) session is highlighted first; the older one below
        await wait_until(pilot, lambda: said(app, "Uploaded to box:"), what="the upload done")
        assert said(app, "Uploaded to box:") == f"Uploaded to box: /lab/chat-{older}-older.md"
        assert isinstance(app.screen, SessionsDialog), "the dialog stays open"
        assert stored(box, f"/lab/chat-{older}-older.md") == (
            deck.data_dir / "exports" / f"chat-{older}-older.md").read_bytes()


async def test_without_a_dropbox_the_keys_are_hidden_and_upload_says_why(
        emulator: EmulatorFactory, started: Callable[..., Any]) -> None:
    deck = await started({"name": "sd", "kind": "a1111", "base_url": emulator("a1111").url})
    session_with_turn(deck, "kept here")
    app = DeckApp(deck, first_pane="images")
    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.press("escape")
        await pilot.pause()
        assert "Y" not in app.screen.active_bindings
        await app.shell.execute(":upload")
        await pilot.pause()
        assert messages(app) == [
            "No dropbox provider is configured: add one (kind: dropbox) to the config to upload."]
        await pilot.press("2")  # pane keys still work with the binding hidden
        assert app.current_pane == "models"


async def test_several_dropboxes_ask_which_and_a_name_chooses(emulator: EmulatorFactory,
                                                              started: Callable[..., Any]) -> None:
    first, second = emulator("dropbox").url, emulator("dropbox").url
    deck = await started(dropbox("box", first), dropbox("archive", second))
    session_id = session_with_turn(deck, "which")
    app = DeckApp(deck, first_pane="chat")
    async with app.run_test(size=(120, 36)) as pilot:
        await open_chat(pilot, app, session_id)
        await app.shell.execute(":upload")
        await pilot.pause()
        assert messages(app) == ["Several dropbox providers (archive, box): say which with :upload NAME"]
        await app.shell.execute(":upload archive")
        await wait_until(pilot, lambda: said(app, "Uploaded to archive:"), what="the upload done")
        assert stored(second, f"/lab/chat-{session_id}-which.md") is not None and uploads_seen(first) == []


async def test_nothing_to_upload_is_a_warning(emulator: EmulatorFactory, started: Callable[..., Any]) -> None:
    deck = await started(dropbox("box", emulator("dropbox").url))
    app = DeckApp(deck, first_pane="chat")
    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.app.workers.wait_for_complete()
        await app.shell.execute(":upload")
        await pilot.pause()
        assert messages(app) == ["Nothing to upload: no saved image is shown and no chat session is open."]


@pytest.mark.parametrize(("token", "reason"), [
    (TOKEN, "the Dropbox account is full: no room for {png} ({size} bytes)"),
    ("revoked-by-hand-9", "HTTP 401: Dropbox refused the access token (invalid_access_token): configure "
                          "refresh_token and app_key to renew it, or store a new access token")])
async def test_a_failed_upload_says_why_in_one_line_and_the_image_stays(
        emulator: EmulatorFactory, started: Callable[..., Any], monkeypatch: pytest.MonkeyPatch, token: str,
        reason: str) -> None:
    sd, box = emulator("a1111").url, emulator("dropbox").url
    monkeypatch.setenv("DROPBOX_TOKEN", token)
    async with httpx.AsyncClient(timeout=10) as client:
        (await client.post(f"{box}/_emulator/dropbox/state", json={"free_bytes": 10})).raise_for_status()
    deck = await started({"name": "sd", "kind": "a1111", "base_url": sd}, dropbox("box", box))
    app = DeckApp(deck, first_pane="images")
    async with app.run_test(size=(120, 36)) as pilot:
        png = await generate(pilot, app)
        before = png.read_bytes()
        await app.shell.execute(":upload")
        await wait_until(pilot, lambda: said(app, "Upload to box failed:"), what="the failure shown")
        expected = reason.format(png=png.name, size=len(before))
        assert said(app, "Upload to box failed:") == (
            f"Upload to box failed: {expected} (kept locally: {png}, {png.with_suffix('.json')})")
        assert png.read_bytes() == before and png.with_suffix(".json").is_file()
        assert stored(box, f"/lab/{png.name}") is None
        assert token not in "\n".join(messages(app))
