"""CivitAI search and download over loopback: the CivitAI emulator, and the A1111 and ComfyUI emulators reading
the folder the file lands in."""

from __future__ import annotations

import hashlib
from pathlib import Path

import httpx
import pytest

from config.schema import ProviderConfig
from providers.adapters.civitai import MAX_PAGES, CivitaiClient, safe_file_name
from providers.civitai_download import NoPlaceError, download_version
from providers.downloads import ChecksumMismatchError, DownloadProgress
from providers.emulators.civitai import Hub, file_bytes, file_sha256
from providers.emulators.server import EmulatorServer
from providers.errors import AuthFailedError, BadRequestError, ProtocolError, ServerError
from tests.conftest import EmulatorFactory

DREAMSHAPER_XL = 251662
"""dreamshaperXL_turboDPMSDE.safetensors: not among the A1111 or ComfyUI emulators' own checkpoints."""
DREAMSHAPER_XL_FILE = "dreamshaperXL_turboDPMSDE.safetensors"
DREAMSHAPER_8 = 128713
TOKEN_ONLY = 456194
"""Juggernaut XL X Hyper: its download answers 401 without a token."""
R_RATED = 357609
"""Juggernaut XL v9: a safe model's version whose nsfwLevel has the R bit."""
NSFW_MODEL = 77001
LORA = 62833


def hub_of(server: EmulatorServer) -> Hub:
    hub: Hub = server.app.state.civitai
    return hub


def civitai(server: EmulatorServer, http: httpx.AsyncClient, *, token: str | None = None,
            allow_nsfw: bool = False) -> CivitaiClient:
    return CivitaiClient(http, base_url=f"{server.url}/api", token=(lambda: token) if token else None,
                         allow_nsfw=allow_nsfw, timeout_s=10.0)


def image_provider(kind: str, server: EmulatorServer, tmp_path: Path, *, lora: bool = False) -> ProviderConfig:
    checkpoints, loras = tmp_path / "models" / "checkpoints", tmp_path / "models" / "loras"
    return ProviderConfig(name="sd", kind=kind, base_url=server.url, checkpoint_dir=str(checkpoints),
                          lora_dir=str(loras) if lora else None)


async def a1111_files(http: httpx.AsyncClient, server: EmulatorServer) -> set[str]:
    listing = (await http.get(f"{server.url}/sdapi/v1/sd-models")).json()
    return {Path(entry["filename"]).name for entry in listing}


# --- search ---------------------------------------------------------------------------------------------------


async def test_search_lists_models_with_versions_files_and_hashes(emulator: EmulatorFactory,
                                                                  http: httpx.AsyncClient) -> None:
    models = await civitai(emulator("civitai"), http).search("dreamshaper")
    assert [(m.id, m.name, m.type) for m in models] == [(4384, "DreamShaper", "Checkpoint"),
                                                       (112902, "DreamShaper XL", "Checkpoint")]
    version = models[0].versions[0]
    assert (version.id, version.base_model) == (DREAMSHAPER_8, "SD 1.5")
    primary = version.primary_file()
    assert primary.name == "dreamshaper_8.safetensors"
    assert primary.sha256 == file_sha256(DREAMSHAPER_8)  # upper-case on the wire, lower-case here
    assert primary.size_bytes == len(file_bytes(DREAMSHAPER_8))
    assert models[0].downloads == 1_200_000 and "anime" in models[0].tags


async def test_search_by_type_asks_for_that_type_only(emulator: EmulatorFactory, http: httpx.AsyncClient) -> None:
    server = emulator("civitai")
    models = await civitai(server, http).search("detail", model_type="lora", base_model="SDXL 1.0")
    assert [(m.name, m.type) for m in models] == [("Detail Tweaker XL", "LORA")]
    assert hub_of(server).queries[-1]["types"] == ["LORA"]
    assert hub_of(server).queries[-1]["baseModels"] == ["SDXL 1.0"]
    with pytest.raises(BadRequestError, match="unknown model type"):
        await civitai(server, http).search("detail", model_type="embedding")


async def test_nsfw_is_hidden_unless_allowed_even_when_the_server_ignores_the_parameter(
        emulator: EmulatorFactory, http: httpx.AsyncClient) -> None:
    server = emulator("civitai")
    hidden = {m.id: m for m in await civitai(server, http).search("", max_results=100, limit=100)}
    assert hub_of(server).queries[-1]["nsfw"] == ["false"]
    assert NSFW_MODEL not in hidden
    assert R_RATED not in [v.id for v in hidden[133005].versions] and hidden[133005].versions
    hub_of(server).ignore_nsfw_param = True  # as CivitAI answers in some regions: everything comes back
    still_hidden = {m.id: m for m in await civitai(server, http).search("", max_results=100, limit=100)}
    assert NSFW_MODEL not in still_hidden
    assert R_RATED not in [v.id for v in still_hidden[133005].versions]
    allowed = {m.id: m for m in await civitai(server, http, allow_nsfw=True).search("", max_results=100, limit=100)}
    assert "nsfw" not in hub_of(server).queries[-1]
    assert NSFW_MODEL in allowed and allowed[NSFW_MODEL].nsfw
    assert R_RATED in [v.id for v in allowed[133005].versions]


async def test_search_follows_the_cursor_and_stops_at_max_results(emulator: EmulatorFactory,
                                                                  http: httpx.AsyncClient) -> None:
    server = emulator("civitai")
    models = await civitai(server, http).search("landscape", limit=5, max_results=12)
    assert [m.name for m in models] == [f"Landscape Study {n:02d}" for n in range(1, 13)]
    assert hub_of(server).requests["models"] == 3
    assert [q.get("cursor") for q in hub_of(server).queries] == [None, ["5"], ["10"]]


async def test_search_paging_is_bounded_when_the_server_always_has_more(emulator: EmulatorFactory,
                                                                        http: httpx.AsyncClient) -> None:
    server = emulator("civitai")
    hub_of(server).endless = True
    models = await civitai(server, http).search("landscape", limit=2, max_results=10_000)
    assert hub_of(server).requests["models"] == MAX_PAGES
    assert len(models) == 2 * MAX_PAGES


@pytest.mark.parametrize(("fault", "error"), [("500", ServerError), ("malformed", ProtocolError),
                                              ("401", AuthFailedError)])
async def test_search_maps_the_shared_faults(emulator: EmulatorFactory, http: httpx.AsyncClient, fault: str,
                                             error: type[Exception]) -> None:
    with pytest.raises(error):
        await civitai(emulator("civitai", faults=fault), http).search("dream")


async def test_a_version_marked_nsfw_is_refused_unless_allowed(emulator: EmulatorFactory,
                                                               http: httpx.AsyncClient) -> None:
    server = emulator("civitai")
    with pytest.raises(BadRequestError, match="allow_nsfw"):
        await civitai(server, http).version(R_RATED)
    version = await civitai(server, http, allow_nsfw=True).version(R_RATED)
    assert (version.model_name, version.model_type, version.nsfw) == ("Juggernaut XL", "Checkpoint", True)


# --- download -------------------------------------------------------------------------------------------------


async def test_a_checkpoint_lands_checked_and_a1111_lists_it_after_the_refresh(
        emulator: EmulatorFactory, http: httpx.AsyncClient, tmp_path: Path) -> None:
    hub, sd = emulator("civitai"), emulator("a1111")
    provider = image_provider("a1111", sd, tmp_path)
    sd.app.state.webui.checkpoint_dir = Path(provider.checkpoint_dir or "")
    assert DREAMSHAPER_XL_FILE not in await a1111_files(http, sd)
    steps: list[DownloadProgress] = []
    placed = await download_version(civitai(hub, http), DREAMSHAPER_XL, provider, progress=steps.append)
    landed = tmp_path / "models" / "checkpoints" / DREAMSHAPER_XL_FILE
    assert placed.path == landed and placed.listed and placed.refresh_problem is None
    assert hashlib.sha256(landed.read_bytes()).hexdigest() == file_sha256(DREAMSHAPER_XL) == placed.sha256
    assert steps and steps[-1].done_bytes == len(file_bytes(DREAMSHAPER_XL))
    assert DREAMSHAPER_XL_FILE in await a1111_files(http, sd)
    # The download route redirected to storage, and the file was fetched from there.
    assert (hub_of(hub).requests["download"], hub_of(hub).requests["storage"]) == (1, 1)


async def test_the_a1111_emulator_lists_a_new_file_only_after_a_refresh(emulator: EmulatorFactory,
                                                                         http: httpx.AsyncClient,
                                                                         tmp_path: Path) -> None:
    sd = emulator("a1111")  # so that "listed after the download" above proves the refresh call was made
    sd.app.state.webui.checkpoint_dir = tmp_path
    (tmp_path / "dropped.safetensors").write_bytes(b"weights")
    assert "dropped.safetensors" not in await a1111_files(http, sd)
    (await http.post(f"{sd.url}/sdapi/v1/refresh-checkpoints")).raise_for_status()
    assert "dropped.safetensors" in await a1111_files(http, sd)


async def test_a_checkpoint_lands_and_comfyui_lists_it(emulator: EmulatorFactory, http: httpx.AsyncClient,
                                                       tmp_path: Path) -> None:
    hub, comfy = emulator("civitai"), emulator("comfyui")
    provider = image_provider("comfyui", comfy, tmp_path)
    comfy.app.state.checkpoint_dir = Path(provider.checkpoint_dir or "")
    placed = await download_version(civitai(hub, http), DREAMSHAPER_XL, provider)
    assert placed.listed and placed.path.read_bytes() == file_bytes(DREAMSHAPER_XL)


async def test_a_lora_goes_to_lora_dir_and_a1111_lists_it_after_refresh_loras(
        emulator: EmulatorFactory, http: httpx.AsyncClient, tmp_path: Path) -> None:
    hub, sd = emulator("civitai"), emulator("a1111")
    provider = image_provider("a1111", sd, tmp_path, lora=True)
    sd.app.state.webui.lora_dir = Path(provider.lora_dir or "")
    placed = await download_version(civitai(hub, http), LORA, provider)
    assert placed.path == tmp_path / "models" / "loras" / "add_detail.safetensors" and placed.listed
    assert not (tmp_path / "models" / "checkpoints").exists()
    loras = (await http.get(f"{sd.url}/sdapi/v1/loras")).json()
    assert [entry["name"] for entry in loras] == ["add_detail"]


async def test_a_server_reading_another_folder_is_reported_not_listed(emulator: EmulatorFactory,
                                                                      http: httpx.AsyncClient,
                                                                      tmp_path: Path) -> None:
    hub, sd = emulator("civitai"), emulator("a1111")  # its checkpoint folder is not ours (another box, say)
    placed = await download_version(civitai(hub, http), DREAMSHAPER_XL, image_provider("a1111", sd, tmp_path))
    assert placed.path.exists() and not placed.listed
    assert placed.refresh_problem == f"sd does not list {DREAMSHAPER_XL_FILE} after its refresh"


async def test_a_version_that_needs_a_key_is_refused_without_one(emulator: EmulatorFactory,
                                                                 http: httpx.AsyncClient, tmp_path: Path) -> None:
    hub, sd = emulator("civitai"), emulator("a1111")
    provider = image_provider("a1111", sd, tmp_path)
    with pytest.raises(AuthFailedError, match="needs an API key") as refused:
        await download_version(civitai(hub, http), TOKEN_ONLY, provider)
    assert refused.value.status == 401
    assert not any((tmp_path / "models" / "checkpoints").iterdir())
    with pytest.raises(AuthFailedError, match="the key was refused"):
        await download_version(civitai(hub, http, token="revoked-key"), TOKEN_ONLY, provider)
    placed = await download_version(civitai(hub, http, token="lab-key"), TOKEN_ONLY, provider)
    assert placed.sha256 == file_sha256(TOKEN_ONLY)


async def test_a_hash_mismatch_leaves_no_file(emulator: EmulatorFactory, http: httpx.AsyncClient,
                                              tmp_path: Path) -> None:
    hub, sd = emulator("civitai"), emulator("a1111")
    hub_of(hub).corrupt.add(DREAMSHAPER_XL)
    with pytest.raises(ChecksumMismatchError):
        await download_version(civitai(hub, http), DREAMSHAPER_XL, image_provider("a1111", sd, tmp_path))
    assert list((tmp_path / "models" / "checkpoints").iterdir()) == []  # neither the file nor its .part


@pytest.mark.parametrize("version_id", [88002, 88003])  # "../../escape.safetensors", a name with ESC and BEL
async def test_a_hostile_file_name_is_refused(emulator: EmulatorFactory, http: httpx.AsyncClient, tmp_path: Path,
                                              version_id: int) -> None:
    hub, sd = emulator("civitai"), emulator("a1111")
    with pytest.raises(ProtocolError, match="not a plain file name"):
        await download_version(civitai(hub, http), version_id, image_provider("a1111", sd, tmp_path, lora=True))
    assert hub_of(hub).requests["download"] == 0
    assert list((tmp_path / "models").rglob("*")) == []


@pytest.mark.parametrize("name", ["../x.safetensors", "a/b.safetensors", ".hidden", "x\x00y", "tab\there", " x",
                                  "x" * 256])
def test_safe_file_name_refuses_anything_but_a_plain_name(name: str) -> None:
    with pytest.raises(ProtocolError):
        safe_file_name(name)


async def test_a_provider_that_cannot_take_the_file_is_refused_before_any_download(
        emulator: EmulatorFactory, http: httpx.AsyncClient, tmp_path: Path) -> None:
    hub, sd = emulator("civitai"), emulator("a1111")
    with pytest.raises(NoPlaceError, match="kind ollama"):
        await download_version(civitai(hub, http), DREAMSHAPER_XL,
                               ProviderConfig(name="chat", kind="ollama", base_url=sd.url))
    with pytest.raises(NoPlaceError, match="no lora_dir"):
        await download_version(civitai(hub, http), LORA, image_provider("a1111", sd, tmp_path))
    assert hub_of(hub).requests["download"] == 0
