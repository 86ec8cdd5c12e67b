"""The CLI as a script uses it: stdout read by a program, not a person. Real subprocesses against emulators and a
scripted server on loopback for exit codes, pipes and streamed lines; --help, the parser, and successful runs
checked only for the JSON or files they produce, in-process (tests/cli_in_process.py)."""

from __future__ import annotations

import argparse
import io
import json
import os
import queue
import re
import subprocess
import sys
import threading
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import IO

import httpx
import keyring
import pytest
import yaml

from console.cli import build_parser, main
from providers.emulators.registry import EMULATORS
from tests.cli_in_process import CliRun, run_cli
from tests.conftest import EmulatorFactory
from tests.emulator_control import pulls_held
from tests.hostile.hostile_server import HostileServer, Reply, Request, hostile_server, http_reply
from tests.keyring_service import MemoryKeyring
from tests.terminal.harness import real_terminal
from tests.waiting import HANG_S

ROOT = Path(__file__).resolve().parents[2]
LONG_NAME = "hf.co/" + "-".join(["an-unusually-long-quantised-model-name"] * 5) + ":Q4_K_M"
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def llmdeck(config: Path | None, *args: str) -> subprocess.CompletedProcess[str]:
    """`llmdeck ARGS` with stdout and stderr captured through pipes, as a script's `$(…)` or `| cut` reads them."""
    env = dict(os.environ)
    if config is not None:
        env["LLMDECK_CONFIG"] = str(config)
    return subprocess.run([sys.executable, "-m", "console.cli", *args], capture_output=True, text=True,
                          stdin=subprocess.DEVNULL, env=env, cwd=ROOT, timeout=HANG_S, check=False)


def write_config(path: Path, document: dict[str, object]) -> Path:
    path.write_text(yaml.safe_dump(document), encoding="utf-8")
    return path


@pytest.fixture
def config(emulator: EmulatorFactory, tmp_path: Path) -> Path:
    """An Ollama (pulls, no images), a vLLM (no pulls) with a restart argv, an AUTOMATIC1111 (images)."""
    return write_config(tmp_path / "config.yaml", {
        "providers": [
            {"name": "ol", "kind": "ollama", "base_url": emulator("ollama").url},
            {"name": "vl", "kind": "vllm", "base_url": emulator("vllm").url,
             "restart": [sys.executable, "-c", "print('vllm restarted')"]},
            {"name": "sd", "kind": "a1111", "base_url": emulator("a1111").url},
        ],
        "routes": [{"alias": "chat", "targets": ["vl/meta-llama/Llama-3.1-8B-Instruct", "ol/llama3.2:1b"]}],
    })


# --- tables when stdout is a pipe -------------------------------------------------------------------------------

def _json_reply(document: object) -> Reply:
    async def send(_: Request) -> AsyncIterator[bytes]:
        yield http_reply(json.dumps(document).encode())
    return send


@pytest.fixture
def long_name_server() -> Iterator[HostileServer]:
    """An Ollama whose one model, loaded, has a name far wider than any terminal."""
    with hostile_server({
        "GET /api/version": _json_reply({"version": "0.12.6"}),
        "GET /api/tags": _json_reply({"models": [{"name": LONG_NAME, "size": 4_000_000_000}]}),
        "GET /api/ps": _json_reply({"models": [{"name": LONG_NAME, "size": 1, "size_vram": 1}]}),
    }) as server:
        yield server


@pytest.fixture
def long_name_config(long_name_server: HostileServer, tmp_path: Path) -> Path:
    return write_config(tmp_path / "long.yaml", {
        "providers": [{"name": "lo", "kind": "ollama", "base_url": long_name_server.url}],
        "routes": [{"alias": "long", "targets": [f"lo/{LONG_NAME}"]}]})


def tab_separated(stdout: str, heading: list[str]) -> list[list[str]]:
    """The rows of a piped table: a heading line, then one line per row, every line cut at tabs alone."""
    lines = stdout.splitlines()
    assert lines[0].split("\t") == heading, lines[0]
    rows = [line.split("\t") for line in lines[1:]]
    assert all(len(row) == len(heading) for row in rows), rows
    return rows


def test_a_name_over_200_characters_is_printed_whole_one_row_per_line_when_piped(long_name_config: Path) -> None:
    assert len(LONG_NAME) > 200

    models = llmdeck(long_name_config, "models")
    assert models.returncode == 0, models.stderr
    [row] = tab_separated(models.stdout,
                          ["provider", "model", "size", "quant", "context", "loaded", "$/Mtok in/out"])
    assert row[:3] == ["lo", LONG_NAME, "4.0 GB"]

    health = llmdeck(long_name_config, "health")
    assert health.returncode == 0, health.stderr
    [row] = tab_separated(health.stdout, ["provider", "kind", "status", "latency", "version", "loaded", "detail"])
    assert (row[0], row[2], row[5]) == ("lo", "up", LONG_NAME)

    plan = llmdeck(long_name_config, "route", "explain", "long")
    assert plan.returncode == 0, plan.stderr
    [row] = tab_separated(plan.stdout, ["#", "provider", "model", "via", "state", "reason"])
    assert row[:3] == ["1", "lo", LONG_NAME]


def test_at_a_terminal_the_table_is_fitted_to_the_window(long_name_config: Path, tmp_path: Path) -> None:
    home = tmp_path / "pty-home"
    home.mkdir()
    with real_terminal(["models", "--config", str(long_name_config)], home, columns=100) as terminal:
        assert terminal.wait_exit() == 0, terminal.text()
    assert b"\t" not in terminal.raw
    heading = terminal.line_with("provider")
    assert re.search(r"provider +model +size", heading), terminal.text()
    assert LONG_NAME not in terminal.text(), "a 200-character name cannot fit a 100-column row whole"


# --- --json on every subcommand that prints data ----------------------------------------------------------------

def json_of(result: subprocess.CompletedProcess[str] | CliRun) -> object:
    assert result.returncode == 0, (result.args, result.stderr)
    return json.loads(result.stdout)


def test_every_data_printing_subcommand_prints_one_json_document(config: Path, tmp_path: Path,
                                                                 capfd: pytest.CaptureFixture[str]) -> None:
    """In-process (tests/cli_in_process.py): what is checked is each command's stdout, not the process; the
    scripts above and below run real processes on pipes."""

    def llmdeck(*args: str) -> CliRun:
        return run_cli(capfd, *args, env={"LLMDECK_CONFIG": str(config)})

    chat = json_of(llmdeck("chat", "ol/llama3.2:1b", "hello", "--session", "scripted", "--json", "--max-tokens", "8"))
    assert isinstance(chat, dict) and chat["served_by"] == {"provider": "ol", "model": "llama3.2:1b"}
    health = json_of(llmdeck("health", "--json"))
    assert isinstance(health, list) and {row["name"] for row in health} == {"ol", "vl", "sd"}
    models = json_of(llmdeck("models", "--provider", "ol", "--json"))
    assert isinstance(models, list) and "llama3.2:1b" in {row["name"] for row in models}
    plan = json_of(llmdeck("route", "explain", "chat", "--json"))
    assert isinstance(plan, list) and [hop["provider"] for hop in plan] == ["vl", "ol"]
    sessions = json_of(llmdeck("sessions", "list", "--json"))
    assert isinstance(sessions, list) and [row["title"] for row in sessions] == ["scripted"]
    shown = json_of(llmdeck("sessions", "show", "scripted", "--json"))
    assert isinstance(shown, dict) and shown["turns"][0]["prompt"] == "hello"
    assert json_of(llmdeck("sessions", "export", "scripted", "--json")) == shown

    out = tmp_path / "cube.png"
    image = json_of(llmdeck("image", "sd", "a red cube", "--out", str(out), "--width", "64", "--height", "64",
                            "--steps", "2", "--json"))
    assert isinstance(image, dict) and image["path"] == str(out) and out.read_bytes().startswith(PNG_MAGIC)

    unloaded = json_of(llmdeck("unload", "ol", "llama3.2:1b", "--json"))
    assert isinstance(unloaded, dict) and unloaded["model"] == "llama3.2:1b" and "/api/" in unloaded["call"]
    deleted = json_of(llmdeck("delete", "ol", "mistral:7b", "--yes", "--json"))
    assert isinstance(deleted, dict) and deleted["call"].startswith("DELETE ")
    restarted = json_of(llmdeck("restart", "vl", "--yes", "--json"))
    assert isinstance(restarted, dict) and (restarted["returncode"], restarted["output"]) == (0, "vllm restarted\n")

    validated = json_of(llmdeck("config", "validate", "--json"))
    assert validated == {"path": str(config), "ok": True, "providers": 3, "routes": 1, "problems": []}
    exported = json_of(llmdeck("export", "litellm", "--json"))
    assert isinstance(exported, dict) and exported["model_list"]


def test_config_validate_json_lists_the_problems_and_exits_2(tmp_path: Path) -> None:
    broken = tmp_path / "broken.yaml"
    broken.write_text("providers:\n  - name: x\n    kind: nosuchkind\n", encoding="utf-8")
    result = llmdeck(None, "config", "validate", str(broken), "--json")
    assert result.returncode == 2
    document = json.loads(result.stdout)
    assert document["ok"] is False and document["problems"]
    assert all(problem["file"] == str(broken) and problem["line"] >= 1 for problem in document["problems"])
    assert result.stderr.strip(), "the problems are on stderr too"


def test_keys_list_and_doctor_print_json(monkeypatch: pytest.MonkeyPatch,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    store = MemoryKeyring()
    monkeypatch.setattr("keyring.core._keyring_backend", store)
    assert keyring.get_keyring() is store
    monkeypatch.setattr("sys.stdin", io.StringIO("sk-abcdefghijklmnop1234\n"))
    assert main(["keys", "set", "openai"]) == 0
    capsys.readouterr()
    assert main(["keys", "list", "--json"]) == 0
    assert [row["name"] for row in json.loads(capsys.readouterr().out)] == ["openai"]
    assert main(["keys", "doctor", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["usable"] is True and report["advice"]


def test_keys_doctor_json_reports_an_unusable_keyring_and_exits_1() -> None:
    result = llmdeck(None, "keys", "doctor", "--json")  # the test environment's keyring is the failing one
    assert result.returncode == 1
    assert json.loads(result.stdout)["usable"] is False


def test_only_commands_that_print_no_data_go_without_json() -> None:
    """A new subcommand has to decide: this names every one without --json, and why it has none."""
    without = {" ".join(path) for path, parser in _parsers(build_parser())
               if path and not _is_group(parser) and not _has_option(parser, "--json")}
    # keys set/delete print one confirming line; their exit status is the whole answer. serve-metrics prints
    # nothing on stdout: its data is the /metrics it serves.
    assert without == {"keys set", "keys delete", "serve-metrics"}


# --- pull --json --------------------------------------------------------------------------------------------------

class LineReader:
    """Lines of a child's stdout as they arrive, read in a thread: a line not flushed never comes."""

    def __init__(self, stream: IO[str]) -> None:
        self.lines: queue.Queue[str] = queue.Queue()
        threading.Thread(target=self._read, args=(stream,), daemon=True).start()

    def _read(self, stream: IO[str]) -> None:
        for line in stream:
            self.lines.put(line)
        self.lines.put("")  # end of output

    def next(self) -> str:
        try:
            return self.lines.get(timeout=HANG_S)
        except queue.Empty:
            raise AssertionError(f"no line within {HANG_S:.0f} s") from None


def test_pull_json_prints_each_progress_event_as_it_comes(emulator: EmulatorFactory, tmp_path: Path) -> None:
    ollama = emulator("ollama")
    config = write_config(tmp_path / "pull.yaml", {"providers": [{"name": "ol", "kind": "ollama",
                                                                  "base_url": ollama.url}]})
    env = {**os.environ, "LLMDECK_CONFIG": str(config)}
    events: list[dict[str, object]] = []
    process = subprocess.Popen([sys.executable, "-m", "console.cli", "pull", "ol", "qwen2.5:0.5b", "--json"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=ROOT)
    try:
        assert process.stdout is not None and process.stderr is not None
        reader = LineReader(process.stdout)
        with pulls_held(ollama):  # the pull stops halfway until the events so far have been read
            while not events or not _halfway(events[-1]):
                line = reader.next()
                assert line, "the output ended before the pull was halfway"
                events.append(json.loads(line))
            assert process.poll() is None, "the events came while the pull was still running"
        while line := reader.next():
            events.append(json.loads(line))
        assert process.wait(timeout=HANG_S) == 0
        assert process.stderr.read() == ""  # no progress bar beside the JSON
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()

    assert all(event["provider"] == "ol" and event["model"] == "qwen2.5:0.5b" for event in events)
    fractions = [float(str(event["fraction"])) for event in events if event["fraction"] is not None]
    assert len(fractions) > 10 and fractions == sorted(fractions), fractions
    assert fractions[0] < 0.5 < fractions[-1] == 1.0
    assert [event["done"] for event in events].count(True) == 1 and events[-1]["done"] is True
    assert events[-1]["status"] == "success"


def _halfway(event: dict[str, object]) -> bool:
    fraction = event["fraction"]
    return isinstance(fraction, float) and fraction >= 0.4


# --- unsupported operations, overwriting, and nothing on stdout before an error ---------------------------------

def test_pull_on_vllm_fails_before_any_progress_with_the_usage_exit_code(config: Path) -> None:
    result = llmdeck(config, "pull", "vl", "some-model")
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr.splitlines() == ["llmdeck: vl (kind vllm) cannot pull models"]


def test_image_on_ollama_fails_before_any_progress_and_writes_nothing(config: Path, tmp_path: Path) -> None:
    out = tmp_path / "never.png"
    result = llmdeck(config, "image", "ol", "a red cube", "--out", str(out), "--json")
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr.splitlines() == ["llmdeck: ol (kind ollama) cannot generate images"]
    assert not out.exists() and not out.with_suffix(".json").exists()


def test_image_out_refuses_an_existing_file_unless_forced(config: Path, tmp_path: Path,
                                                          capfd: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "keep.png"
    out.write_bytes(b"an image someone cares about")
    refused = llmdeck(config, "image", "sd", "a red cube", "--out", str(out), "--width", "64", "--height", "64")
    assert refused.returncode == 2
    assert refused.stdout == ""
    assert refused.stderr.splitlines() == [
        f"llmdeck: image: {out} exists already; pass --force to overwrite"]
    assert out.read_bytes() == b"an image someone cares about"
    assert not out.with_suffix(".json").exists()

    forced = run_cli(capfd, "image", "sd", "a red cube", "--out", str(out), "--width", "64", "--height", "64",
                     "--force", env={"LLMDECK_CONFIG": str(config)})  # in-process: a success, checked by its files
    assert forced.returncode == 0, forced.stderr
    assert out.read_bytes().startswith(PNG_MAGIC)
    assert json.loads(out.with_suffix(".json").read_text(encoding="utf-8"))["request"]["prompt"] == "a red cube"


def test_image_out_refuses_when_only_the_sidecar_would_be_overwritten(config: Path, tmp_path: Path) -> None:
    sidecar = tmp_path / "shot.json"
    sidecar.write_text("{}", encoding="utf-8")
    result = llmdeck(config, "image", "sd", "a red cube", "--out", str(tmp_path / "shot.png"))
    assert result.returncode == 2
    assert f"{sidecar} exists already" in result.stderr
    assert sidecar.read_text(encoding="utf-8") == "{}" and not (tmp_path / "shot.png").exists()


@pytest.mark.parametrize(("args", "code"), [
    (("chat", "vl/no-such-model", "hi"), 1),
    (("models", "--provider", "down"), 1),
    (("delete", "nosuch", "m", "--yes"), 2),
    (("unload", "vl", "meta-llama/Llama-3.1-8B-Instruct"), 2),
    (("route", "explain", "no-such-alias"), 2),
], ids=["chat-404", "models-all-down", "unknown-provider", "unload-unsupported", "unknown-alias"])
def test_nothing_reaches_stdout_before_an_error(emulator: EmulatorFactory, config: Path, tmp_path: Path,
                                                args: tuple[str, ...], code: int) -> None:
    document = yaml.safe_load(config.read_text(encoding="utf-8"))
    document["providers"].append({"name": "down", "kind": "ollama", "base_url": emulator("ollama",
                                                                                         faults="refuse").url})
    result = llmdeck(write_config(tmp_path / "with-down.yaml", document), *args)
    assert result.returncode == code, result.stderr
    assert result.stdout == ""
    assert result.stderr.splitlines()[-1].startswith("llmdeck: ")


# --- help -----------------------------------------------------------------------------------------------------------

def _parsers(parser: argparse.ArgumentParser,
             path: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], argparse.ArgumentParser]]:
    yield path, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, child in action.choices.items():
                yield from _parsers(child, (*path, name))


def _is_group(parser: argparse.ArgumentParser) -> bool:
    return any(isinstance(action, argparse._SubParsersAction) for action in parser._actions)


def _has_option(parser: argparse.ArgumentParser, option: str) -> bool:
    return any(option in action.option_strings for action in parser._actions)


def _squeezed(text: str) -> str:
    """Without whitespace: argparse wraps help text at spaces and hyphens."""
    return "".join(text.split())


@pytest.mark.parametrize(("path", "parser"), [pytest.param(path, parser, id=" ".join(path) or "llmdeck")
                                              for path, parser in _parsers(build_parser())])
def test_every_argument_of_every_command_has_help_text_shown_by_help(
        path: tuple[str, ...], parser: argparse.ArgumentParser, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main([*path, "--help"])
    assert exited.value.code == 0
    shown = _squeezed(capsys.readouterr().out)
    for action in parser._actions:
        if action.help == argparse.SUPPRESS or isinstance(action, argparse._HelpAction):
            continue
        if isinstance(action, argparse._SubParsersAction):
            for choice in action._choices_actions:
                assert choice.help, f"{' '.join(path)} {choice.dest}: no help"
                assert _squeezed(choice.help) in shown
            continue
        assert action.help, f"{' '.join(path) or 'llmdeck'} {action.dest}: no help"
        assert _squeezed(action.help) in shown, (path, action.dest)


def test_emulate_help_lists_every_kind(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["emulate", "--help"])
    shown = capsys.readouterr().out
    listed = set(re.findall(r"[a-z0-9_]+", shown.split("kinds:", 1)[1]))
    assert set(EMULATORS) <= listed


def test_emulate_json_announces_a_working_address() -> None:
    process = subprocess.Popen([sys.executable, "-m", "console.cli", "emulate", "ollama", "--json"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT)
    try:
        assert process.stdout is not None
        announced = json.loads(LineReader(process.stdout).next())
        assert (announced["kind"], announced["faults"]) == ("ollama", "")
        version = httpx.get(f"{announced['url']}/api/version", timeout=HANG_S).json()
        assert version["version"]
    finally:
        process.terminate()  # this test is about the announced address; ending on Ctrl-C is not what it checks
        process.wait(timeout=HANG_S)
