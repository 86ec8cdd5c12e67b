"""`llmdeck` as a real process in a pseudo-terminal: a dropped session (SIGHUP) and ctrl+c both end it cleanly,
the ledger is closed, and the demo removes its temporary data dir."""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from tests.terminal.harness import RealTerminal, real_terminal

CONFIG = """\
providers:
  - {name: local-ollama, kind: ollama, base_url: "http://127.0.0.1:9"}
"""


@contextmanager
def llmdeck(args: Sequence[str], home: Path, **env_extra: str) -> Iterator[RealTerminal]:
    with real_terminal(args, home, columns=100, lines=30, **env_extra) as terminal:
        yield terminal


def test_sighup_ends_the_console_cleanly_and_closes_the_ledger(tmp_path: Path) -> None:
    config = tmp_path / "config.yaml"
    config.write_text(CONFIG, encoding="utf-8")
    with llmdeck(["--config", str(config)], tmp_path) as terminal:
        terminal.wait_for("Provider")
        assert (tmp_path / "data" / "ledger.sqlite3-wal").exists()  # open, in WAL mode
        terminal.process.send_signal(signal.SIGHUP)
        assert terminal.wait_exit() == 0
    assert not (tmp_path / "data" / "ledger.sqlite3-wal").exists()  # closed, not abandoned mid-write


def test_ctrl_c_ends_the_demo_and_it_removes_its_data_dir(tmp_path: Path) -> None:
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    with llmdeck(["--demo"], tmp_path, TMPDIR=str(scratch)) as terminal:
        terminal.wait_for("DEMO")
        terminal.wait_for("12/12 up")
        assert [p.name for p in scratch.iterdir() if p.name.startswith("llmdeck-demo-")]
        os.write(terminal.master, b"\x03")  # ctrl+c
        assert terminal.wait_exit() == 0
    assert not [p for p in scratch.iterdir() if p.name.startswith("llmdeck-demo-")]
    assert not (tmp_path / "data").exists()  # the real data dir was never touched
