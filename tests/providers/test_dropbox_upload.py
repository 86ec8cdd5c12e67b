"""Uploads to Dropbox over the emulator on loopback: small files and upload sessions (the bytes Dropbox holds are
the file's), a lost append reply resumed from Dropbox's offset, a full account, an expired token renewed, 429s
waited out, and the Deck's automatic upload of a saved image and a chat export."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import httpx
import pytest

from config.schema import DeckConfig
from config.secret_registry import is_registered
from providers.adapters.dropbox_upload import (
    AccountFullError,
    DropboxAccount,
    UploadTuning,
    account_of,
    local_content_hash,
    upload_file,
    with_sidecars,
)
from providers.base import ImageRequest
from providers.chat_settings import ChatSettings
from providers.deck import Deck
from providers.errors import AuthFailedError, OverloadedError, RateLimitedError
from providers.monitor import MonitorPolicy
from providers.sessions import SessionBook
from tests.conftest import EmulatorFactory
from tests.waiting import bounded, wait_for_condition

SMALL = UploadTuning(single_limit_bytes=1000, chunk_bytes=256, backoff_s=0.01)
"""Sessions with small files: anything over 1000 bytes goes in 256-byte chunks."""


def account(url: str, token: str | None = "sl.good-token", **options: Any) -> DropboxAccount:
    return DropboxAccount(provider="box", api_url=url, content_url=url, folder="/llmdeck",
                          access_token=(lambda: token) if token else None, **options)


def control(url: str, **state: Any) -> None:
    httpx.post(f"{url}/_emulator/dropbox/state", json=state, timeout=10).raise_for_status()


def log(url: str) -> list[dict[str, Any]]:
    entries: list[dict[str, Any]] = httpx.get(f"{url}/_emulator/dropbox/log", timeout=10).json()
    return entries


def stored(url: str, path: str) -> bytes | None:
    response = httpx.get(f"{url}/_emulator/dropbox/file", params={"path": path}, timeout=10)
    return response.content if response.status_code == 200 else None


def write(path: Path, size: int) -> bytes:
    data = os.urandom(size)
    path.write_bytes(data)
    return data


async def test_a_small_file_goes_in_one_request_and_arrives_whole(emulator: EmulatorFactory, tmp_path: Path,
                                                                  client: httpx.AsyncClient) -> None:
    url = emulator("dropbox").url
    local = tmp_path / "notes.bin"
    data = write(local, 700)
    before = local.stat()
    done = await upload_file(client, account(url), local, tuning=SMALL)
    assert (done.path, done.size, done.content_hash) == ("/llmdeck/notes.bin", 700, local_content_hash(local))
    assert stored(url, "/llmdeck/notes.bin") == data
    assert [(e["route"], e["status"], e["bytes"]) for e in log(url)] == [("files/upload", 200, 700)]
    after = local.stat()
    assert local.read_bytes() == data and (after.st_mtime_ns, after.st_size) == (before.st_mtime_ns, before.st_size)


async def test_a_name_taken_by_other_bytes_is_autorenamed_never_replaced(emulator: EmulatorFactory, tmp_path: Path,
                                                                         client: httpx.AsyncClient) -> None:
    url = emulator("dropbox").url
    first, second = tmp_path / "a" / "same.txt", tmp_path / "b" / "same.txt"
    first.parent.mkdir()
    second.parent.mkdir()
    one, two = write(first, 10), write(second, 12)
    assert (await upload_file(client, account(url), first)).path == "/llmdeck/same.txt"
    assert (await upload_file(client, account(url), second)).path == "/llmdeck/same (1).txt"
    assert (stored(url, "/llmdeck/same.txt"), stored(url, "/llmdeck/same (1).txt")) == (one, two)


async def test_a_large_file_goes_in_an_upload_session_in_chunks(emulator: EmulatorFactory, tmp_path: Path,
                                                                client: httpx.AsyncClient) -> None:
    url = emulator("dropbox").url
    local = tmp_path / "big.bin"
    data = write(local, 1100)  # 256 * 4 + 76
    done = await upload_file(client, account(url), local, tuning=SMALL)
    assert (done.path, done.size) == ("/llmdeck/big.bin", 1100)
    assert stored(url, "/llmdeck/big.bin") == data
    assert [(e["route"].rsplit("/", 1)[1], e.get("offset"), e["bytes"]) for e in log(url)] == [
        ("start", None, 256), ("append_v2", 256, 256), ("append_v2", 512, 256), ("append_v2", 768, 256),
        ("finish", 1024, 76)]


async def test_a_lost_append_reply_resumes_from_the_offset_dropbox_holds(emulator: EmulatorFactory, tmp_path: Path,
                                                                         client: httpx.AsyncClient) -> None:
    url = emulator("dropbox").url
    local = tmp_path / "big.bin"
    data = write(local, 1100)
    # The first append's bytes all arrive but its reply is lost; the next keeps half its bytes and is lost too.
    control(url, lose_append_replies=[1.0, 0.5])
    done = await upload_file(client, account(url), local, tuning=SMALL)
    assert done.size == 1100 and done.content_hash == local_content_hash(local)
    assert stored(url, "/llmdeck/big.bin") == data
    appends = [(e["status"], e["offset"]) for e in log(url) if e["route"].endswith("append_v2")]
    assert appends[:4] == [(500, 256), (409, 256), (500, 512), (409, 512)]  # each retry learns the right offset
    assert (200, 640) in appends  # 512 + half of 256: resumed mid-chunk, re-read from the file


async def test_a_full_account_is_a_clear_error_and_the_file_stays(emulator: EmulatorFactory, tmp_path: Path,
                                                                  client: httpx.AsyncClient) -> None:
    url = emulator("dropbox").url
    control(url, free_bytes=100)
    small, large = tmp_path / "small.png", tmp_path / "large.bin"
    small_data, large_data = write(small, 500), write(large, 1100)
    with pytest.raises(AccountFullError) as full:
        await upload_file(client, account(url), small, tuning=SMALL)
    assert full.value.message == "the Dropbox account is full: no room for small.png (500 bytes)"
    assert full.value.kind == "quota_exhausted" and not full.value.retryable
    with pytest.raises(AccountFullError):
        await upload_file(client, account(url), large, tuning=SMALL)  # refused at the session's finish
    assert (small.read_bytes(), large.read_bytes()) == (small_data, large_data)
    assert stored(url, "/llmdeck/small.png") is None and stored(url, "/llmdeck/large.bin") is None


async def test_an_expired_token_is_renewed_once_and_the_upload_goes_on(emulator: EmulatorFactory, tmp_path: Path,
                                                                       client: httpx.AsyncClient) -> None:
    url = emulator("dropbox").url
    local = tmp_path / "a.txt"
    data = write(local, 40)
    renewing = account(url, "expired-token-1234", refresh_token=lambda: "refresh-token-5678", app_key="appkey123")
    done = await upload_file(client, renewing, local)
    assert done.path == "/llmdeck/a.txt" and stored(url, "/llmdeck/a.txt") == data
    assert [(e["route"], e["status"]) for e in log(url)] == [
        ("files/upload", 401), ("oauth2/token", 200), ("files/upload", 200)]
    assert is_registered("sl.refreshed-0001-emulated")  # the new token is scrubbed wherever it could appear
    await upload_file(client, renewing, local)  # the renewed token is kept: no second refresh
    assert [e["route"] for e in log(url)][3:] == ["files/upload"]


async def test_a_refused_token_without_a_refresh_or_with_a_revoked_one_says_so(
        emulator: EmulatorFactory, tmp_path: Path, client: httpx.AsyncClient) -> None:
    url = emulator("dropbox").url
    local = tmp_path / "a.txt"
    write(local, 40)
    with pytest.raises(AuthFailedError) as expired:
        await upload_file(client, account(url, "expired-token-abcd"), local)
    assert expired.value.message == ("Dropbox refused the access token (expired_access_token): configure "
                                     "refresh_token and app_key to renew it, or store a new access token")
    revoked = account(url, "revoked-token-abcd", refresh_token=lambda: "revoked-refresh", app_key="appkey123")
    with pytest.raises(AuthFailedError) as refused:
        await upload_file(client, revoked, local)
    assert refused.value.message == "Dropbox refused the refresh token (invalid_grant): store a new one"
    assert "revoked-token-abcd" not in str(refused.value) and stored(url, "/llmdeck/a.txt") is None


async def test_429_is_waited_out_as_retry_after_says(emulator: EmulatorFactory, tmp_path: Path,
                                                     client: httpx.AsyncClient) -> None:
    url = emulator("dropbox").url
    local = tmp_path / "a.txt"
    data = write(local, 40)
    control(url, throttle=2, retry_after=0.05)
    assert (await upload_file(client, account(url), local, tuning=SMALL)).size == 40
    assert [e["status"] for e in log(url)] == [429, 429, 200] and stored(url, "/llmdeck/a.txt") == data
    control(url, throttle=1, retry_after=3600)  # longer than anyone should wait: fail now, saying so
    with pytest.raises(RateLimitedError) as limited:
        await bounded(upload_file(client, account(url), local, tuning=SMALL))
    assert limited.value.retry_after == 3600


async def test_shared_faults_apply_to_uploads(emulator: EmulatorFactory, tmp_path: Path,
                                              client: httpx.AsyncClient) -> None:
    server = emulator("dropbox", faults="503")
    local = tmp_path / "a.txt"
    write(local, 40)
    tuning = UploadTuning(attempts=2, backoff_s=0.01)
    with pytest.raises(OverloadedError) as overloaded:  # tried again, within bounds, then given up
        await bounded(upload_file(client, account(server.url), local, tuning=tuning))
    assert overloaded.value.status == 503 and stored(server.url, "/llmdeck/a.txt") is None


def test_a_png_brings_its_sidecar(tmp_path: Path) -> None:
    png, sidecar, lone = tmp_path / "a.png", tmp_path / "a.json", tmp_path / "b.png"
    for path in (png, sidecar, lone):
        path.write_bytes(b"x")
    assert with_sidecars([png, lone]) == [png, sidecar, lone]
    assert with_sidecars([sidecar, png]) == [sidecar, png]  # listed already: not twice


def dropbox_provider(url: str, auto_upload: str) -> dict[str, Any]:
    return {"name": "box", "kind": "dropbox", "base_url": url, "api_key": "env:DROPBOX_TOKEN",
            "auto_upload": auto_upload, "upload_folder": "/lab/out"}


async def test_the_deck_uploads_each_saved_image_with_its_sidecar(emulator: EmulatorFactory, tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DROPBOX_TOKEN", "sl.deck-token-1")
    sd, box = emulator("a1111").url, emulator("dropbox").url
    config = DeckConfig.model_validate({"providers": [{"name": "sd", "kind": "a1111", "base_url": sd},
                                                      dropbox_provider(box, "images")]})
    deck = Deck(config, tmp_path / "data", monitor_policy=MonitorPolicy(probe_timeout_s=10.0))
    await deck.start(monitor=False)
    try:
        saved = await deck.generate_image("sd", ImageRequest(prompt="a red cube", width=64, height=64, steps=2))
        await wait_for_condition(lambda: len(deck.uploads.uploaded) == 2, what="the image and sidecar uploaded")
        assert [item.path for item in deck.uploads.uploaded] == [f"/lab/out/{saved.path.name}",
                                                                 f"/lab/out/{saved.sidecar.name}"]
        assert stored(box, f"/lab/out/{saved.path.name}") == saved.path.read_bytes()
        assert stored(box, f"/lab/out/{saved.sidecar.name}") == saved.sidecar.read_bytes()
        note = next(e for e in deck.journal.entries() if e.kind == "upload")
        assert (note.level, note.subject) == ("info", "box") and note.summary.startswith(f"uploaded {saved.path.name}")
        # A failed upload is an event; the image is saved all the same.
        control(box, free_bytes=10)
        second = await deck.generate_image("sd", ImageRequest(prompt="a blue cube", width=64, height=64, steps=2))
        assert second.path.is_file() and second.sidecar.is_file()
        await wait_for_condition(lambda: any(e.kind == "upload" and e.level == "error" for e in deck.journal.entries()),
                                 what="the failed upload noted")
        failed = next(e for e in deck.journal.entries() if e.kind == "upload" and e.level == "error")
        assert failed.summary == (f"upload of {second.path.name}, {second.sidecar.name} failed: the Dropbox account is "
                                  f"full: no room for {second.path.name} ({second.path.stat().st_size} bytes)")
    finally:
        await deck.stop()


async def test_chat_exports_upload_only_where_asked(emulator: EmulatorFactory, tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DROPBOX_TOKEN", "sl.deck-token-2")
    chats, images = emulator("dropbox").url, emulator("dropbox").url
    config = DeckConfig.model_validate({"providers": [
        dropbox_provider(chats, "both"), {**dropbox_provider(images, "images"), "name": "pics"}]})
    deck = Deck(config, tmp_path / "data")
    await deck.start(monitor=False)
    try:
        book = SessionBook(deck)
        session = await book.create("Plans for friday", None, ChatSettings())
        path = await book.export(session.id)
        await wait_for_condition(lambda: deck.uploads.pending == 0 and deck.uploads.uploaded,
                                 what="the export uploaded")
        assert [item.path for item in deck.uploads.uploaded] == [f"/lab/out/{path.name}"]
        assert stored(chats, f"/lab/out/{path.name}") == path.read_bytes()
        assert log(images) == []  # auto_upload: images takes no chats
    finally:
        await deck.stop()


def test_account_of_a_config_sends_content_to_the_content_host() -> None:
    config = DeckConfig.model_validate({"providers": [
        {"name": "box", "kind": "dropbox", "api_key": "keyring:dropbox", "refresh_token": "env:DROPBOX_REFRESH",
         "app_key": "abc123"}]})
    public = account_of(config.providers[0])
    assert (public.api_url, public.content_url, public.folder) == (
        "https://api.dropboxapi.com", "https://content.dropboxapi.com", "/llmdeck")
    assert public.can_refresh


async def test_a_name_beyond_ascii_is_escaped_in_the_header_and_kept(emulator: EmulatorFactory, tmp_path: Path,
                                                                     client: httpx.AsyncClient) -> None:
    url = emulator("dropbox").url
    local = tmp_path / "café ☕.txt"
    data = write(local, 30)
    assert (await upload_file(client, account(url), local)).path == "/llmdeck/café ☕.txt"
    assert stored(url, "/llmdeck/café ☕.txt") == data
