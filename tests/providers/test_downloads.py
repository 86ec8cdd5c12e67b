"""The download engine over loopback against the Hub emulator (and two tiny servers for what it cannot do):
resume after a cut and after a cancel, SHA-256 mismatch, disk space, redirects, 416 and 200 answers to a Range."""

from __future__ import annotations

import asyncio
import hashlib
import shutil
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from providers.downloads import (
    MAX_REDIRECTS,
    ChecksumMismatchError,
    DiskFullError,
    DownloadProgress,
    download_file,
    part_path,
    safe_destination,
)
from providers.emulators.faults import FAULT_HEADER, FaultPlan
from providers.emulators.hfhub import REPOS, HubState, file_bytes, file_sha256
from providers.emulators.server import EmulatorServer
from providers.errors import BadRequestError, ProtocolError, RateLimitedError
from tests.conftest import EmulatorFactory
from tests.hostile.hostile_server import HostileServer, canned, hostile_server, stream_head
from tests.waiting import bounded, wait_for_condition

REPO = REPOS[0]
PATH, SIZE = REPO.files[0]
SHA = file_sha256(REPO.id, PATH, SIZE)
CONTENT = file_bytes(REPO.id, PATH, SIZE)


@pytest.fixture
def hub(emulator: EmulatorFactory) -> EmulatorServer:
    return emulator("hfhub")


def hub_state(server: EmulatorServer) -> HubState:
    state: HubState = server.app.state.hub
    return state


def url_of(server: EmulatorServer) -> str:
    return f"{server.url}/{REPO.id}/resolve/main/{PATH}"


async def test_a_cut_download_resumes_with_a_range_and_appears_only_when_complete(
        hub: EmulatorServer, client: httpx.AsyncClient, tmp_path: Path) -> None:
    dest = tmp_path / PATH
    with pytest.raises(ProtocolError, match="connection dropped"):
        await download_file(client, url_of(hub), dest, expected_sha256=SHA, expected_size=SIZE,
                            headers={FAULT_HEADER: "cut"})
    kept = part_path(dest).stat().st_size
    assert 0 < kept < SIZE and not dest.exists()
    assert part_path(dest).read_bytes() == CONTENT[:kept]  # what arrived is on disk, at its offset

    result = await download_file(client, url_of(hub), dest, expected_sha256=SHA, expected_size=SIZE)
    assert result.resumed_from == kept and result.size == SIZE and result.sha256 == SHA
    assert dest.read_bytes() == CONTENT and not part_path(dest).exists()
    assert hub_state(hub).ranges("/cdn/") == [None, f"bytes={kept}-"]


async def test_a_wrong_hash_leaves_no_file_and_removes_the_part(
        hub: EmulatorServer, client: httpx.AsyncClient, tmp_path: Path) -> None:
    dest = tmp_path / PATH
    with pytest.raises(ChecksumMismatchError, match="partial file was removed") as caught:
        await download_file(client, url_of(hub), dest, expected_sha256=SHA, expected_size=SIZE,
                            headers={FAULT_HEADER: "badhash"})
    assert caught.value.kind == "checksum_mismatch"
    assert not dest.exists() and not part_path(dest).exists()
    # The next try starts clean: from byte 0, and succeeds.
    result = await download_file(client, url_of(hub), dest, expected_sha256=SHA, expected_size=SIZE)
    assert result.resumed_from == 0 and dest.read_bytes() == CONTENT
    assert hub_state(hub).ranges("/cdn/") == [None, None]


async def test_too_little_free_space_is_refused_before_any_byte_or_request(
        hub: EmulatorServer, client: httpx.AsyncClient, tmp_path: Path) -> None:
    dest = tmp_path / PATH
    huge = shutil.disk_usage(tmp_path).free + 1024**3
    with pytest.raises(DiskFullError, match="needs"):
        await download_file(client, url_of(hub), dest, expected_sha256=SHA, expected_size=huge)
    assert not dest.exists() and not part_path(dest).exists()
    assert hub_state(hub).requests == []


async def test_space_is_counted_after_the_bytes_already_in_the_part(
        hub: EmulatorServer, client: httpx.AsyncClient, tmp_path: Path) -> None:
    """A resume needs room only for what is missing: a part of N bytes lowers the need by N."""
    dest = tmp_path / PATH
    part_path(dest).write_bytes(CONTENT[: SIZE // 2])
    free = shutil.disk_usage(tmp_path).free
    with pytest.raises(DiskFullError, match=f"needs {free + 1} more bytes"):
        await download_file(client, url_of(hub), dest, expected_sha256=None, expected_size=free + 1 + SIZE // 2)
    assert part_path(dest).stat().st_size == SIZE // 2  # refused, and the part untouched


@pytest.fixture
def dev_full() -> Path:
    """A device that answers every write with ENOSPC."""
    device = Path("/dev/full")
    if not device.exists():
        pytest.skip("no /dev/full on this system")
    return device


@pytest.fixture
def boastful_server(tmp_path: Path) -> Iterator[HostileServer]:
    """Announces a body larger than any disk here (and sends three bytes)."""
    huge = shutil.disk_usage(tmp_path).free + 1024**4
    reply = stream_head(content_type="application/octet-stream", headers={"Content-Length": str(huge)}) + b"abc"
    with hostile_server({"/file": canned(reply)}) as server:
        yield server


async def test_an_announced_size_past_the_free_space_is_refused_before_writing(
        boastful_server: HostileServer, client: httpx.AsyncClient, tmp_path: Path) -> None:
    dest = tmp_path / "unknown-size.gguf"
    with pytest.raises(DiskFullError, match="needs"):
        await download_file(client, f"{boastful_server.url}/file", dest, expected_sha256=None, expected_size=None)
    assert not dest.exists() and not part_path(dest).exists()


async def test_a_finished_file_is_not_fetched_again(
        hub: EmulatorServer, client: httpx.AsyncClient, tmp_path: Path) -> None:
    dest = tmp_path / PATH
    await download_file(client, url_of(hub), dest, expected_sha256=SHA, expected_size=SIZE)
    asked = len(hub_state(hub).requests)
    again = await download_file(client, url_of(hub), dest, expected_sha256=SHA, expected_size=SIZE)
    assert again.resumed_from == SIZE and again.sha256 == SHA and len(hub_state(hub).requests) == asked


async def test_a_disk_that_fills_while_writing_keeps_the_part_and_says_so(
        hub: EmulatorServer, client: httpx.AsyncClient, tmp_path: Path, dev_full: Path) -> None:
    dest = tmp_path / PATH
    part_path(dest).symlink_to(dev_full)  # the part is a link to the full device
    with pytest.raises(DiskFullError, match="disk filled"):
        await download_file(client, url_of(hub), dest, expected_sha256=SHA, expected_size=SIZE)
    assert part_path(dest).is_symlink() and not dest.exists()


async def test_a_cancelled_download_keeps_its_part_and_the_next_call_resumes_it(
        hub: EmulatorServer, client: httpx.AsyncClient, tmp_path: Path) -> None:
    dest = tmp_path / PATH
    steps: list[DownloadProgress] = []
    # The emulator stops after a few pieces and waits: the cancel strikes mid-body, never after the end.
    task = asyncio.create_task(download_file(
        client, url_of(hub), dest, expected_sha256=SHA, expected_size=SIZE, headers={FAULT_HEADER: "stall_mid:60"},
        progress=steps.append, chunk_size=64 * 1024))
    await wait_for_condition(lambda: any(step.done_bytes > 0 for step in steps), what="the first bytes on disk")
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await bounded(task, what="the cancelled download")
    kept = part_path(dest).stat().st_size
    assert kept >= steps[-1].done_bytes > 0 and not dest.exists()

    result = await download_file(client, url_of(hub), dest, expected_sha256=SHA, expected_size=SIZE)
    assert result.resumed_from == kept and dest.read_bytes() == CONTENT
    assert hub_state(hub).ranges("/cdn/")[-1] == f"bytes={kept}-"


async def test_progress_counts_bytes_on_disk_up_to_the_total(
        hub: EmulatorServer, client: httpx.AsyncClient, tmp_path: Path) -> None:
    steps: list[DownloadProgress] = []
    await download_file(client, url_of(hub), tmp_path / PATH, expected_sha256=SHA, expected_size=SIZE,
                        progress=steps.append, chunk_size=256 * 1024)
    done = [step.done_bytes for step in steps]
    assert done[0] == 0 and done[-1] == SIZE and done == sorted(done) and len(done) > 3
    assert {step.total_bytes for step in steps} == {SIZE}


async def test_a_rate_limit_surfaces_as_the_rate_limited_error_with_its_wait(
        hub: EmulatorServer, client: httpx.AsyncClient, tmp_path: Path) -> None:
    with pytest.raises(RateLimitedError) as caught:
        await download_file(client, url_of(hub), tmp_path / PATH, expected_sha256=SHA, expected_size=SIZE,
                            headers={FAULT_HEADER: "429:12"})
    assert caught.value.retry_after == pytest.approx(12) and caught.value.status == 429
    assert not part_path(tmp_path / PATH).exists()


async def test_a_complete_part_is_finished_from_disk_without_a_request(
        hub: EmulatorServer, client: httpx.AsyncClient, tmp_path: Path) -> None:
    dest = tmp_path / PATH
    part_path(dest).write_bytes(CONTENT)
    result = await download_file(client, url_of(hub), dest, expected_sha256=SHA, expected_size=SIZE)
    assert result.resumed_from == SIZE and dest.read_bytes() == CONTENT
    assert hub_state(hub).requests == []


async def test_a_416_for_a_complete_part_of_unknown_size_finishes_it(
        hub: EmulatorServer, client: httpx.AsyncClient, tmp_path: Path) -> None:
    dest = tmp_path / PATH
    part_path(dest).write_bytes(CONTENT)
    result = await download_file(client, url_of(hub), dest, expected_sha256=SHA, expected_size=None)
    assert result.sha256 == SHA and dest.read_bytes() == CONTENT
    assert hub_state(hub).ranges("/cdn/") == [f"bytes={SIZE}-"]


async def test_a_416_for_a_wrong_part_starts_again_from_zero(
        hub: EmulatorServer, client: httpx.AsyncClient, tmp_path: Path) -> None:
    dest = tmp_path / PATH
    part_path(dest).write_bytes(b"\0" * SIZE)  # the right length, the wrong bytes
    result = await download_file(client, url_of(hub), dest, expected_sha256=SHA, expected_size=None)
    assert result.resumed_from == 0 and dest.read_bytes() == CONTENT
    assert hub_state(hub).ranges("/cdn/") == [f"bytes={SIZE}-", None]


@pytest.fixture
def plain_files() -> Iterator[tuple[EmulatorServer, list[Request]]]:
    """A server that ignores Range (always 200, whole), redirects in a loop on /loop, and records requests."""
    seen: list[Request] = []

    async def whole(request: Request) -> Response:
        seen.append(request)
        return Response(CONTENT, media_type="application/octet-stream")

    async def loop(request: Request) -> Response:
        seen.append(request)
        return RedirectResponse("/loop", status_code=302)

    server = EmulatorServer(app=Starlette(routes=[Route("/file", whole), Route("/loop", loop)]),
                            plan=FaultPlan()).start()
    yield server, seen
    server.stop()


async def test_a_200_to_a_range_request_restarts_from_zero(
        plain_files: tuple[EmulatorServer, list[Request]], client: httpx.AsyncClient, tmp_path: Path) -> None:
    server, seen = plain_files
    dest = tmp_path / "whole.gguf"
    part_path(dest).write_bytes(b"stale bytes of some other attempt")
    result = await download_file(client, f"{server.url}/file", dest, expected_sha256=SHA, expected_size=SIZE)
    assert result.resumed_from == 0 and dest.read_bytes() == CONTENT
    assert seen[0].headers["range"] == "bytes=33-"


async def test_a_redirect_loop_is_cut_off(plain_files: tuple[EmulatorServer, list[Request]],
                                          client: httpx.AsyncClient, tmp_path: Path) -> None:
    server, seen = plain_files
    with pytest.raises(ProtocolError, match=f"more than {MAX_REDIRECTS} redirects"):
        await download_file(client, f"{server.url}/loop", tmp_path / "x.gguf", expected_sha256=None,
                            expected_size=None)
    assert len(seen) == MAX_REDIRECTS + 1


async def test_the_key_follows_a_redirect_on_the_same_host_but_not_to_another(
        hub: EmulatorServer, plain_files: tuple[EmulatorServer, list[Request]], client: httpx.AsyncClient,
        tmp_path: Path) -> None:
    other, seen = plain_files

    async def away(_request: Request) -> Response:
        return RedirectResponse(f"{other.url}/file", status_code=302)

    origin = EmulatorServer(app=Starlette(routes=[Route("/away", away)]), plan=FaultPlan()).start()
    try:
        await download_file(client, f"{origin.url}/away", tmp_path / "a.gguf", expected_sha256=SHA,
                            expected_size=SIZE, headers={"authorization": "Bearer hf_secret_token_1234"})
    finally:
        origin.stop()
    assert "authorization" not in seen[0].headers
    await download_file(client, url_of(hub), tmp_path / "b.gguf", expected_sha256=SHA, expected_size=SIZE,
                        headers={"authorization": "Bearer hf_secret_token_1234"})
    assert [(r.path.split("/")[1], r.authorized) for r in hub_state(hub).requests] == [
        (REPO.id.split("/")[0], True), ("cdn", True)]


async def test_a_longer_part_than_the_file_is_thrown_away(
        hub: EmulatorServer, client: httpx.AsyncClient, tmp_path: Path) -> None:
    dest = tmp_path / PATH
    part_path(dest).write_bytes(b"x" * (SIZE + 10))
    result = await download_file(client, url_of(hub), dest, expected_sha256=SHA, expected_size=SIZE)
    assert result.resumed_from == 0 and hashlib.sha256(dest.read_bytes()).hexdigest() == SHA


@pytest.mark.parametrize("name", [
    "../escape.gguf", "/etc/passwd", "a/../../b.gguf", "nul\x00.gguf", "", ".", "a//b.gguf", "back\\slash.gguf",
    "C:evil.gguf", "esc\x1b[31m.gguf", " spaced.gguf", "model.gguf.part",
])
def test_hostile_file_names_are_refused(tmp_path: Path, name: str) -> None:
    with pytest.raises(BadRequestError, match="refusing the file name"):
        safe_destination(tmp_path, name)


def test_a_symlink_out_of_the_directory_is_refused(tmp_path: Path) -> None:
    inside = tmp_path / "models"
    inside.mkdir()
    (inside / "link").symlink_to(tmp_path.parent)
    with pytest.raises(BadRequestError, match="leads outside"):
        safe_destination(inside, "link/x.gguf")
    assert safe_destination(inside, "sub/dir/x.gguf") == inside.resolve() / "sub" / "dir" / "x.gguf"
