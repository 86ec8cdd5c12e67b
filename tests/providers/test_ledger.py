"""The SQLite ledger: migrations, WAL, sessions and turns, spend sums, requests, images, Markdown export."""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from providers.ledger import Ledger, LedgerError, UnknownSessionError
from providers.ledger_schema import MIGRATIONS, SCHEMA_VERSION, RequestRow, TurnRow, migrate
from providers.sessions import load_session
from providers.turns import TurnSummary

T0 = datetime(2025, 3, 1, 12, 0, tzinfo=UTC).timestamp()


@pytest.fixture
def ledger(tmp_path: Path) -> Iterator[Ledger]:
    opened = Ledger.open(tmp_path / "data" / "ledger.sqlite3", clock=lambda: T0, tz=UTC)
    yield opened
    opened.close()


def tables_and_indexes(path: Path) -> set[str]:
    with sqlite3.connect(path) as db:
        return {row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type IN ('table', 'index')")}


def test_open_creates_the_directory_and_the_current_schema(tmp_path: Path) -> None:
    path = tmp_path / "nested" / "dir" / "ledger.sqlite3"
    with Ledger.open(path) as ledger:
        assert ledger.schema_version == SCHEMA_VERSION == len(MIGRATIONS)
        assert ledger.journal_mode() == "wal"
        assert ledger.integrity_check() == "ok"
    assert {"requests", "sessions", "messages", "images", "requests_by_provider_ts"} <= tables_and_indexes(path)


def test_durable_pragmas_are_set(ledger: Ledger) -> None:
    assert ledger._read("PRAGMA synchronous")[0][0] == 2  # FULL
    assert ledger._read("PRAGMA foreign_keys")[0][0] == 1


def test_a_version_1_file_is_migrated_keeping_its_rows(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite3"
    db = sqlite3.connect(path, isolation_level=None)
    assert migrate(db, MIGRATIONS[:1]) == 1
    db.execute("INSERT INTO sessions (title, created, updated) VALUES ('kept', 1, 1)")
    db.execute("INSERT INTO requests (ts, provider, model, cost_usd, status) VALUES (?, 'claude', 'x', 0.5, 'ok')",
               (T0,))
    db.close()
    assert "requests_by_provider_ts" not in tables_and_indexes(path)
    with Ledger.open(path, clock=lambda: T0) as ledger:
        assert ledger.schema_version == SCHEMA_VERSION
        assert [s.title for s in ledger.list_sessions()] == ["kept"]
        assert ledger.spend_since("claude", T0 - 1) == 0.5
    assert "requests_by_provider_ts" in tables_and_indexes(path)


def test_a_version_2_file_gains_usage_estimated_and_its_rows_read_as_reported(tmp_path: Path) -> None:
    path = tmp_path / "v2.sqlite3"
    db = sqlite3.connect(path, isolation_level=None)
    assert migrate(db, MIGRATIONS[:2]) == 2
    db.execute("INSERT INTO requests (ts, provider, model, prompt_tokens, completion_tokens, status)"
                " VALUES (?, 'box', 'llama', 9, 21, 'ok')", (T0,))
    db.close()
    with Ledger.open(path, clock=lambda: T0) as ledger:
        assert ledger.schema_version == SCHEMA_VERSION
        [old] = ledger.recent_requests()
        assert (old.prompt_tokens, old.completion_tokens, old.usage_estimated) == (9, 21, False)


def test_a_version_3_file_gains_request_links_and_its_old_turns_read_from_their_meta(tmp_path: Path) -> None:
    path = tmp_path / "v3.sqlite3"
    db = sqlite3.connect(path, isolation_level=None)
    assert migrate(db, MIGRATIONS[:3]) == 3
    db.execute("INSERT INTO sessions (title, created, updated) VALUES ('old chat', ?, ?)", (T0, T0))
    db.execute("INSERT INTO messages (session_id, role, content, created) VALUES (1, 'user', 'q', ?)", (T0,))
    meta = {"status": "cut", "served_by": "box/m", "fallbacks": ["a/b server_error"], "ttft_ms": 120.0,
            "tokens_per_s": 45.0, "prompt_tokens": 12, "completion_tokens": 87, "cost_usd": 0.0012,
            "reason": "it broke", "usage_estimated": True}  # as llmdeck wrote an answer's meta before schema 4
    db.execute("INSERT INTO messages (session_id, role, content, created, status, served_by, meta)"
               " VALUES (1, 'assistant', 'partial', ?, 'cut', 'box/m', ?)", (T0, json.dumps(meta)))
    db.close()
    with Ledger.open(path, clock=lambda: T0) as ledger:
        assert ledger.schema_version == SCHEMA_VERSION == 4
        assert [m.request_id for m in ledger.messages(1)] == [None, None]
        loaded = load_session(ledger, 1)
        later = ledger.record_chat(RequestRow("box", "m", "ok", completion_tokens=3), TurnRow(1, "again", "more"))
        assert [m.request_id for m in ledger.messages(1)][2:] == [later.request_id] * 2
    assert loaded.transcript[1].summary == TurnSummary("cut", "box/m", ("a/b server_error",), 120.0, 45.0, 12, 87,
                                                       0.0012, "it broke", True)
    assert [m.content for m in loaded.history] == ["q", "partial"]


def test_a_request_with_counted_usage_is_marked_estimated(ledger: Ledger) -> None:
    ledger.record_request(provider="pyllama", model="tiny", status="ok", prompt_tokens=5, completion_tokens=7,
                          usage_estimated=True)
    ledger.record_request(provider="box", model="llama", status="ok", prompt_tokens=5, completion_tokens=7)
    reported, counted = ledger.recent_requests()
    assert (counted.usage_estimated, counted.prompt_tokens, counted.completion_tokens) == (True, 5, 7)
    assert reported.usage_estimated is False
    assert ledger._read("SELECT usage_estimated FROM requests ORDER BY id")[0][0] == 1


def test_a_file_from_a_newer_llmdeck_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "future.sqlite3"
    with sqlite3.connect(path) as db:
        db.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    with pytest.raises(LedgerError, match="schema version"):
        Ledger.open(path)


def test_sessions_crud(ledger: Ledger) -> None:
    first = ledger.new_session("First", target="chat", system_prompt="Be brief.", params={"temperature": 0.2})
    second = ledger.new_session("Second")
    assert ledger.session(first).params == {"temperature": 0.2}
    ledger.rename_session(first, "Renamed")
    ledger.update_session(second, target="box2-vllm/llama", system_prompt=None, params={"max_tokens": 64})
    listed = {s.id: s for s in ledger.list_sessions()}
    assert listed[first].title == "Renamed"
    assert (listed[second].target, listed[second].params) == ("box2-vllm/llama", {"max_tokens": 64})
    with pytest.raises(UnknownSessionError):
        ledger.rename_session(999, "nobody")
    with pytest.raises(UnknownSessionError):
        ledger.session(999)


def test_sessions_are_listed_most_recently_active_first(tmp_path: Path) -> None:
    clock = [T0]
    with Ledger.open(tmp_path / "l.sqlite3", clock=lambda: clock[0]) as ledger:
        older = ledger.new_session("older")
        clock[0] += 10
        newer = ledger.new_session("newer")
        assert [s.id for s in ledger.list_sessions()] == [newer, older]
        clock[0] += 10
        ledger.add_turn(older, "hi", "hello")
        assert [s.id for s in ledger.list_sessions()] == [older, newer]
        assert [s.id for s in ledger.list_sessions(limit=1)] == [older]


def test_deleting_a_session_deletes_its_messages(ledger: Ledger) -> None:
    doomed = ledger.new_session("doomed")
    kept = ledger.new_session("kept")
    ledger.add_turn(doomed, "q", "a")
    ledger.add_turn(kept, "q2", "a2")
    ledger.delete_session(doomed)
    assert [s.id for s in ledger.list_sessions()] == [kept]
    assert ledger.messages(doomed) == []
    assert ledger._read("SELECT COUNT(*) FROM messages")[0][0] == 2


def test_a_turn_writes_question_and_answer_together(ledger: Ledger) -> None:
    session = ledger.new_session("t")
    turn = ledger.add_turn(session, "What is 2+2?", "4", served_by="box2-vllm/llama", meta={"ttft_ms": 80})
    cut = ledger.add_turn(session, "Tell me a story", "Once upon", status="cut", served_by="claude/sonnet")
    messages = ledger.messages(session)
    assert [(m.id, m.role, m.content, m.status) for m in messages] == [
        (turn.user_id, "user", "What is 2+2?", "complete"),
        (turn.answer_id, "assistant", "4", "complete"),
        (cut.user_id, "user", "Tell me a story", "complete"),
        (cut.answer_id, "assistant", "Once upon", "cut"),
    ]
    assert messages[1].served_by == "box2-vllm/llama"
    assert messages[1].meta == {"ttft_ms": 80}


def test_a_turn_for_a_missing_session_writes_nothing(ledger: Ledger) -> None:
    with pytest.raises(UnknownSessionError):
        ledger.add_turn(12345, "q", "a")
    assert ledger._read("SELECT COUNT(*) FROM messages")[0][0] == 0


def test_add_message_keeps_status_and_role(ledger: Ledger) -> None:
    session = ledger.new_session("m")
    ledger.add_message(session, "system", "You are terse.")
    ledger.add_message(session, "user", "hello")
    ledger.add_message(session, "assistant", "", status="cancelled")
    assert [(m.role, m.status) for m in ledger.messages(session)] == [
        ("system", "complete"), ("user", "complete"), ("assistant", "cancelled")]
    with pytest.raises(sqlite3.IntegrityError):
        ledger.add_message(session, "robot", "x")  # type: ignore[arg-type]


def test_spend_sums_per_provider_and_since_a_time(tmp_path: Path) -> None:
    midnight = datetime(2025, 3, 1, tzinfo=UTC).timestamp()
    with Ledger.open(tmp_path / "l.sqlite3", clock=lambda: midnight + 3600, tz=UTC) as ledger:
        ledger.record_request(provider="claude", model="sonnet", status="ok", cost_usd=1.25, ts=midnight - 60)
        ledger.record_request(provider="claude", model="sonnet", status="ok", cost_usd=0.5, ts=midnight + 60)
        ledger.record_request(provider="claude", model="sonnet", status="cut", cost_usd=0.25, ts=midnight + 120)
        ledger.record_request(provider="openai", model="gpt-4o-mini", status="ok", cost_usd=0.1, ts=midnight + 5)
        ledger.record_request(provider=None, model=None, status="error", error_kind="bad_request")
        assert ledger.spend_since("claude", midnight) == pytest.approx(0.75)
        assert ledger.spend_since("claude", 0) == pytest.approx(2.0)
        assert ledger.spend_since(None, midnight) == pytest.approx(0.85)
        assert ledger.spend_since("nobody", 0) == 0.0
        assert ledger.spend_today_by_provider() == {"claude": pytest.approx(0.75), "openai": pytest.approx(0.1)}


def test_request_rows_read_back_newest_first_without_secrets(ledger: Ledger) -> None:
    first = ledger.record_request(alias="chat", hop=0, provider="box", model="llama", status="error",
                                  error_kind="auth_failed",
                                  error_message="401 with header x-api-key: sk-live-abcdef123456")
    second = ledger.record_request(alias="chat", hop=1, provider="claude", model="sonnet", status="ok",
                                   prompt_tokens=12, completion_tokens=34, cost_usd=0.01, ttft_ms=80.0,
                                   latency_ms=900.0)
    rows = ledger.recent_requests(limit=10)
    assert [r.id for r in rows] == [second, first]
    assert (rows[0].hop, rows[0].prompt_tokens, rows[0].completion_tokens, rows[0].ttft_ms) == (1, 12, 34, 80.0)
    assert rows[1].error_kind == "auth_failed"
    assert rows[1].error_message is not None
    assert "sk-live-abcdef123456" not in rows[1].error_message
    assert len(ledger.recent_requests(limit=1)) == 1


def test_image_jobs_are_recorded(ledger: Ledger) -> None:
    image_id = ledger.record_image(provider="sd", model="sdxl", prompt="a red fox", params={"steps": 20},
                                   path="/data/images/1.png", ms=4200.0)
    [image] = ledger.recent_images()
    assert (image.id, image.provider, image.model, image.prompt) == (image_id, "sd", "sdxl", "a red fox")
    assert (image.params, image.path, image.ms) == ({"steps": 20}, "/data/images/1.png", 4200.0)


def test_markdown_export_marks_cut_answers(ledger: Ledger) -> None:
    session = ledger.new_session("Fox facts", target="chat", system_prompt="Answer in one line.")
    ledger.add_turn(session, "What colour is a fox?", "Usually red.", served_by="box2-vllm/llama")
    ledger.add_turn(session, "And in winter?", "Arctic foxes turn", status="cut", served_by="claude/sonnet")
    text = ledger.session_markdown(session)
    assert text.startswith("# Fox facts\n")
    assert "target `chat`" in text
    assert "## System prompt\n\nAnswer in one line." in text
    assert "## You\n\nWhat colour is a fox?" in text
    assert "## Assistant · box2-vllm/llama\n\nUsually red." in text
    cut_at = text.index("Arctic foxes turn")
    assert "answer cut" in text[cut_at:]
    assert text.count("answer cut") == 1


def test_concurrent_writers_from_threads_are_serialised(ledger: Ledger) -> None:
    session = ledger.new_session("threads")

    def write_turns() -> None:
        for n in range(25):
            ledger.add_turn(session, f"q{n}", f"a{n}")

    workers = [threading.Thread(target=write_turns) for _ in range(4)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=30)
    roles = [m.role for m in ledger.messages(session)]
    assert len(roles) == 200
    assert roles == ["user", "assistant"] * 100  # no turn interleaved with another
