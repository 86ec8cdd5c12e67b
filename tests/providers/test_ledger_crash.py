"""kill -9 while a writer is committing turns: every turn it reported done is there, whole, and the file is sound;
a chat's request row and its turn, written together, are never found one without the other."""

from __future__ import annotations

import os
import select
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from providers.ledger import Ledger
from tests.waiting import HANG_S

REPO = Path(__file__).resolve().parents[2]
# Writers in turn on one file: each killed after (turns reported, then a delay that moves the kill around
# inside the writer's loop — otherwise it would always land just after a report).
KILL_POINTS = ((3, 0.0), (40, 0.0007), (90, 0.0013), (15, 0.0021), (150, 0.0032), (8, 0.0045), (60, 0.006),
               (250, 0.0085))

# Writes turns as fast as it can; reports each turn's ids only after add_turn (its commit) has returned.
WRITER = """
import sys
from providers.ledger import Ledger

ledger = Ledger.open(sys.argv[1])
session = ledger.new_session("crash round " + sys.argv[2])
for n in range(200_000):
    request = ledger.record_request(alias="chat", hop=0, provider="box", model="llama", status="ok",
                                    completion_tokens=n, cost_usd=0.001)
    turn = ledger.add_turn(session, f"question {n} " + "q" * (n % 700), f"answer {n} " + "a" * (n % 1900),
                           served_by="box/llama", meta={"n": n})
    sys.stdout.write(f"{session} {request} {turn.user_id} {turn.answer_id}\\n")
    sys.stdout.flush()
"""

# What the Deck writes when a chat run ends: the request row and the turn in one transaction, linked; every tenth
# turn opens its session (a draft) in that same transaction. Reports the ids once record_chat has returned.
CHAT_WRITER = """
import sys
from providers.ledger import Ledger
from providers.ledger_schema import RequestRow, SessionDraft, TurnRow

ledger = Ledger.open(sys.argv[1])
session = ledger.new_session("chat round " + sys.argv[2])
for n in range(200_000):
    where = SessionDraft(f"draft {sys.argv[2]}.{n}") if n % 10 == 0 else session
    answer = None if n % 7 == 0 else f"answer {n} " + "a" * (n % 1900)  # every seventh failed before any text
    written = ledger.record_chat(RequestRow(provider="box", model="llama", status="ok" if answer else "error",
                                            completion_tokens=n, cost_usd=0.001),
                                 TurnRow(where, f"question {n} " + "q" * (n % 700), answer, served_by="box/llama"))
    sys.stdout.write(f"{written.session_id} {written.request_id} {written.user_id} {written.answer_id or 0}\\n")
    sys.stdout.flush()
"""


@pytest.fixture
def path(tmp_path: Path) -> Iterator[Path]:
    """The ledger the writers share: on the memory-backed /dev/shm where there is one. What a killed process wrote
    stays in the page cache whatever the file system (providers/ledger_schema.connect), so only the time differs:
    on a busy shared disk the fsync of every commit made each round crawl."""
    shm = Path("/dev/shm")
    if not (shm.is_dir() and os.access(shm, os.W_OK)):
        yield tmp_path / "data" / "ledger.sqlite3"
        return
    with tempfile.TemporaryDirectory(dir=shm, prefix="llmdeck-ledger-crash-") as directory:
        yield Path(directory) / "data" / "ledger.sqlite3"


def read_lines(fd: int, wanted: int, deadline: float, pending: bytearray) -> list[str]:
    """Complete lines from a pipe until `wanted` arrived, EOF, or the deadline."""
    lines: list[str] = []
    while len(lines) < wanted and time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], max(0.0, deadline - time.monotonic()))
        if not ready:
            break
        chunk = os.read(fd, 65536)
        if not chunk:
            break
        pending.extend(chunk)
        *complete, rest = pending.split(b"\n")
        lines += [line.decode() for line in complete]
        pending[:] = rest
    return lines


def kill_writer_after(path: Path, round_no: int, turns: int, delay_s: float,
                      script: str = WRITER) -> list[tuple[int, int, int, int]]:
    """Run the writer, SIGKILL it `delay_s` after `turns` turns were reported; return every turn it reported."""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen([sys.executable, "-c", script, str(path), str(round_no)], cwd=REPO, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stdout is not None
    assert proc.stderr is not None
    fd = proc.stdout.fileno()
    pending = bytearray()
    try:
        lines = read_lines(fd, turns, time.monotonic() + HANG_S, pending)
        assert len(lines) >= turns, f"writer stopped early: {proc.stderr.read().decode()[-2000:]}"
        threading.Event().wait(delay_s)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=HANG_S)
        lines += read_lines(fd, 10**9, time.monotonic() + HANG_S, pending)  # whatever it reported before dying
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=HANG_S)
        proc.stdout.close()
        proc.stderr.close()
    assert proc.returncode == -signal.SIGKILL, "the writer must still have been running when killed"
    reported = [tuple(int(part) for part in line.split()) for line in lines]
    return [(s, r, u, a) for s, r, u, a in reported]


def test_kill_9_never_loses_a_reported_turn_nor_leaves_half_a_turn(path: Path) -> None:
    all_reported: list[tuple[int, int, int, int]] = []
    for round_no, (turns, delay_s) in enumerate(KILL_POINTS):
        reported = kill_writer_after(path, round_no, turns, delay_s)
        all_reported += reported
        with Ledger.open(path) as ledger:  # reopening replays the WAL the killed writer left behind
            assert ledger.integrity_check() == "ok"
            assert ledger.journal_mode() == "wal"
            request_ids = {r.id for r in ledger.recent_requests(limit=1_000_000)}
            sessions = {s.id: {m.id: m for m in ledger.messages(s.id)} for s in ledger.list_sessions()}
            for session_id, request_id, user_id, answer_id in all_reported:
                assert request_id in request_ids
                messages = sessions[session_id]
                assert messages[user_id].role == "user"
                assert messages[answer_id].role == "assistant"
                assert messages[answer_id].meta["n"] == int(messages[user_id].content.split()[1])
            for session in ledger.list_sessions():
                roles = [m.role for m in sessions[session.id].values()]
                assert roles == ["user", "assistant"] * (len(roles) // 2), "a turn was half written"
                # At most one turn committed after the last report (killed between commit and print).
                reported_here = sum(1 for s, *_ in all_reported if s == session.id)
                assert reported_here <= len(roles) // 2 <= reported_here + 1


def test_kill_9_never_leaves_a_request_row_without_its_turn_nor_a_turn_without_its_row(path: Path) -> None:
    reported: list[tuple[int, int, int, int]] = []
    for round_no, (turns, delay_s) in enumerate(KILL_POINTS):
        reported += kill_writer_after(path, round_no, turns, delay_s, CHAT_WRITER)
        with Ledger.open(path) as ledger:
            assert ledger.integrity_check() == "ok"
            requests = {r.id: r for r in ledger.recent_requests(limit=1_000_000)}
            messages = {m.id: m for s in ledger.list_sessions() for m in ledger.messages(s.id)}
            drafts = [s for s in ledger.list_sessions() if s.title.startswith("draft ")]
        linked: dict[int, list[str]] = {}
        for message in messages.values():
            assert message.request_id in requests, "a turn without its request row"
            linked.setdefault(message.request_id, []).append(message.role)
        for request in requests.values():
            expected = ["user", "assistant"] if request.status == "ok" else ["user"]
            assert linked.get(request.id) == expected, "a request row without (all of) its turn"
        for session_id, request_id, user_id, answer_id in reported:
            assert messages[user_id].request_id == request_id and messages[user_id].session_id == session_id
            assert answer_id == 0 or messages[answer_id].request_id == request_id
        assert len(drafts) == len({m.session_id for m in messages.values()} & {s.id for s in drafts}), \
            "a draft session opened without its turn"
