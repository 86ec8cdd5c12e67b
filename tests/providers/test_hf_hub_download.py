"""HubClient against the Hub emulator over loopback: downloads through /resolve and its CDN redirect, gated
repositories with and without access, hostile names in a listing, search with the last update, the fault spec."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from providers.adapters.hf_hub import SEARCH_FIELDS, HubClient
from providers.downloads import part_path
from providers.emulators.hfhub import NO_ACCESS_TOKEN_PREFIX, REPOS, TREE_PAGE_SIZE, HubState, file_sha256
from providers.emulators.server import EmulatorServer
from providers.errors import AuthFailedError, BadRequestError, NotFoundError, RateLimitedError
from tests.conftest import EmulatorFactory

TINY, GATED, HOSTILE = REPOS
GATED_FILE, GATED_SIZE = GATED.files[0]


@pytest.fixture
def hub(emulator: EmulatorFactory) -> EmulatorServer:
    return emulator("hfhub")


@pytest.fixture
def directory(tmp_path: Path) -> Path:
    """tmp_path as downloads name it: with its symlinks resolved."""
    return tmp_path.resolve()


def downloaded(root: Path) -> list[Path]:
    return list(root.rglob("*.gguf*"))


def escaped(tmp_path: Path) -> list[Path]:
    """Files the hostile repository's names would have written outside the download directory (which lies three
    levels below `tmp_path`, deeper than any name climbs: what escapes lands in this test's own `tmp_path`, where
    no other test writes)."""
    landed = [p for p in tmp_path.rglob("*") if p.name.startswith(("escape-", "up-", "evil-", "nul"))]
    return landed + [p for p in (Path("/etc/cron.d/evil-Q4_K_M.gguf"),) if p.exists()]


def hub_state(server: EmulatorServer) -> HubState:
    state: HubState = server.app.state.hub
    return state


async def test_a_file_downloads_through_the_cdn_redirect_and_is_checked(
        hub: EmulatorServer, client: httpx.AsyncClient, directory: Path) -> None:
    path, size = TINY.files[1]
    result = await HubClient(client, base_url=hub.url).download(TINY.id, path, directory)
    assert result.path == directory / path and result.size == size
    assert result.sha256 == file_sha256(TINY.id, path, size)
    fetched = [r.path for r in hub_state(hub).requests if "/tree/" not in r.path]
    assert fetched[0] == f"/{TINY.id}/resolve/main/{path}" and fetched[1].startswith(f"/cdn/{TINY.id}/")


async def test_a_file_in_a_folder_keeps_its_folder_inside_the_directory(
        hub: EmulatorServer, client: httpx.AsyncClient, directory: Path) -> None:
    path, _ = TINY.files[2]
    assert "/" in path
    result = await HubClient(client, base_url=hub.url).download(TINY.id, path, directory)
    assert result.path.parent == directory / path.split("/")[0] and downloaded(directory) == [result.path]


async def test_a_gated_repository_refuses_without_a_token_in_the_hubs_words(
        hub: EmulatorServer, client: httpx.AsyncClient, tmp_path: Path) -> None:
    with pytest.raises(AuthFailedError) as caught:
        await HubClient(client, base_url=hub.url).download(GATED.id, GATED_FILE, tmp_path)
    assert caught.value.status == 401
    assert f"Access to model {GATED.id} is restricted" in caught.value.message
    assert "authenticated" in caught.value.message
    assert downloaded(tmp_path) == []


async def test_a_gated_repository_refuses_a_token_without_access(
        hub: EmulatorServer, client: httpx.AsyncClient, tmp_path: Path) -> None:
    hub_client = HubClient(client, base_url=hub.url, token=lambda: f"{NO_ACCESS_TOKEN_PREFIX}_4711abcdef")
    with pytest.raises(AuthFailedError) as caught:
        await hub_client.download(GATED.id, GATED_FILE, tmp_path)
    assert caught.value.status == 403 and "not in the authorized list" in caught.value.message
    assert "4711abcdef" not in str(caught.value)


async def test_a_gated_repository_serves_a_token_with_access(
        hub: EmulatorServer, client: httpx.AsyncClient, tmp_path: Path) -> None:
    hub_client = HubClient(client, base_url=hub.url, token=lambda: "hf_granted_token_1234")
    result = await hub_client.download(GATED.id, GATED_FILE, tmp_path)
    assert result.sha256 == file_sha256(GATED.id, GATED_FILE, GATED_SIZE)
    assert all(r.authorized for r in hub_state(hub).requests)


@pytest.mark.parametrize("index", range(len(HOSTILE.files)))
async def test_hostile_names_in_a_listing_are_refused_before_any_download(
        hub: EmulatorServer, client: httpx.AsyncClient, tmp_path: Path, index: int) -> None:
    directory = tmp_path / "lab" / "box" / "models"
    name, _ = HOSTILE.files[index]
    with pytest.raises(BadRequestError, match="refusing the file name"):
        await HubClient(client, base_url=hub.url).download(HOSTILE.id, name, directory)
    assert [r for r in hub_state(hub).requests if "/resolve/" in r.path or "/cdn/" in r.path] == []
    assert escaped(tmp_path) == [] and downloaded(directory) == []  # not inside, not above


async def test_a_file_the_repository_lacks_is_not_found(
        hub: EmulatorServer, client: httpx.AsyncClient, tmp_path: Path) -> None:
    with pytest.raises(NotFoundError, match="has no file"):
        await HubClient(client, base_url=hub.url).download(TINY.id, "missing-Q4_K_M.gguf", tmp_path)
    assert not part_path(tmp_path / "missing-Q4_K_M.gguf").exists()


async def test_a_rate_limit_on_the_download_says_how_long_to_wait(
        hub: EmulatorServer, client: httpx.AsyncClient, tmp_path: Path) -> None:
    hub_client = HubClient(client, base_url=hub.url)
    path, _ = TINY.files[0]
    entry = await hub_client.file_entry(TINY.id, path)  # the listing answers; the download is then limited
    hub.set_faults("429:30")
    with pytest.raises(RateLimitedError) as caught:
        await hub_client.download(TINY.id, entry.path, tmp_path)
    assert caught.value.retry_after == pytest.approx(30)


async def test_the_listing_spans_pages_with_lfs_hashes(hub: EmulatorServer, client: httpx.AsyncClient) -> None:
    files = await HubClient(client, base_url=hub.url).list_files(TINY.id)
    assert len(files) > TREE_PAGE_SIZE  # directories are left out, so more than one page was read
    assert [f.path for f in files if f.is_gguf] == [path for path, _ in TINY.files]
    assert all(f.lfs_sha256 == file_sha256(TINY.id, f.path, f.size or 0) for f in files if f.is_gguf)
    assert {f.quantization for f in files if f.is_gguf} == {"Q4_K_M", "Q8_0", "F16"}


async def test_search_with_expand_reports_the_last_update(hub: EmulatorServer, client: httpx.AsyncClient) -> None:
    models = await HubClient(client, base_url=hub.url).search("gguf", limit=3, expand=SEARCH_FIELDS)
    assert len(models) > 3 and all(m.last_modified for m in models)
    assert [m.downloads for m in models] == sorted((m.downloads for m in models), reverse=True)
    gated = next(m for m in models if m.id == GATED.id)
    assert gated.gated and gated.last_modified == GATED.last_modified
    plain = await HubClient(client, base_url=hub.url).search("TinyStories")
    assert [m.id for m in plain] == [TINY.id] and plain[0].last_modified is None  # not asked for, not sent
