"""Local failures as the operator meets them: a data dir that is missing, full, read-only, damaged or from a newer
llmdeck; a reader that closes the pipe; a signal in the middle of a chat. The real `llmdeck` runs as a subprocess
(in a pseudo-terminal for the console); the ledger is opened afterwards and checked row by row."""

from __future__ import annotations

import array
import contextlib
import fcntl
import json
import os
import signal
import sqlite3
import subprocess
import sys
import termios
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import pytest
import yaml

from providers.emulators.ollama_answers import answer_tokens
from providers.emulators.server import EmulatorServer
from providers.emulators.text import Pace
from providers.ledger import Ledger
from tests.console.test_tui_run import llmdeck
from tests.hostile.hostile_server import Request, hostile_server, stream_head
from tests.terminal.harness import RealTerminal
from tests.waiting import HANG_S, wait_for_condition_sync

ROOT = Path(__file__).resolve().parents[2]
Emulators = Callable[..., EmulatorServer]
MODEL = "llama3.2:1b"
PROMPT = "tell me a story"
STALL = "stall_mid:600"
"""After a few chunks the stream stops for longer than any test: only the signal under test can end it."""


def first_words(prompt: str, count: int = 3) -> str:
    """What the Ollama emulator streams before a mid-stream stall: its first `count` tokens."""
    tokens, _ = answer_tokens(f"user: {prompt}", {}, 0)
    return "".join(tokens[:count])


def write_config(directory: Path, url: str) -> Path:
    config = {"providers": [{"name": "lo", "kind": "ollama", "base_url": url}],
              "routes": [{"alias": "chat", "targets": [f"lo/{MODEL}"]}]}
    path = directory / "config.yaml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    return path


def cli_env(home: Path, data: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LLMDECK_", "XDG_"))}
    env.update(HOME=str(home), XDG_CONFIG_HOME=str(home / ".config"), XDG_DATA_HOME=str(home / ".local/share"),
               LLMDECK_DATA_DIR=str(data), PYTHONPATH=str(ROOT),
               PYTHON_KEYRING_BACKEND="keyring.backends.fail.Keyring")
    return env


def run_cli(config: Path, data: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "console.cli", "--config", str(config), *args],
                          capture_output=True, text=True, env=cli_env(config.parent, data), cwd=ROOT,
                          timeout=HANG_S, check=False)


def assert_one_clear_line(result: subprocess.CompletedProcess[str], *words: str) -> None:
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr and "Traceback" not in result.stdout
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("llmdeck: ")
    for word in words:
        assert word in lines[0], lines[0]
    assert "LLMDECK_DATA_DIR" in lines[0] or "upgrade llmdeck" in lines[0]  # and what to do about it


# --- file systems that fail ---------------------------------------------------------------------------------


@contextlib.contextmanager
def small_fs(where: Path, *, size: str = "64k") -> Iterator[Path]:
    """A tiny tmpfs at `where` (needs root and mount(2); skipped where neither is there)."""
    where.mkdir(parents=True, exist_ok=True)
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(where)],
                             capture_output=True, check=False)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.decode(errors='replace').strip()}")
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], capture_output=True, check=False)


def remount_read_only(where: Path) -> None:
    subprocess.run(["mount", "-o", "remount,ro", str(where)], check=True, capture_output=True)


def fill(where: Path) -> None:
    """Write until the file system has no room left."""
    with contextlib.suppress(OSError), (where / "filler").open("wb") as filler:
        while True:
            filler.write(b"\0" * 4096)
            filler.flush()


def make_ledger(data: Path) -> None:
    with Ledger.open(data / "ledger.sqlite3") as ledger:
        ledger.record_request(provider="lo", model=MODEL, status="ok")


# --- the CLI: one line and exit 1 ----------------------------------------------------------------------------


@pytest.fixture
def config(tmp_path: Path, emulator: Emulators) -> Path:
    server = emulator("ollama")
    return write_config(tmp_path, server.url)


def test_data_dir_that_cannot_be_created_is_one_line(config: Path, tmp_path: Path) -> None:
    (tmp_path / "blocker").write_text("a file where the data dir should go", encoding="utf-8")
    result = run_cli(config, tmp_path / "blocker" / "data", "models")
    assert_one_clear_line(result, "is a file, not a directory")


def test_corrupt_ledger_is_one_line(config: Path, tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    (data / "ledger.sqlite3").write_bytes(b"\x8f garbage that is no SQLite file \x00\xff" * 200)
    result = run_cli(config, data, "health")
    assert_one_clear_line(result, "damaged", "move it aside")


def test_ledger_from_a_newer_llmdeck_is_one_line(config: Path, tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    with contextlib.closing(sqlite3.connect(data / "ledger.sqlite3")) as conn:
        conn.execute("PRAGMA user_version = 99")
    result = run_cli(config, data, "chat", f"lo/{MODEL}", PROMPT)
    assert_one_clear_line(result, "schema version 99", "upgrade llmdeck")
    with contextlib.closing(sqlite3.connect(data / "ledger.sqlite3")) as conn:  # left as it was found
        assert conn.execute("PRAGMA user_version").fetchone()[0] == 99


def test_read_only_data_dir_is_one_line(config: Path, tmp_path: Path) -> None:
    with small_fs(tmp_path / "mnt") as mnt:
        remount_read_only(mnt)
        result = run_cli(config, mnt / "data", "health")
    assert_one_clear_line(result, "read-only file system")


def test_read_only_existing_ledger_is_one_line(config: Path, tmp_path: Path) -> None:
    with small_fs(tmp_path / "mnt", size="1m") as mnt:
        make_ledger(mnt / "data")
        remount_read_only(mnt)
        result = run_cli(config, mnt / "data", "models")
    assert_one_clear_line(result, "read-only")


def test_full_disk_at_start_is_one_line(config: Path, tmp_path: Path) -> None:
    with small_fs(tmp_path / "mnt") as mnt:
        fill(mnt)
        result = run_cli(config, mnt / "data", "health")
    assert_one_clear_line(result, "no space left")


def test_disk_that_fills_while_the_ledger_is_open_is_one_line_after_the_answer(config: Path,
                                                                              tmp_path: Path) -> None:
    # Another llmdeck holds the ledger open (its WAL files stay), so this one opens it and only the row's write
    # meets the full disk.
    with small_fs(tmp_path / "mnt", size="1m") as mnt, Ledger.open(mnt / "data" / "ledger.sqlite3") as held:
        held.record_request(provider="lo", model=MODEL, status="ok")
        fill(mnt)
        result = run_cli(config, mnt / "data", "chat", f"lo/{MODEL}", PROMPT, "--max-tokens", "5")
    assert_one_clear_line(result, "no space left")
    assert result.stdout.strip(), "the answer was still shown"


# --- a reader that leaves, and signals ----------------------------------------------------------------------


def ledger_rows(data: Path) -> tuple[list[tuple[object, ...]], list[tuple[object, ...]], str]:
    """Requests (status, provider, model) and messages (role, content, status), read through the Ledger."""
    with Ledger.open(data / "ledger.sqlite3") as ledger:
        requests = [(r.status, r.provider, r.model) for r in reversed(ledger.recent_requests())]
        sessions = ledger.list_sessions()
        messages = [(m.role, m.content, m.status) for s in reversed(sessions) for m in ledger.messages(s.id)]
        return requests, messages, ledger.integrity_check()


def test_chat_into_a_closed_pipe_exits_quietly_and_keeps_the_turn(tmp_path: Path, emulator: Emulators) -> None:
    # Slow enough that the answer is still streaming when the reader leaves, on however loaded a machine.
    server = emulator("ollama", pace=Pace(tokens_per_s=2))
    config = write_config(tmp_path, server.url)
    data = tmp_path / "data"
    process = subprocess.Popen([sys.executable, "-m", "console.cli", "--config", str(config), "chat",
                                f"lo/{MODEL}", PROMPT], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               env=cli_env(tmp_path, data), cwd=ROOT)
    assert process.stdout is not None and process.stderr is not None
    head = process.stdout.read(5)  # `| head -c5`: read five bytes, then go away
    process.stdout.close()
    try:
        process.wait(HANG_S)
    finally:
        process.kill()
    stderr = process.stderr.read().decode()
    process.stderr.close()
    assert head == first_words(PROMPT).encode()[:5]
    assert stderr == ""  # quiet: no traceback, no "Exception ignored" from the last flush
    assert process.returncode == 1  # quiet, but not all was delivered
    requests, messages, integrity = ledger_rows(data)
    assert requests == [("cancelled", "lo", MODEL)]
    assert messages[0] == ("user", PROMPT, "complete")
    role, answer, status = messages[1]
    assert (role, status) == ("assistant", "cancelled") and answer.startswith(head.decode())
    assert integrity == "ok"


@pytest.mark.parametrize("command", [("models",), ("chat", f"lo/{MODEL}", PROMPT, "--json")],
                         ids=["models", "chat-json"])
def test_output_into_a_pipe_closed_from_the_start_is_quiet(config: Path, tmp_path: Path,
                                                            command: tuple[str, ...]) -> None:
    data = tmp_path / "data"
    process = subprocess.Popen([sys.executable, "-m", "console.cli", "--config", str(config), *command],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=cli_env(tmp_path, data), cwd=ROOT)
    assert process.stdout is not None
    process.stdout.close()  # the reader is gone before the first byte is written
    _, stderr = process.communicate(timeout=HANG_S)
    assert stderr.decode() == ""
    assert process.returncode == 1
    if command[0] == "chat":  # the whole answer came; only printing it failed
        requests, messages, _ = ledger_rows(data)
        assert requests == [("ok", "lo", MODEL)]
        assert [(role, status) for role, _, status in messages] == [("user", "complete"), ("assistant", "complete")]


@pytest.mark.parametrize("number", [signal.SIGINT, signal.SIGHUP, signal.SIGTERM], ids=lambda n: n.name)
def test_cli_chat_stopped_by_a_signal_keeps_prompt_and_partial_answer(tmp_path: Path, emulator: Emulators,
                                                                       number: signal.Signals) -> None:
    server = emulator("ollama", faults=STALL)
    config = write_config(tmp_path, server.url)
    data = tmp_path / "data"
    out, err = tmp_path / "stdout", tmp_path / "stderr"
    shown = first_words(PROMPT)
    with out.open("wb") as stdout, err.open("wb") as stderr:
        process = subprocess.Popen([sys.executable, "-m", "console.cli", "--config", str(config), "chat", "chat",
                                    PROMPT], stdout=stdout, stderr=stderr, env=cli_env(tmp_path, data), cwd=ROOT)
        try:
            wait_for_condition_sync(lambda: out.read_text(encoding="utf-8") == shown or process.poll() is not None,
                                    what="the first words of the answer")
            process.send_signal(number)
            process.wait(HANG_S)
        finally:
            process.kill()
    assert process.returncode == 128 + number, err.read_text(encoding="utf-8")
    message = err.read_text(encoding="utf-8")
    assert "Traceback" not in message
    assert message.splitlines() == [f"llmdeck: chat stopped by {number.name}; the prompt and the partial answer "
                                    "are kept in the ledger, marked cancelled"]
    requests, messages, integrity = ledger_rows(data)
    assert requests == [("cancelled", "lo", MODEL)]
    assert messages == [("user", PROMPT, "complete"), ("assistant", shown, "cancelled")]
    assert integrity == "ok"


def test_cli_chat_stuck_on_a_stdout_nobody_reads_still_ends_on_sigterm(tmp_path: Path) -> None:
    line = json.dumps({"model": MODEL, "message": {"role": "assistant", "content": "x" * 8192},
                       "done": False}).encode() + b"\n"

    async def endless(_: Request) -> AsyncIterator[bytes]:
        yield stream_head(content_type="application/x-ndjson")
        while True:  # more than any pipe holds: the reader below never reads
            yield line

    with hostile_server({"POST /api/chat": endless}) as server:
        config = write_config(tmp_path, server.url)
        process = subprocess.Popen([sys.executable, "-m", "console.cli", "--config", str(config), "chat",
                                    f"lo/{MODEL}", PROMPT], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                   env=cli_env(tmp_path, tmp_path / "data"), cwd=ROOT)
        try:
            wait_for_condition_sync(lambda: len(server.seen) == 1, what="the chat request")
            # The pipe fills and the child blocks in write(2); the signal must end it all the same.
            wait_for_condition_sync(lambda: _pipe_full(process), what="a full stdout pipe")
            process.send_signal(signal.SIGTERM)
            assert process.wait(HANG_S) == 128 + signal.SIGTERM
        finally:
            process.kill()
            assert process.stdout is not None
            process.stdout.close()


def _pipe_full(process: subprocess.Popen[bytes]) -> bool:
    """Whether the child's stdout pipe holds as much as it can (FIONREAD on our end)."""
    assert process.stdout is not None
    waiting = array.array("i", [0])
    fcntl.ioctl(process.stdout.fileno(), termios.FIONREAD, waiting)
    return waiting[0] >= 65536


# --- the console ---------------------------------------------------------------------------------------------


def screen(terminal: RealTerminal) -> str:
    return terminal.text()


@pytest.mark.parametrize("damage", ["corrupt", "newer", "blocked"])
def test_console_starts_with_a_banner_when_the_ledger_cannot_be_used(tmp_path: Path, emulator: Emulators,
                                                                     damage: str) -> None:
    server = emulator("ollama")
    config = write_config(tmp_path, server.url)
    data = tmp_path / "data"
    if damage == "blocked":
        data.write_text("a file where the data dir should go", encoding="utf-8")
    else:
        data.mkdir()
        if damage == "corrupt":
            (data / "ledger.sqlite3").write_bytes(b"\x8f garbage \x00\xff" * 500)
        else:
            with contextlib.closing(sqlite3.connect(data / "ledger.sqlite3")) as conn:
                conn.execute("PRAGMA user_version = 99")
    with llmdeck(["--config", str(config)], tmp_path) as terminal:
        terminal.wait_for("History is off")
        terminal.wait_for("1/1 up")  # and the console works: the health pane probes the provider
        terminal.process.send_signal(signal.SIGHUP)
        assert terminal.wait_exit() == 0
    assert "Traceback" not in screen(terminal)


@pytest.mark.parametrize("how", ["ctrl+q", "SIGHUP"])
def test_console_quit_mid_stream_keeps_prompt_and_partial_answer(tmp_path: Path, emulator: Emulators,
                                                                  how: str) -> None:
    server = emulator("ollama", faults=STALL)
    config = write_config(tmp_path, server.url)
    shown = first_words(PROMPT)
    with llmdeck(["--config", str(config)], tmp_path) as terminal:
        terminal.wait_for("1/1 up")
        os.write(terminal.master, b"5")  # the Chat pane; the prompt has the focus
        terminal.wait_for("Message (Enter sends")
        os.write(terminal.master, PROMPT.encode() + b"\r")
        terminal.wait_for(shown)
        if how == "ctrl+q":  # a reply is streaming: the console asks first, and Ctrl-Q again quits
            os.write(terminal.master, b"\x11")
            terminal.wait_for("Quit while a job is running?")
            os.write(terminal.master, b"\x11")
        else:
            terminal.process.send_signal(signal.SIGHUP)
        terminal.wait_exit()
    assert "Traceback" not in screen(terminal)
    requests, messages, integrity = ledger_rows(tmp_path / "data")
    assert [status for status, _, _ in requests] == ["cancelled"]
    assert messages == [("user", PROMPT, "complete"), ("assistant", shown, "cancelled")]
    assert integrity == "ok"


def test_console_says_so_when_the_disk_fills_while_it_runs(tmp_path: Path, emulator: Emulators) -> None:
    server = emulator("ollama")
    config = write_config(tmp_path, server.url)
    # The data dir is the mount itself: the console's ledger lives on a disk about to fill.
    with small_fs(tmp_path / "data", size="1m") as mnt, llmdeck(["--config", str(config)], tmp_path) as terminal:
        terminal.wait_for("1/1 up")
        fill(mnt)
        os.write(terminal.master, b"5")
        terminal.wait_for("Message (Enter sends")
        os.write(terminal.master, PROMPT.encode() + b"\r")
        terminal.wait_for("The ledger could not be written")  # the banner, and the chat still answered
        terminal.wait_for(first_words(PROMPT))
        terminal.process.send_signal(signal.SIGHUP)
        assert terminal.wait_exit() == 0
    assert "Traceback" not in screen(terminal)
