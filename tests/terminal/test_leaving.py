"""A hang-up always ends the console: 20 dropped terminals in a row, in different states (idle, a chat
streaming, a pull running, a dialog open, the command line open), leave no process behind and a sound ledger.
Signals (SIGTERM, SIGINT), Ctrl-C and Ctrl-Q (asking first while a reply streams) end it too, in the real
process on a real pty."""

from __future__ import annotations

import signal
import sqlite3
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path

import pytest

from providers.emulators.lab import Lab
from tests.emulator_control import pulls_held
from tests.terminal.harness import RealTerminal, lab_config_yaml, real_terminal
from tests.waiting import wait_for_condition_sync

VLLM = "box-vllm/meta-llama/Llama-3.1-8B-Instruct"


@pytest.fixture(scope="module")
def stalling_lab(module_lab: Lab) -> Iterator[Lab]:
    """The module's lab where a chat streams and a pull runs until the terminal goes away."""
    module_lab.set_faults("box-vllm", "stall_mid:600")
    with pulls_held(module_lab.servers["local-ollama"]):
        yield module_lab


def idle(terminal: RealTerminal) -> None:
    terminal.wait_for_text("9/9 up")


def chat_streaming(terminal: RealTerminal) -> None:
    terminal.press("colon")
    terminal.type(f"chat {VLLM}")
    terminal.press("enter")
    terminal.wait_for_text("No messages yet")
    terminal.type("hello there")
    terminal.press("enter")
    terminal.wait_for_text("1 stream ")


def pull_running(terminal: RealTerminal) -> None:
    model = f"acme-{id(terminal) % 100000}:1b"  # a name of its own: every console pulls another model
    terminal.press("colon")
    terminal.type(f"pull local-ollama {model}")
    terminal.press("enter")
    terminal.wait_for_text(f"Pull {model}")
    terminal.press("tab", "enter")  # from Cancel to Pull
    terminal.wait_for_text("pulling ")


def dialog_open(terminal: RealTerminal) -> None:
    terminal.press("2")
    terminal.wait_for_text("36 of 36 models")
    terminal.press("slash")
    terminal.type("mistral")
    terminal.press("enter")
    terminal.wait_for_text("1 of 36 models")
    terminal.press("ctrl+d")
    terminal.wait_for_text("Cancel")


def command_line_open(terminal: RealTerminal) -> None:
    terminal.wait_for_text("9/9 up")
    terminal.press("colon")
    terminal.type("chao")


STATES: tuple[Callable[[RealTerminal], None], ...] = (idle, chat_streaming, pull_running, dialog_open,
                                                     command_line_open)


def ledger_is_sound(home: Path) -> None:
    path = home / "data" / "ledger.sqlite3"
    with sqlite3.connect(path) as connection:
        assert connection.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    connection.close()


@pytest.mark.parametrize("batch", range(4))
def test_hang_ups_in_every_state_leave_no_process_behind(stalling_lab: Lab, tmp_path: Path, batch: int) -> None:
    text, env = lab_config_yaml(stalling_lab)
    with ExitStack() as stack:
        terminals: list[tuple[RealTerminal, Path]] = []
        for state in STATES:  # five consoles at once: 4 batches make 20 hang-ups
            home = tmp_path / state.__name__
            home.mkdir()
            (home / "config.yaml").write_text(text, encoding="utf-8")
            terminal = stack.enter_context(real_terminal(["--config", str(home / "config.yaml")], home, **env))
            terminals.append((terminal, home))
        for (terminal, _), state in zip(terminals, STATES, strict=True):
            terminal.wait_for_text("Provider")
            state(terminal)
        for terminal, _ in terminals:
            terminal.hang_up()
        survivors = []
        for (terminal, home), state in zip(terminals, STATES, strict=True):
            try:
                terminal.wait_exit()
            except AssertionError:
                survivors.append(state.__name__)
                continue
            ledger_is_sound(home)
        assert survivors == []


@pytest.mark.parametrize("how", ["SIGTERM", "SIGINT", "ctrl+q", "ctrl+c"])
def test_signals_and_ctrl_q_end_a_streaming_console(stalling_lab: Lab, tmp_path: Path, how: str) -> None:
    """Signals and Ctrl-C never ask; Ctrl-Q asks first (the reply is running), and pressed again it quits."""
    text, env = lab_config_yaml(stalling_lab)
    (tmp_path / "config.yaml").write_text(text, encoding="utf-8")
    with real_terminal(["--config", str(tmp_path / "config.yaml")], tmp_path, columns=120, lines=36,
                       **env) as terminal:
        terminal.wait_for_text("Provider")
        chat_streaming(terminal)
        if how == "ctrl+q":
            terminal.press("ctrl+q")
            terminal.wait_for_text("Quit while a job is running?")
            terminal.wait_for_text(f"chat reply from {VLLM}")
            terminal.press("ctrl+q")
        elif how == "ctrl+c":
            terminal.press("ctrl+c")
        else:
            terminal.process.send_signal(getattr(signal, how))
        terminal.wait_exit()
        assert "Traceback" not in terminal.raw.decode("utf-8", "replace")
    ledger_is_sound(tmp_path)


def test_a_hang_up_ends_the_console_when_another_process_leads_the_session(stalling_lab: Lab, tmp_path: Path) -> None:
    """Run under `make demo`, a wrapper script or a shell that does not pass SIGHUP on, only the session leader
    hears the hang-up; the console must notice its terminal is gone all the same."""
    text, env = lab_config_yaml(stalling_lab)
    config = tmp_path / "config.yaml"
    config.write_text(text, encoding="utf-8")
    wrapper = ["sh", "-c", '"$@"; exit 0', "sh"]  # sh leads the session and dies of SIGHUP, passing nothing on
    with real_terminal(["--config", str(config)], tmp_path, wrapper=wrapper, **env) as terminal:
        terminal.wait_for_text("9/9 up")
        console_pids = [p.name for p in Path("/proc").iterdir() if p.name.isdigit() and _cmdline_has(p, str(config))]
        assert console_pids
        terminal.hang_up()
        wait_for_condition_sync(lambda: not any(Path("/proc", pid).exists() and _cmdline_has(Path("/proc", pid),
                                                                                             str(config))
                                                for pid in console_pids),
                                what="the console to leave with its terminal")
    ledger_is_sound(tmp_path)


def _cmdline_has(proc: Path, needle: str) -> bool:
    try:
        return needle in (proc / "cmdline").read_bytes().decode("utf-8", "replace")
    except OSError:
        return False
