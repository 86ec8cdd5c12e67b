"""Health grouped by host with each host's GPUs on its summary row, a host that cannot be reached shown once, the
host's details, and "will it fit?" before a pull or a load — over the lab, with the `nvidia-smi` and `ssh`
stand-ins on PATH (tests/providers/gpu_standins.py) answering in the real CSV format."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from config.schema import HostConfig
from console.app import DeckApp
from console.panes.health import COLUMN_INDEX, HealthPane
from console.panes.models import ModelsPane
from console.screens.confirm import ConfirmDialog
from console.screens.host_details import HostDetailsScreen, host_text
from providers.deck import Deck
from providers.emulators.lab import Lab
from tests.console.pane_harness import PaneApp, wait_until
from tests.console.shell_harness import screen_text, started_deck
from tests.providers.gpu_standins import install_standins, path_with

BOX = ("box-vllm", "box-llamacpp", "box-qdrant")


@pytest.fixture
async def gpu_deck(lab: Lab, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Deck]:
    """The lab with `box` reached over (stand-in) ssh and `this-box` local, both answering with three GPUs."""
    monkeypatch.setenv("PATH", path_with(install_standins(tmp_path / "bin")))
    monkeypatch.setenv("GPU_STANDIN_SSH_DEST", "ops@box")
    hosts = (HostConfig(name="box", ssh="ops@box", gpus="nvidia-smi"), HostConfig(name="this-box", gpus="nvidia-smi"))
    running = await started_deck(lab.config.model_copy(update={"hosts": hosts}), tmp_path / "deck-data")
    await running.read_gpus()
    yield running
    await running.stop()


def host_cell(pane: HealthPane, host: str, column: str) -> str:
    return str(pane.table.cells(f"host:{host}")[COLUMN_INDEX[column]])


async def test_each_host_row_sums_its_gpus_and_details_list_them(gpu_deck: Deck) -> None:
    pane = HealthPane(gpu_deck)
    async with PaneApp(pane, deck=gpu_deck).run_test(size=(160, 40)) as pilot:
        await wait_until(pilot, lambda: "host:box" in pane.table.keys and "up" in host_cell(pane, "box", "status"),
                         what="the box's row")
        # 23028 + 4 + 1057 MiB of 24564 + 81920 + 15360 MiB; utilisation (100 + 0 + 37) / 3.
        assert host_cell(pane, "box", "vram") == "3 GPU 23.5G/119.0G 46%"
        assert host_cell(pane, "this-box", "vram") == "3 GPU 23.5G/119.0G 46%"
        pane.table.move_cursor(row=pane.table.keys.index("host:box"))
        await pilot.press("d")
        await wait_until(pilot, lambda: isinstance(pilot.app.screen, HostDetailsScreen), what="the host details")
        text = host_text(gpu_deck, "box")
        assert "box  (ssh ops@box, GPUs from nvidia-smi)" in text
        assert "GPU 0  NVIDIA GeForce RTX 4090  100% busy  22.5 GiB of 24.0 GiB  83 °C  437 W" in text
        assert "pid 5151  ollama_llama_server" in text
        assert "GPU 1  NVIDIA A100-SXM4-80GB  0% busy" in text and "31 °C  —" in text, "[N/A] power is a dash"
        assert all(f"  {name} (" in text for name in BOX)
        assert "NVIDIA GeForce RTX 4090" in screen_text(pilot.app)


async def test_a_host_whose_providers_are_all_down_and_ssh_fails_is_one_unreachable_row(
        gpu_deck: Deck, lab: Lab, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GPU_STANDIN_SSH_MODE", "refuse")
    for name in BOX:
        await asyncio.to_thread(lab.set_faults, name, "refuse")
    await gpu_deck.read_gpus("box")
    pane = HealthPane(gpu_deck)
    async with PaneApp(pane, deck=gpu_deck).run_test(size=(160, 40)) as pilot:
        for name in BOX:
            gpu_deck.monitor.probe_now(name)
        await wait_until(pilot, lambda: "unreachable" in host_cell(pane, "box", "status"), what="box unreachable")
        assert not set(BOX) & set(pane.table.keys), "its providers are folded into the host's row"
        error = host_cell(pane, "box", "error")
        assert error.startswith("3 providers down: "), error
        assert "ssh" in error.lower() or "255" in error, "the ssh failure is the reason given, once"
        assert "up" in host_cell(pane, "this-box", "status"), "the other host is untouched"


async def test_pull_confirmation_says_whether_it_fits_with_the_arithmetic(gpu_deck: Deck) -> None:
    app = DeckApp(gpu_deck, first_pane="models")
    async with app.run_test(size=(160, 40)) as pilot:
        pane = app.pane("models")
        assert isinstance(pane, ModelsPane)
        await wait_until(pilot, lambda: pane.table.row_count > 0, what="the catalog")
        await pilot.press("colon", *"pull local-ollama llama3.2:1b", "enter")
        await wait_until(pilot, lambda: isinstance(app.screen, ConfirmDialog), what="the pull confirmation")
        text = screen_text(app)
        # local-ollama is on this-box; the A100 has the most free memory: 81920 − 4 MiB.
        assert "Will it fit on this-box? yes:" in text
        assert "GPU 1: 80.0 GiB − 4.0 MiB used = 80.0 GiB free" in text
        await pilot.press("escape")
