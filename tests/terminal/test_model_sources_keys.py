"""`:hub` in the real console at 80×24, keys only: search, open a repository, Enter on a file, read the
confirmation, download it through the queue. The real `llmdeck` process in a pty, read by pyte; the Hub emulator
serves the files."""

from __future__ import annotations

import hashlib
from pathlib import Path

import yaml

from providers.downloads import part_path
from providers.emulators.hfhub import REPOS, file_sha256
from tests.conftest import EmulatorFactory
from tests.terminal.harness import real_terminal
from tests.waiting import HANG_S

TINY = REPOS[0]
FILE, SIZE = TINY.files[0]


def test_hub_download_by_keys_in_80x24(emulator: EmulatorFactory, tmp_path: Path) -> None:
    hub = emulator("hfhub")
    models_dir = tmp_path / "gguf"
    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump({"providers": [
        {"name": "hf", "kind": "huggingface", "hub_url": hub.url},
        {"name": "box-llamacpp", "kind": "llamacpp", "base_url": "http://127.0.0.1:9", "models_dir": str(models_dir)},
    ]}), encoding="utf-8")
    with real_terminal(["--config", str(config)], tmp_path) as terminal:
        terminal.wait_for_text("box-llamacpp")
        terminal.press(":")
        terminal.type("hub tinystories")
        terminal.press("enter")
        terminal.wait_for_text(TINY.id)  # whole at 80 columns: the name is what the operator picks by
        terminal.press("enter")
        terminal.wait_for_text(FILE)  # the GGUF files first, the cursor on the first
        terminal.press("enter")
        terminal.wait_for_text("Cancel")
        screen = terminal.text()  # the exact call (wrapped at 80 columns), the size beside the free space
        assert "GET" in screen and "(sha256" in screen and "free on" in screen and "Download" in screen
        terminal.press("right", "enter")
        landed = models_dir / FILE
        terminal.wait_until(lambda _: landed.exists(), what="the file under its name", timeout_s=HANG_S)
        terminal.wait_for_text("Pulls and downloads")
        terminal.wait_for_text("done")
        assert "hub:" in terminal.text()
    assert hashlib.sha256(landed.read_bytes()).hexdigest() == file_sha256(TINY.id, FILE, SIZE)
    assert not part_path(landed).exists()
