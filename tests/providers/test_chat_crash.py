"""kill -9 in the middle of a streamed chat never loses a completed turn, and the ledger stays consistent."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

from providers.emulators.text import Pace
from providers.ledger import Ledger
from tests.conftest import EmulatorFactory
from tests.waiting import HANG_S

ROOT = Path(__file__).resolve().parents[2]


def test_sigkill_mid_stream_keeps_every_completed_turn(emulator: EmulatorFactory, tmp_path: Path) -> None:
    server = emulator("ollama", pace=Pace(ttft_s=0.01, tokens_per_s=200))
    data_dir = tmp_path / "data"
    child = subprocess.Popen(
        [sys.executable, "-m", "tests.providers.chat_crash_child", server.url, str(data_dir)],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    completed: dict[int, int] = {}
    assert child.stdout is not None
    try:
        for line in child.stdout:  # bounded: the child chats at most 50 turns
            kind, _, rest = line.strip().partition(" ")
            if kind == "turn":
                answer_id, length = rest.split()
                completed[int(answer_id)] = int(length)
            elif kind == "chunk" and len(completed) >= 3 and int(rest) == len(completed):
                child.send_signal(signal.SIGKILL)  # mid-stream of the next turn
                break
    finally:
        child.kill()
        child.wait(timeout=HANG_S)
    assert child.returncode == -signal.SIGKILL, child.stderr.read() if child.stderr else ""
    assert len(completed) >= 3
    with Ledger.open(data_dir / "ledger.sqlite3") as ledger:
        assert ledger.integrity_check() == "ok"
        sessions = ledger.list_sessions()
        assert len(sessions) == 1
        messages = ledger.messages(sessions[0].id)
        by_id = {m.id: m for m in messages}
        for answer_id, length in completed.items():
            assert answer_id in by_id
            assert len(by_id[answer_id].content) == length
            assert by_id[answer_id].status == "complete"
        # Every stored answer has its question: no half-written turn.
        roles = [m.role for m in messages]
        assert roles == ["user", "assistant"] * (len(roles) // 2)
        # Each turn is linked to its request row, and there is no row without its turn (written together).
        requests = {r.id for r in ledger.recent_requests(100)}
        assert len(requests) >= len(completed)
        assert [m.request_id for m in messages] == [r for r in sorted(requests) for _ in range(2)]
