"""`:hub` and `:civitai` in the console, as an operator uses them: search, open a result, pick a file or version,
pick where it lands, read the exact call and confirm, then watch it in the Models pane's queue beside the pulls.
Over the Hub, CivitAI, Ollama, AUTOMATIC1111 and ComfyUI emulators on loopback; files land in temp dirs."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from config.loader import load_config
from console.app import DeckApp
from console.panes.models import ModelsPane
from console.screens.civitai_browser import CivitaiBrowser
from console.screens.confirm import ConfirmDialog
from console.screens.hub_browser import HubBrowser
from console.screens.pull_queue import PullJob
from console.screens.source_browser import SourceBrowser
from console.screens.target_picker import TargetPicker
from providers.deck import Deck
from providers.downloads import part_path
from providers.emulators.civitai import file_sha256 as civitai_sha256
from providers.emulators.hfhub import REPOS, file_sha256
from tests.conftest import EmulatorFactory
from tests.console.pane_harness import wait_until
from tests.console.shell_harness import screen_text, started_deck
from tests.emulator_control import ollama_state

TINY = REPOS[0]
FILE, SIZE = TINY.files[0]
DREAMSHAPER_XL, XL_VERSION, XL_FILE = "112902", "251662", "dreamshaperXL_turboDPMSDE.safetensors"
SIZE_80x24 = (80, 24)


class Rig:
    """The emulators, the folders files land in, and a config naming them (two providers share host gpu1)."""

    def __init__(self, emulator: EmulatorFactory, tmp_path: Path) -> None:
        self.hub, self.ollama = emulator("hfhub"), emulator("ollama")
        self.civitai, self.sd, self.comfy = emulator("civitai"), emulator("a1111"), emulator("comfyui")
        self.gguf = tmp_path / "gguf"
        self.checkpoints = tmp_path / "checkpoints"
        self.sd.app.state.webui.checkpoint_dir = self.checkpoints
        self.comfy.app.state.checkpoint_dir = self.checkpoints
        self.data = tmp_path / "data"
        self.path = tmp_path / "config.yaml"
        providers: list[dict[str, Any]] = [
            {"name": "hf", "kind": "huggingface", "hub_url": self.hub.url},
            {"name": "box-llamacpp", "kind": "llamacpp", "base_url": "http://127.0.0.1:9", "host": "gpu1",
             "models_dir": str(self.gguf)},
            {"name": "box-ollama", "kind": "ollama", "base_url": self.ollama.url, "host": "gpu1"},
            {"name": "civitai", "kind": "civitai", "base_url": f"{self.civitai.url}/api"},
            {"name": "sd", "kind": "a1111", "base_url": self.sd.url, "checkpoint_dir": str(self.checkpoints)},
            {"name": "comfy", "kind": "comfyui", "base_url": self.comfy.url, "checkpoint_dir": str(self.checkpoints)},
        ]
        self.path.write_text(yaml.safe_dump({"providers": providers}), encoding="utf-8")


@pytest.fixture
def rig(emulator: EmulatorFactory, tmp_path: Path) -> Rig:
    return Rig(emulator, tmp_path)


@pytest.fixture
async def rig_deck(rig: Rig) -> AsyncIterator[Deck]:
    deck = await started_deck(load_config(rig.path), rig.data)
    try:
        yield deck
    finally:
        await deck.stop()


async def command(pilot: Any, text: str) -> None:
    await pilot.press("colon", *text, "enter")


async def open_row(pilot: Any, browser: SourceBrowser, key: str, *, items: bool = False) -> None:
    """Put the cursor on the row `key` (of the results, or of the items) and press Enter, as the operator would
    after moving down to it."""
    table = browser.items if items else browser.results
    await wait_until(pilot, lambda: key in table.keys, what=f"the row {key}")
    table.move_cursor(row=table.keys.index(key), animate=False)
    await pilot.press("enter")


async def confirm(pilot: Any, app: DeckApp) -> ConfirmDialog:
    """The confirmation on screen, Cancel focused; then Download (or Pull) pressed."""
    await wait_until(pilot, lambda: isinstance(app.screen, ConfirmDialog), what="the confirmation")
    dialog = app.screen
    assert isinstance(dialog, ConfirmDialog)
    assert app.focused is not None and app.focused.id == "cancel"  # Enter alone never starts a download
    await pilot.press("right", "enter")
    return dialog


def models_of(app: DeckApp) -> ModelsPane:
    pane = app.pane("models")
    assert isinstance(pane, ModelsPane)
    return pane


async def finished_job(pilot: Any, app: DeckApp) -> PullJob:
    await wait_until(pilot, lambda: app.pane("models") is not None and bool(models_of(app).pulls.jobs)
                     and models_of(app).pulls.jobs[-1].finished, what="the download to finish")
    return models_of(app).pulls.jobs[-1]


async def pick_target(pilot: Any, app: DeckApp, provider: str) -> TargetPicker:
    await wait_until(pilot, lambda: isinstance(app.screen, TargetPicker), what="the target picker")
    picker = app.screen
    assert isinstance(picker, TargetPicker)
    names = [name for name, _ in picker.targets]
    for _ in range(names.index(provider)):
        await pilot.press("down")
    await pilot.press("enter")
    return picker


async def open_tiny_file(pilot: Any, app: DeckApp) -> HubBrowser:
    """`:hub tinystories`, Enter on the repository, Enter on its Q4_K_M file."""
    await command(pilot, "hub tinystories")
    await wait_until(pilot, lambda: isinstance(app.screen, HubBrowser), what="the Hub browser")
    browser = app.screen
    assert isinstance(browser, HubBrowser)
    await open_row(pilot, browser, TINY.id)
    await open_row(pilot, browser, FILE, items=True)
    return browser


async def test_hub_search_files_and_a_download_into_a_models_dir_through_the_queue(rig: Rig, rig_deck: Deck) -> None:
    app = DeckApp(rig_deck)
    async with app.run_test(size=SIZE_80x24) as pilot:
        await command(pilot, "hub tinystories")
        await wait_until(pilot, lambda: isinstance(app.screen, HubBrowser), what="the Hub browser")
        browser = app.screen
        assert isinstance(browser, HubBrowser)
        await wait_until(pilot, lambda: TINY.id in browser.results.keys, what="the search results")
        await wait_until(pilot, lambda: TINY.id in screen_text(app), what="the results drawn, names whole at 80x24")
        await open_row(pilot, browser, TINY.id)
        await open_row(pilot, browser, FILE, items=True)
        picker = await pick_target(pilot, app, "box-llamacpp")
        assert [name for name, _ in picker.targets] == ["box-llamacpp", "box-ollama"]
        dialog = await confirm(pilot, app)
        assert f"/{TINY.id}/resolve/main/{FILE}" in dialog.call and str(rig.gguf / FILE) in dialog.call
        assert file_sha256(TINY.id, FILE, SIZE) in dialog.call
        assert "free on" in dialog.impact and ".part" in dialog.impact
        job = await finished_job(pilot, app)
        assert app.current_pane == "models" and job.kind == "download" and job.provider == "box-llamacpp"
        assert job.state == "done", job.status
        assert str(rig.gguf / FILE) in job.status and "sha256 checked" in job.status
    landed = rig.gguf / FILE
    assert hashlib.sha256(landed.read_bytes()).hexdigest() == file_sha256(TINY.id, FILE, SIZE)
    assert not part_path(landed).exists()


async def test_a_cancelled_download_keeps_its_part_holds_its_host_and_the_next_one_resumes(
        rig: Rig, rig_deck: Deck) -> None:
    rig.hub.set_faults("stall_mid:60")  # the file stops after a few pieces: the cancel strikes mid-download
    app = DeckApp(rig_deck)
    async with app.run_test(size=(120, 36)) as pilot:
        await open_tiny_file(pilot, app)
        await pick_target(pilot, app, "box-llamacpp")
        await confirm(pilot, app)
        await wait_until(pilot, lambda: app.current_pane == "models", what="the Models pane")
        pulls = models_of(app).pulls
        part = part_path(rig.gguf / FILE)
        await wait_until(pilot, lambda: pulls.jobs[0].completed_bytes > 0, what="the first bytes received")
        download = pulls.jobs[0]
        # A pull onto the other provider of host gpu1 waits for the download: one transfer per host at a time.
        pull = pulls.enqueue("box-ollama", "llama3.2:1b")
        await pilot.pause()
        assert download.state == "pulling" and pull.state == "queued"
        assert "box-llamacpp/hub:" in screen_text(app)
        pulls.table.move_cursor(row=pulls.table.get_row_index(download.id))
        await pilot.press("x")
        await wait_until(pilot, lambda: download.state == "cancelled", what="the cancel")
        kept = part.stat().st_size
        assert 0 < kept < SIZE and not (rig.gguf / FILE).exists()
        await wait_until(pilot, lambda: pull.finished, what="the queued pull to run once the host is free")
        assert pull.state == "done", pull.status
        rig.hub.set_faults("")
        again = pulls.enqueue("box-llamacpp", "again", kind="download", source=download.source)
        await wait_until(pilot, lambda: again.finished, what="the second download")
        assert again.state == "done" and "resumed at" in again.status, again.status
    assert hashlib.sha256((rig.gguf / FILE).read_bytes()).hexdigest() == file_sha256(TINY.id, FILE, SIZE)


async def test_a_gguf_file_onto_ollama_is_that_servers_own_pull(rig: Rig, rig_deck: Deck) -> None:
    app = DeckApp(rig_deck)
    async with app.run_test(size=SIZE_80x24) as pilot:
        await open_tiny_file(pilot, app)
        await pick_target(pilot, app, "box-ollama")
        dialog = await confirm(pilot, app)
        model = f"hf.co/{TINY.id}:Q4_K_M"
        assert "/api/pull" in dialog.call and model in dialog.call
        job = await finished_job(pilot, app)
        assert job.kind == "pull" and job.model == model and job.state == "done", job.status
    assert model in ollama_state(rig.ollama).installed
    assert not rig.gguf.exists()  # nothing was downloaded here: the Ollama server fetched it


async def test_a_file_with_the_wrong_hash_fails_in_the_queue_and_leaves_nothing(rig: Rig, rig_deck: Deck) -> None:
    rig.hub.set_faults("badhash")
    app = DeckApp(rig_deck)
    async with app.run_test(size=SIZE_80x24) as pilot:
        await open_tiny_file(pilot, app)
        await pick_target(pilot, app, "box-llamacpp")
        await confirm(pilot, app)
        job = await finished_job(pilot, app)
        assert job.state == "failed" and "sha" in job.status.lower(), job.status
        await wait_until(pilot, lambda: any("Download failed" in str(n.title) for n in app._notifications),
                         what="the failure said")
    assert not (rig.gguf / FILE).exists() and not part_path(rig.gguf / FILE).exists()


async def test_civitai_search_versions_and_a_checkpoint_into_the_image_server_which_then_lists_it(
        rig: Rig, rig_deck: Deck) -> None:
    app = DeckApp(rig_deck)
    async with app.run_test(size=SIZE_80x24) as pilot:
        await command(pilot, "civitai --checkpoint dreamshaper")
        await wait_until(pilot, lambda: isinstance(app.screen, CivitaiBrowser), what="the CivitAI browser")
        browser = app.screen
        assert isinstance(browser, CivitaiBrowser)
        await open_row(pilot, browser, DREAMSHAPER_XL)
        await open_row(pilot, browser, XL_VERSION, items=True)
        picker = await pick_target(pilot, app, "sd")
        assert {name for name, _ in picker.targets} == {"sd", "comfy"}
        dialog = await confirm(pilot, app)
        assert str(rig.checkpoints / XL_FILE) in dialog.call
        assert f"POST {rig.sd.url}/sdapi/v1/refresh-checkpoints" in dialog.call
        job = await finished_job(pilot, app)
        assert job.kind == "download" and job.state == "done", job.status
        assert "sd lists it" in job.status
    landed = rig.checkpoints / XL_FILE
    assert hashlib.sha256(landed.read_bytes()).hexdigest() == civitai_sha256(int(XL_VERSION))


async def test_source_commands_say_what_is_wrong_in_one_line(rig: Rig, rig_deck: Deck) -> None:
    app = DeckApp(rig_deck)
    async with app.run_test(size=SIZE_80x24) as pilot:
        await command(pilot, "hub")
        await command(pilot, "civitai --nsfw d")
        await command(pilot, "civitai --base")
        await pilot.pause()
        said = [str(n.message) for n in app._notifications]
        assert any(m.startswith("usage: :hub QUERY") for m in said)
        assert any("unknown option --nsfw" in m for m in said)
        assert any("--base needs a base model" in m for m in said)
        assert not isinstance(app.screen, SourceBrowser)
        await command(pilot, "hub zzz")
        await wait_until(pilot, lambda: isinstance(app.screen, HubBrowser), what="the Hub browser")
        await wait_until(pilot, lambda: "nothing found" in screen_text(app), what="an empty search said")
        await pilot.press("escape")
        assert not isinstance(app.screen, SourceBrowser)


async def test_a_source_that_fails_says_so_on_its_screen_and_escape_leaves(rig: Rig, rig_deck: Deck) -> None:
    rig.civitai.set_faults("503")
    app = DeckApp(rig_deck)
    async with app.run_test(size=SIZE_80x24) as pilot:
        await command(pilot, "civitai dreamshaper")
        await wait_until(pilot, lambda: "CivitAI failed" in screen_text(app), what="the failure on screen")
        await pilot.press("escape")
        assert not isinstance(app.screen, SourceBrowser)



async def test_hostile_file_names_are_shown_plainly_and_refused_before_any_byte(rig: Rig, rig_deck: Deck) -> None:
    hostile = REPOS[2]
    app = DeckApp(rig_deck)
    async with app.run_test(size=(120, 36)) as pilot:
        await command(pilot, "hub hostile")
        await wait_until(pilot, lambda: isinstance(app.screen, HubBrowser), what="the Hub browser")
        browser = app.screen
        assert isinstance(browser, HubBrowser)
        await open_row(pilot, browser, hostile.id)
        escape = "../../escape-Q4_K_M.gguf"
        await open_row(pilot, browser, escape, items=True)
        await pick_target(pilot, app, "box-llamacpp")
        await wait_until(pilot, lambda: "refusing the file name" in screen_text(app), what="the refusal on screen")
        assert app.screen is browser  # no confirmation: nothing was asked of the Hub
        shown = screen_text(app)
        assert "\x00" not in shown and "\x1b" not in shown
    assert not rig.gguf.exists() and not (rig.gguf.parent / "escape-Q4_K_M.gguf").exists()
