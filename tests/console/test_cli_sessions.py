"""`llmdeck chat --session/--new` and `llmdeck sessions list/show/export` against a loopback Ollama-shaped server
that remembers every request it was sent. Exit codes and what hostile text leaves on the pipes are checked on real
subprocesses; the chats that make sessions, and commands read for what they print, run in-process
(tests/cli_in_process.py): a run keeps nothing in memory for the next one, which finds its session in the ledger."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import yaml

from config.paths import data_dir
from providers.ledger import Ledger
from tests.cli_in_process import CliRun, run_cli
from tests.hostile.hostile_server import HostileServer, Request, hostile_server, stream_head
from tests.hostile.terminal_corpus import FORBIDDEN_IN_PIPE, hostile_ollama_routes
from tests.hostile.terminal_corpus import write_config as write_hostile_config
from tests.waiting import HANG_S

ROOT = Path(__file__).resolve().parents[2]
TARGET = "lo/llama3.2:1b"


async def numbered_answer(request: Request) -> AsyncIterator[bytes]:
    """An Ollama chat stream answering `answer to N messages`: what the server was sent shows in the answer."""
    sent = json.loads(request.body)["messages"]
    yield stream_head(content_type="application/x-ndjson")
    for piece in ("answer to ", f"{len(sent)} messages"):
        yield json.dumps({"model": "m", "message": {"role": "assistant", "content": piece}, "done": False}).encode()
        yield b"\n"
    yield json.dumps({"model": "m", "message": {"role": "assistant", "content": ""}, "done": True,
                      "done_reason": "stop", "prompt_eval_count": 3, "eval_count": 4}).encode() + b"\n"


@pytest.fixture
def server() -> Iterator[HostileServer]:
    with hostile_server({"POST /api/chat": numbered_answer}) as running:
        yield running


@pytest.fixture
def config(server: HostileServer, tmp_path: Path) -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump({"providers": [{"name": "lo", "kind": "ollama", "base_url": server.url}]}),
                    encoding="utf-8")
    return path


def llmdeck(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "console.cli", *args, "--config", str(config)],
                          capture_output=True, text=True, env=dict(os.environ), cwd=ROOT, timeout=HANG_S, check=False)


def in_process(capfd: pytest.CaptureFixture[str], config: Path, *args: str) -> CliRun:
    return run_cli(capfd, *args, "--config", str(config))


def sent(server: HostileServer) -> list[list[str]]:
    """The message contents of every chat request the server received, in order."""
    return [[m["content"] for m in json.loads(r.body)["messages"]] for r in server.seen if r.path == "/api/chat"]


def chat(capfd: pytest.CaptureFixture[str], config: Path, prompt: str, *options: str) -> str:
    result = in_process(capfd, config, "chat", TARGET, prompt, *options)
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def test_chat_session_continues_by_name_or_id_with_its_history_and_new_starts_afresh(
        server: HostileServer, config: Path, capfd: pytest.CaptureFixture[str]) -> None:
    assert chat(capfd, config, "first question", "--session", "work") == "answer to 1 messages"
    assert chat(capfd, config, "second question", "--session", "work") == "answer to 3 messages"
    assert sent(server)[1] == ["first question", "answer to 1 messages", "second question"]
    with Ledger.open(data_dir() / "ledger.sqlite3") as ledger:
        [work] = ledger.list_sessions()
    assert work.title == "work"

    chat(capfd, config, "third question", "--session", str(work.id))
    assert sent(server)[2] == ["first question", "answer to 1 messages", "second question", "answer to 3 messages",
                               "third question"]

    assert chat(capfd, config, "fresh start", "--session", "work", "--new") == "answer to 1 messages"
    assert chat(capfd, config, "one-off") == "answer to 1 messages"  # no --session: a session of its own, as always
    assert sent(server)[3:] == [["fresh start"], ["one-off"]]

    with Ledger.open(data_dir() / "ledger.sqlite3") as ledger:
        sessions = {s.id: s.title for s in ledger.list_sessions()}
        assert sorted(sessions.values()) == ["one-off", "work", "work"]
        turns = ledger.messages(work.id)
        requests = ledger.recent_requests()
    assert [m.content for m in turns if m.role == "user"] == ["first question", "second question", "third question"]
    # One request row per chat, each linked to its own turn.
    assert len(requests) == 5
    assert sorted({m.request_id for m in turns}) == sorted(r.id for r in requests)[:3]


def test_chat_with_a_session_id_that_does_not_exist_is_a_usage_error_and_asks_nothing(
        server: HostileServer, config: Path) -> None:
    result = llmdeck(config, "chat", TARGET, "hello", "--session", "4242")
    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        "llmdeck: no chat session with id or name '4242' (llmdeck sessions list shows them)"]
    assert sent(server) == []


def test_sessions_list_show_and_export_as_text_and_json(config: Path, tmp_path: Path,
                                                        capfd: pytest.CaptureFixture[str]) -> None:
    chat(capfd, config, "first question", "--session", "work", "--system", "be brief", "--max-tokens", "40")
    chat(capfd, config, "second question", "--session", "work")
    chat(capfd, config, "elsewhere")

    listed = in_process(capfd, config, "sessions", "list", "--json")
    assert listed.returncode == 0, listed.stderr
    rows = json.loads(listed.stdout)
    assert [(r["title"], r["target"], r["turns"]) for r in rows] == [("elsewhere", TARGET, 1), ("work", TARGET, 2)]
    assert set(rows[0]) == {"id", "title", "target", "updated", "turns"}
    table = in_process(capfd, config, "sessions", "list")
    assert "work" in table.stdout and "elsewhere" in table.stdout

    shown = in_process(capfd, config, "sessions", "show", "work", "--json")
    assert shown.returncode == 0, shown.stderr
    document = json.loads(shown.stdout)
    assert (document["title"], document["system_prompt"], document["params"]["max_tokens"]) == ("work", "be brief", 40)
    assert [(t["prompt"], t["answer"], t["status"], t["served_by"]) for t in document["turns"]] == [
        ("first question", "answer to 2 messages", "complete", TARGET),  # the system prompt was sent too
        ("second question", "answer to 4 messages", "complete", TARGET)]
    assert (document["turns"][0]["prompt_tokens"], document["turns"][0]["completion_tokens"]) == (3, 4)

    text = in_process(capfd, config, "sessions", "show", str(rows[1]["id"]))
    assert text.returncode == 0, text.stderr
    assert text.stdout.startswith("# work\n")
    assert "second question" in text.stdout and "served by lo/llama3.2:1b" in text.stdout

    out = tmp_path / "work.md"
    exported = in_process(capfd, config, "sessions", "export", "work", "--out", str(out))
    assert exported.returncode == 0, exported.stderr
    assert out.read_text(encoding="utf-8").startswith("# work\n")
    assert "answer to 4 messages" in out.read_text(encoding="utf-8")
    as_json = in_process(capfd, config, "sessions", "export", "work", "--format", "json")
    assert json.loads(as_json.stdout) == document


@pytest.mark.parametrize("command", [("show", "nothing-like-it"), ("export", "77"), ("show", "77", "--json")])
def test_an_unknown_session_is_one_line_and_exit_2(config: Path, command: tuple[str, ...],
                                                    capfd: pytest.CaptureFixture[str]) -> None:
    chat(capfd, config, "something")  # a ledger with a session in it, just not this one
    result = llmdeck(config, "sessions", *command)
    assert result.returncode == 2
    assert result.stdout == ""
    [line] = result.stderr.splitlines()
    assert line.startswith("llmdeck: no chat session with id or name")


def test_without_any_ledger_there_are_no_sessions_and_none_is_made(config: Path) -> None:
    listed = llmdeck(config, "sessions", "list", "--json")
    assert (listed.returncode, json.loads(listed.stdout)) == (0, [])
    assert llmdeck(config, "sessions", "show", "1").returncode == 2
    assert not (data_dir() / "ledger.sqlite3").exists()


def test_hostile_answers_and_titles_never_reach_the_terminal(tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    with hostile_server(hostile_ollama_routes()) as evil:
        config = write_hostile_config(tmp_path / "evil.yaml", evil.url)
        for options in (("--session", "evil\x1b[2Jname"), ("--session", "evil\x1b[2Jname"), ("--new",)):
            # the sessions to show; what a chat itself prints is tests/hostile/test_terminal_text.py's concern
            result = in_process(capfd, config, "chat", "talk", "tell \x1b]0;PWNED\x1b\\ me", *options)
            assert result.returncode == 0, result.stderr
    with Ledger.open(data_dir() / "ledger.sqlite3") as ledger:
        sessions = ledger.list_sessions()
        assert sorted(s.title for s in sessions) == ["evilname", "tell  me"]  # titles are made one safe line
        [named] = [s for s in sessions if s.title == "evilname"]
        assert len(ledger.messages(named.id)) == 4, "the same hostile name found its session again"
        ledger.rename_session(named.id, "evil \x1b]0;PWNED\x1b\\ title")  # as a title from elsewhere may be
    outputs = [llmdeck(config, "sessions", *command) for command in (
        ("list",), ("list", "--json"), ("show", str(named.id)), ("show", str(named.id), "--json"),
        ("export", str(named.id)), ("export", str(named.id), "--format", "json"))]
    for output in outputs:
        assert output.returncode == 0, output.stderr
        for forbidden in FORBIDDEN_IN_PIPE:
            assert forbidden not in output.stdout.encode() + output.stderr.encode(), (output.args, forbidden)
    assert "end-of-answer" in outputs[2].stdout, "the answer is shown, made safe"
    answer = json.loads(outputs[3].stdout)["turns"][0]["answer"]
    assert "\x1b]52;" in answer, "JSON keeps the answer exactly as it was sent, escaped"
