"""`llmdeck upload` as an operator runs it, against the Dropbox emulator on loopback. What a run prints and sends
is checked in-process (tests/cli_in_process.py); whether the token ever shows is checked on real subprocesses, where
no earlier in-process run can have left it registered as a secret to hide."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from providers.adapters.dropbox_upload import local_content_hash
from tests.cli_in_process import CliRun, run_cli
from tests.conftest import EmulatorFactory

LLMDECK = [sys.executable, "-m", "console.cli"]
ROOT = Path(__file__).resolve().parents[2]
TOKEN = "sl.cli-token-0042"


def write_config(tmp_path: Path, dropbox_url: str) -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump({"providers": [
        {"name": "box", "kind": "dropbox", "base_url": dropbox_url, "api_key": "env:DROPBOX_TOKEN",
         "upload_folder": "/lab"},
        {"name": "local", "kind": "ollama", "base_url": "http://127.0.0.1:9"}]}), encoding="utf-8")
    return path


def upload(config: Path, *args: str, token: str = TOKEN) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "LLMDECK_CONFIG": str(config), "DROPBOX_TOKEN": token}
    return subprocess.run([*LLMDECK, "upload", *args], capture_output=True, text=True, env=env, cwd=ROOT,
                          timeout=120, check=False)


InProcess = Callable[..., CliRun]


@pytest.fixture
def in_process(capfd: pytest.CaptureFixture[str]) -> InProcess:
    """`upload` without the subprocess: `in_process(config, *args)`, with the token in the environment."""

    def upload_in_process(config: Path, *args: str) -> CliRun:
        return run_cli(capfd, "upload", *args, env={"LLMDECK_CONFIG": str(config), "DROPBOX_TOKEN": TOKEN})

    return upload_in_process


def stored(url: str, path: str) -> bytes | None:
    response = httpx.get(f"{url}/_emulator/dropbox/file", params={"path": path}, timeout=10)
    return response.content if response.status_code == 200 else None


@pytest.fixture
def image(tmp_path: Path) -> tuple[Path, Path]:
    png, sidecar = tmp_path / "cube.png", tmp_path / "cube.json"
    png.write_bytes(b"\x89PNG\r\n\x1a\n" + os.urandom(300))
    sidecar.write_text(json.dumps({"prompt": "a red cube", "seed": 7}), encoding="utf-8")
    return png, sidecar


def test_a_png_goes_up_with_its_sidecar_and_json_says_where(emulator: EmulatorFactory, tmp_path: Path,
                                                            image: tuple[Path, Path]) -> None:
    url = emulator("dropbox").url
    png, sidecar = image
    notes = tmp_path / "notes.md"
    notes.write_text("# plans\n", encoding="utf-8")
    result = upload(write_config(tmp_path, url), "box", str(png), str(notes), "--json")
    assert result.returncode == 0, result.stderr
    rows: list[dict[str, Any]] = json.loads(result.stdout)
    assert [(Path(r["file"]).name, r["path"], r["size"]) for r in rows] == [
        ("cube.png", "/lab/cube.png", png.stat().st_size), ("cube.json", "/lab/cube.json", sidecar.stat().st_size),
        ("notes.md", "/lab/notes.md", 8)]
    assert [r["content_hash"] for r in rows] == [local_content_hash(p) for p in (png, sidecar, notes)]
    assert (stored(url, "/lab/cube.png"), stored(url, "/lab/cube.json")) == (png.read_bytes(), sidecar.read_bytes())
    assert TOKEN not in result.stdout + result.stderr


def test_at_a_pipe_each_file_is_one_tab_separated_line(emulator: EmulatorFactory, tmp_path: Path,
                                                       image: tuple[Path, Path], in_process: InProcess) -> None:
    url = emulator("dropbox").url
    png, _ = image
    result = in_process(write_config(tmp_path, url), "box", str(png))
    assert result.returncode == 0, result.stderr
    lines = [line.split("\t") for line in result.stdout.splitlines()]
    assert lines[0] == ["file", "dropbox path", "size", "content hash"]
    assert [(cells[1], cells[3]) for cells in lines[1:]] == [
        ("/lab/cube.png", local_content_hash(png)), ("/lab/cube.json", local_content_hash(png.with_suffix(".json")))]


def test_a_full_account_fails_with_one_line_and_the_files_stay(emulator: EmulatorFactory, tmp_path: Path,
                                                               image: tuple[Path, Path], in_process: InProcess) -> None:
    url = emulator("dropbox").url
    httpx.post(f"{url}/_emulator/dropbox/state", json={"free_bytes": 10}, timeout=10).raise_for_status()
    png, sidecar = image
    before = (png.read_bytes(), sidecar.read_bytes())
    result = in_process(write_config(tmp_path, url), "box", str(png), "--json")
    assert result.returncode == 1
    assert result.stderr == (f"llmdeck: box: the Dropbox account is full: no room for cube.png "
                             f"({png.stat().st_size} bytes)\n")
    assert json.loads(result.stdout) == []
    assert (png.read_bytes(), sidecar.read_bytes()) == before and stored(url, "/lab/cube.png") is None


def test_a_refused_token_fails_with_one_line_that_never_shows_it(emulator: EmulatorFactory, tmp_path: Path,
                                                                 image: tuple[Path, Path]) -> None:
    url = emulator("dropbox").url
    result = upload(write_config(tmp_path, url), "box", str(image[0]), token="revoked-sl-token-99")
    assert result.returncode == 1 and result.stdout == ""
    assert result.stderr == ("llmdeck: box: HTTP 401: Dropbox refused the access token (invalid_access_token): "
                             "configure refresh_token and app_key to renew it, or store a new access token\n")


def test_usage_errors_exit_2_before_anything_is_sent(emulator: EmulatorFactory, tmp_path: Path,
                                                     image: tuple[Path, Path], in_process: InProcess) -> None:
    url = emulator("dropbox").url
    config = write_config(tmp_path, url)
    not_dropbox = in_process(config, "local", str(image[0]))
    assert (not_dropbox.returncode, not_dropbox.stderr) == (
        2, "llmdeck: local (kind ollama) is not a dropbox provider\n")
    unknown = in_process(config, "bx", str(image[0]))
    assert (unknown.returncode, unknown.stderr) == (2, "llmdeck: unknown provider 'bx'; dropbox providers: box\n")
    missing = in_process(config, "box", str(image[0]), str(tmp_path / "gone.png"))
    assert (missing.returncode, missing.stderr) == (2, f"llmdeck: {tmp_path / 'gone.png'}: no such file\n")
    assert httpx.get(f"{url}/_emulator/dropbox/log", timeout=10).json() == []
