"""`llmdeck sessions export --out FILE` honours auto_upload, against the Dropbox emulator on loopback: the written
file goes to each dropbox provider whose auto_upload takes chats, a failed upload is a warning with exit 0, and
no config, a config that cannot be read, or an export to stdout uploads nothing."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from config.paths import data_dir
from providers.adapters.dropbox_upload import local_content_hash
from providers.emulators.dropbox import content_hash
from providers.ledger import Ledger
from tests.cli_in_process import CliRun, run_cli
from tests.conftest import EmulatorFactory

TOKEN = "sl.export-token-0042"
Export = Callable[..., CliRun]


def stored(url: str, path: str) -> bytes | None:
    response = httpx.get(f"{url}/_emulator/dropbox/file", params={"path": path}, timeout=10)
    return response.content if response.status_code == 200 else None


def content_requests(url: str) -> list[dict[str, Any]]:
    entries: list[dict[str, Any]] = httpx.get(f"{url}/_emulator/dropbox/log", timeout=10).json()
    return entries


def write_config(tmp_path: Path, *providers: dict[str, Any]) -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump({"providers": list(providers)}), encoding="utf-8")
    return path


def dropbox(name: str, url: str, auto_upload: str) -> dict[str, Any]:
    return {"name": name, "kind": "dropbox", "base_url": url, "api_key": "env:DROPBOX_TOKEN",
            "upload_folder": "/lab/chats", "auto_upload": auto_upload}


@pytest.fixture
def session() -> str:
    """A kept chat session named `friday`, in the ledger of the test's data dir."""
    with Ledger.open(data_dir() / "ledger.sqlite3") as ledger:
        session_id = ledger.new_session("friday")
        ledger.add_message(session_id, "user", "plans?")
        ledger.add_message(session_id, "assistant", "a walk by the sea")
    return "friday"


@pytest.fixture
def export(capfd: pytest.CaptureFixture[str]) -> Export:
    """`export(*args)`: `llmdeck sessions export ARGS` in-process, with the Dropbox token in the environment."""

    def run(*args: str, token: str = TOKEN) -> CliRun:
        return run_cli(capfd, "sessions", "export", *args, env={"DROPBOX_TOKEN": token})

    return run


def test_export_to_a_file_uploads_it_where_auto_upload_takes_chats(
        emulator: EmulatorFactory, tmp_path: Path, session: str, export: Export) -> None:
    chats, images = emulator("dropbox").url, emulator("dropbox").url
    config = write_config(tmp_path, dropbox("box", chats, "chats"), dropbox("pics", images, "images"))
    out = tmp_path / "out" / "friday.md"
    result = export(session, "--out", str(out), "--config", str(config))
    assert result.returncode == 0, result.stderr
    assert result.stderr.splitlines() == [f"wrote {out}", "uploaded to box:/lab/chats/friday.md"]
    remote = stored(chats, "/lab/chats/friday.md")
    assert remote is not None and content_hash(remote) == local_content_hash(out)
    assert "a walk by the sea" in out.read_text(encoding="utf-8")
    assert content_requests(images) == []  # auto_upload: images takes no chats
    assert TOKEN not in result.stdout + result.stderr


def test_export_to_stdout_uploads_nothing(emulator: EmulatorFactory, tmp_path: Path, session: str,
                                          export: Export) -> None:
    box = emulator("dropbox").url
    result = export(session, "--format", "json", "--config", str(write_config(tmp_path, dropbox("box", box, "both"))))
    assert result.returncode == 0, result.stderr
    assert '"a walk by the sea"' in result.stdout and result.stderr == ""
    assert content_requests(box) == []


def test_without_a_config_the_export_is_written_and_nothing_uploaded(tmp_path: Path, session: str,
                                                                    export: Export) -> None:
    out = tmp_path / "friday.md"
    result = export(session, "--out", str(out))
    assert result.returncode == 0, result.stderr
    assert result.stderr == f"wrote {out}\n"
    assert out.read_text(encoding="utf-8").startswith("# friday")


def test_a_config_that_cannot_be_read_uploads_nothing_but_the_export_is_done(tmp_path: Path, session: str,
                                                                            export: Export) -> None:
    config = tmp_path / "config.yaml"
    config.write_text("providers:\n  - name: box\n    kind: nosuchkind\n", encoding="utf-8")
    out = tmp_path / "friday.md"
    result = export(session, "--out", str(out), "--config", str(config))
    assert result.returncode == 0, result.stderr
    assert result.stderr.splitlines() == [
        f"wrote {out}",
        f"llmdeck: warning: not uploaded: {config} has 1 problem (llmdeck config validate lists them)"]
    assert out.is_file()


def test_a_failed_upload_is_a_warning_and_the_export_stays(emulator: EmulatorFactory, tmp_path: Path,
                                                           session: str, export: Export) -> None:
    box = emulator("dropbox").url
    httpx.post(f"{box}/_emulator/dropbox/state", json={"free_bytes": 10}, timeout=10).raise_for_status()
    out = tmp_path / "friday.md"
    result = export(session, "--out", str(out), "--config", str(write_config(tmp_path, dropbox("box", box, "both"))))
    assert result.returncode == 0, result.stderr
    size = out.stat().st_size
    assert result.stderr.splitlines() == [
        f"wrote {out}",
        f"llmdeck: warning: box: upload failed: the Dropbox account is full: no room for friday.md ({size} bytes) "
        f"(the export stays in {out})"]
    assert stored(box, "/lab/chats/friday.md") is None
