"""The real `llmdeck` process in a pseudo-terminal of a given size, its screen read by a terminal emulator
(pyte) the way the operator sees it: keys go in as bytes, the screen comes back as lines of text."""

from __future__ import annotations

import contextlib
import fcntl
import os
import select
import signal
import struct
import subprocess
import sys
import termios
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import pyte
import pytest
import yaml

from providers.emulators.lab import LAB_ROUTES, Lab
from tests.waiting import HANG_S

ROOT = Path(__file__).resolve().parents[2]
CONSOLE_SIZES = [pytest.param((80, 24), id="80x24"), pytest.param((160, 48), id="160x48")]
"""The terminal sizes the console is checked at: the smallest it supports, and a roomy one."""

KEYS: dict[str, bytes] = {
    "enter": b"\r", "tab": b"\t", "shift+tab": b"\x1b[Z", "escape": b"\x1b", "backspace": b"\x7f",
    "up": b"\x1b[A", "down": b"\x1b[B", "right": b"\x1b[C", "left": b"\x1b[D", "home": b"\x1b[H", "end": b"\x1b[F",
    "colon": b":", "slash": b"/", "question_mark": b"?", "space": b" ",
    **{f"ctrl+{c}": bytes([ord(c) - 96]) for c in "abcdefghijklmnopqrstuvwxyz"},
}


def _become_controlling_terminal() -> None:
    """In the child, after setsid: take the pty as the controlling terminal, as sshd and tmux do, so that a
    hang-up of the terminal reaches the process as SIGHUP."""
    fcntl.ioctl(0, termios.TIOCSCTTY, 0)


class RealTerminal:
    """One console process and the screen it drew."""

    def __init__(self, process: subprocess.Popen[bytes], master: int, columns: int, lines: int) -> None:
        self.process = process
        self.master: int | None = master
        self.screen = pyte.Screen(columns, lines)
        self.stream = pyte.ByteStream(self.screen)
        self.raw = bytearray()
        """Every byte the process wrote to the terminal."""

    def pump(self, timeout_s: float = 0.05) -> None:
        """Read what the process wrote (waiting at most `timeout_s` for the first byte) into the screen."""
        if self.master is None:
            return
        ready, _, _ = select.select([self.master], [], [], timeout_s)
        while ready:
            try:
                data = os.read(self.master, 65536)
            except OSError:  # the process closed its side of the terminal
                return
            if not data:
                return
            self.raw.extend(data)
            self.stream.feed(data)
            ready, _, _ = select.select([self.master], [], [], 0)

    def text(self) -> str:
        return "\n".join(self.screen.display)

    def look(self) -> tuple[tuple[tuple[str, str, str, bool], ...], ...]:
        """The screen with its colours: what changes when only a highlight moves."""
        return tuple(tuple((cell.data, cell.fg, cell.bg, cell.reverse) for cell in (row[x] for x in range(
            self.screen.columns))) for row in (self.screen.buffer[y] for y in range(self.screen.lines)))

    def line_with(self, needle: str) -> str:
        return next((line for line in self.screen.display if needle in line), "")

    def wait_until(self, condition: Callable[[RealTerminal], object], *, what: str,
                   timeout_s: float = HANG_S) -> None:
        deadline = time.monotonic() + timeout_s
        while not condition(self):
            if self.process.poll() is not None:
                self.pump(0)
                raise AssertionError(f"llmdeck exited ({self.process.returncode}) before {what}:\n{self.text()}")
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out after {timeout_s:.0f} s waiting for {what}; screen:\n{self.text()}")
            self.pump()

    def wait_for_text(self, text: str, *, timeout_s: float = HANG_S) -> None:
        self.wait_until(lambda t: text in t.text(), what=repr(text), timeout_s=timeout_s)

    wait_for = wait_for_text

    def wait_gone(self, text: str, *, timeout_s: float = HANG_S) -> None:
        """Wait until `text` is no longer on screen (a dialog closed): keys sent right after Esc would otherwise
        arrive as one Alt+key sequence."""
        self.wait_until(lambda t: text not in t.text(), what=f"{text!r} to go", timeout_s=timeout_s)

    def write(self, data: bytes) -> None:
        assert self.master is not None
        os.write(self.master, data)

    def press(self, *keys: str) -> None:
        """Named keys (`enter`, `ctrl+q`, `down`) or single characters, one write each, as a person types."""
        for key in keys:
            self.write(KEYS.get(key, key.encode()))
            self.pump(0.02)

    def type(self, text: str) -> None:
        for char in text:
            self.press(char)

    def hang_up(self) -> None:
        """Close the terminal's master side, as a dropped SSH connection or `tmux kill-session` does."""
        if self.master is not None:
            os.close(self.master)
            self.master = None

    def wait_exit(self, timeout_s: float = HANG_S) -> int:
        deadline = time.monotonic() + timeout_s
        while self.process.poll() is None:
            if time.monotonic() > deadline:
                raise AssertionError(f"llmdeck did not exit within {timeout_s:.0f} s")
            if self.master is None:  # hung up: nothing to drain, so wait on the process (pump would return at once)
                with contextlib.suppress(subprocess.TimeoutExpired):
                    self.process.wait(timeout=0.05)
            else:
                self.pump(0.05)  # keep draining: a full terminal would block the child
        return self.process.returncode


@contextmanager
def real_terminal(args: Sequence[str], home: Path, *, columns: int = 80, lines: int = 24,
                  wrapper: Sequence[str] = (), **env_extra: str) -> Iterator[RealTerminal]:
    """Start `llmdeck ARGS` with HOME and the data dir under `home`, in a `columns`×`lines` terminal."""
    master, slave = os.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", lines, columns, 0, 0))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LLMDECK_", "XDG_", "TMUX", "SSH_"))}
    env.update(HOME=str(home), XDG_CONFIG_HOME=str(home / ".config"), XDG_DATA_HOME=str(home / ".local/share"),
               LLMDECK_DATA_DIR=str(home / "data"), TERM="xterm-256color", COLORTERM="", PYTHONPATH=str(ROOT),
               PYTHON_KEYRING_BACKEND="keyring.backends.fail.Keyring",
               # the size the pty has: Textual asks shutil, which believes COLUMNS/LINES before the terminal
               COLUMNS=str(columns), LINES=str(lines), **env_extra)
    process = subprocess.Popen([*wrapper, sys.executable, "-m", "console.cli", *args], stdin=slave, stdout=slave,
                               stderr=slave, env=env, cwd=ROOT, start_new_session=True,
                               preexec_fn=_become_controlling_terminal)
    os.close(slave)
    terminal = RealTerminal(process, master, columns, lines)
    try:
        yield terminal
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGKILL)
            process.wait()
        if terminal.master is not None:
            os.close(terminal.master)


def lab_config_yaml(lab: Lab) -> tuple[str, dict[str, str]]:
    """The lab's config as a file the real process reads, keys as `env:` references (a child process has no
    access to the test's throw-away keyring), and the environment that holds them."""
    env: dict[str, str] = {}
    providers = []
    for provider in lab.config.providers:
        entry = {"name": provider.name, "kind": provider.kind, "base_url": provider.base_url, "timeout_s": 20}
        if provider.host:
            entry["host"] = provider.host
        if provider.api_key is not None:
            variable = "LLMDECK_TEST_KEY_" + provider.name.upper().replace("-", "_")
            key_name = str(provider.api_key).removeprefix("keyring:")
            env[variable] = lab.keys[key_name]
            entry["api_key"] = f"env:{variable}"
        providers.append(entry)
    config = {"providers": providers, "routes": [dict(route) for route in LAB_ROUTES]}
    return yaml.safe_dump(config, sort_keys=False), env


@contextmanager
def lab_console(lab: Lab, home: Path, *, columns: int = 80, lines: int = 24,
                extra_yaml: str = "") -> Iterator[RealTerminal]:
    """The real console over an emulator lab of the test process, its config written under `home`."""
    text, env = lab_config_yaml(lab)
    (home / "config.yaml").write_text(text + extra_yaml, encoding="utf-8")
    with real_terminal(["--config", str(home / "config.yaml")], home, columns=columns, lines=lines,
                       **env) as terminal:
        yield terminal
