"""`llmdeck` as a real process in a pseudo-terminal: a dropped session (SIGHUP) and ctrl+c both end it cleanly,
the ledger is closed, and the demo removes its temporary data dir."""

from __future__ import annotations

import fcntl
import os
import re
import select
import signal
import struct
import subprocess
import sys
import termios
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from tests.waiting import HANG_S

ROOT = Path(__file__).resolve().parents[2]
ESCAPES = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)|\x1b[PX^_].*?\x1b\\|\x1b[@-Z\\-_]",
                     re.DOTALL)
CONFIG = """\
providers:
  - {name: local-ollama, kind: ollama, base_url: "http://127.0.0.1:9"}
"""


class Terminal:
    """A child process on a pty; `wait_for` reads its screen output until some text shows."""

    def __init__(self, process: subprocess.Popen[bytes], master: int) -> None:
        self.process = process
        self.master = master
        self.seen = ""

    def _read(self, timeout_s: float) -> None:
        ready, _, _ = select.select([self.master], [], [], timeout_s)
        if ready:
            try:
                self.seen += os.read(self.master, 65536).decode("utf-8", "replace")
            except OSError:  # the child closed the terminal
                self.seen += ""

    def wait_for(self, text: str, timeout_s: float = HANG_S) -> None:
        deadline = time.monotonic() + timeout_s
        while text not in ESCAPES.sub("", self.seen):
            if time.monotonic() > deadline or self.process.poll() is not None:
                raise AssertionError(f"{text!r} never showed; screen:\n{ESCAPES.sub('', self.seen)[-1500:]}")
            self._read(0.05)

    def wait_exit(self, timeout_s: float = HANG_S) -> int:
        deadline = time.monotonic() + timeout_s
        while self.process.poll() is None:
            if time.monotonic() > deadline:
                raise AssertionError("llmdeck did not exit")
            self._read(0.05)  # keep draining: a full terminal would block the child
        return self.process.returncode


@contextmanager
def llmdeck(args: Sequence[str], home: Path, **env_extra: str) -> Iterator[Terminal]:
    master, slave = os.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 30, 100, 0, 0))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LLMDECK_", "XDG_"))}
    env.update(HOME=str(home), XDG_CONFIG_HOME=str(home / ".config"), XDG_DATA_HOME=str(home / ".local/share"),
               LLMDECK_DATA_DIR=str(home / "data"), TERM="xterm-256color", PYTHONPATH=str(ROOT),
               PYTHON_KEYRING_BACKEND="keyring.backends.fail.Keyring", **env_extra)
    process = subprocess.Popen([sys.executable, "-m", "console.cli", *args], stdin=slave, stdout=slave,
                               stderr=slave, env=env, cwd=ROOT, start_new_session=True)
    os.close(slave)
    try:
        yield Terminal(process, master)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        os.close(master)


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
        terminal.wait_for("9/9 up")
        assert [p.name for p in scratch.iterdir() if p.name.startswith("llmdeck-demo-")]
        os.write(terminal.master, b"\x03")  # ctrl+c
        assert terminal.wait_exit() == 0
    assert not [p for p in scratch.iterdir() if p.name.startswith("llmdeck-demo-")]
    assert not (tmp_path / "data").exists()  # the real data dir was never touched
