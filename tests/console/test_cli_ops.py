"""The headless commands as an operator runs them, against the emulator lab. Failing exit codes and a prompt on
stdin are checked on real subprocesses; commands checked for what they print or do run in-process
(tests/cli_in_process.py), their output captured at the file descriptors, which are no terminal, as pipes are not."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from config.paths import data_dir
from providers.emulators.lab import Lab
from providers.ledger import Ledger
from tests.cli_in_process import CliRun, run_cli
from tests.conftest import EmulatorFactory

LLMDECK = [sys.executable, "-m", "console.cli"]
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def config_file(lab: Lab, tmp_path: Path) -> Path:
    """The lab's local providers (no keys needed in a subprocess) as a config file."""
    local = ("local-ollama", "box-vllm", "box-llamacpp", "sd")
    config = {
        "providers": [
            {"name": name, "kind": {"local-ollama": "ollama", "box-vllm": "vllm", "box-llamacpp": "llamacpp",
                                     "sd": "a1111"}[name], "base_url": lab.servers[name].url}
            for name in local
        ],
        "routes": [{"alias": "chat", "targets": ["box-vllm/meta-llama/Llama-3.1-8B-Instruct",
                                                 "local-ollama/llama3.2:1b"]}],
    }
    config["providers"][1]["restart"] = [sys.executable, "-c", "print('vllm restarted')"]
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    return path


def run(config: Path, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "LLMDECK_CONFIG": str(config)}
    return subprocess.run([*LLMDECK, *args], capture_output=True, text=True, input=stdin, env=env, cwd=ROOT,
                          timeout=60, check=False)


InProcess = Callable[..., CliRun]


@pytest.fixture
def in_process(capfd: pytest.CaptureFixture[str]) -> InProcess:
    """`run` without the subprocess: `in_process(config, *args)`."""

    def run_in_process(config: Path, *args: str) -> CliRun:
        return run_cli(capfd, *args, env={"LLMDECK_CONFIG": str(config)})

    return run_in_process


def test_health_json_lists_every_provider_up(config_file: Path, in_process: InProcess) -> None:
    result = in_process(config_file, "health", "--json")
    assert result.returncode == 0, result.stderr
    rows = json.loads(result.stdout)
    assert {row["name"]: row["status"] for row in rows} == {
        "local-ollama": "up", "box-vllm": "up", "box-llamacpp": "up", "sd": "up"}
    assert set(rows[0]) == {"name", "kind", "status", "latency_ms", "version", "models_loaded", "detail"}


def test_health_exits_one_when_a_provider_is_down(lab: Lab, config_file: Path) -> None:
    lab.set_faults("box-vllm", "refuse")
    result = run(config_file, "health", "--json")
    assert result.returncode == 1
    assert {row["name"]: row["status"] for row in json.loads(result.stdout)}["box-vllm"] == "down"


def test_models_json_has_the_documented_fields(config_file: Path, in_process: InProcess) -> None:
    result = in_process(config_file, "models", "--provider", "local-ollama", "--json")
    assert result.returncode == 0, result.stderr
    rows = json.loads(result.stdout)
    names = {row["name"] for row in rows}
    assert "llama3.2:1b" in names
    assert {"provider", "name", "size_bytes", "quantization", "context_length", "loaded", "input_usd_per_mtok",
            "output_usd_per_mtok"} <= set(rows[0])
    assert all(row["input_usd_per_mtok"] == 0 for row in rows)


def test_chat_json_reports_the_route_and_falls_back(lab: Lab, config_file: Path, in_process: InProcess) -> None:
    lab.set_faults("box-vllm", "503")
    result = in_process(config_file, "chat", "chat", "Say hello", "--json", "--max-tokens", "8")
    assert result.returncode == 0, result.stderr
    doc = json.loads(result.stdout)
    assert doc["served_by"] == {"provider": "local-ollama", "model": "llama3.2:1b"}
    assert doc["attempts"][0]["provider"] == "box-vllm" and doc["attempts"][0]["error"] == "overloaded"
    assert doc["text"] and doc["usage"]["completion_tokens"] > 0
    assert doc["cost_usd"] == 0
    assert doc["ttft_ms"] is not None and doc["total_ms"] >= doc["ttft_ms"]


def test_chat_reads_the_prompt_from_stdin_and_streams_text(config_file: Path) -> None:
    result = run(config_file, "chat", "local-ollama/llama3.2:1b", stdin="Hello there")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip()


def test_unknown_target_is_a_usage_error(config_file: Path) -> None:
    result = run(config_file, "chat", "nowhere", "hi")
    assert result.returncode == 2
    assert "unknown target 'nowhere'" in result.stderr


@pytest.mark.parametrize("args", [("unload", "nosuch", "m"), ("delete", "nosuch", "m", "--yes"),
                                  ("restart", "nosuch", "--yes"), ("models", "--provider", "nosuch")])
def test_an_unknown_provider_is_a_usage_error_naming_the_configured_ones(config_file: Path,
                                                                         args: tuple[str, ...]) -> None:
    result = run(config_file, *args)
    assert result.returncode == 2, result.stderr
    assert "unknown provider 'nosuch'; configured: " in result.stderr and "local-ollama" in result.stderr
    assert "Traceback" not in result.stderr


def test_route_explain_shows_skipped_down_hops(lab: Lab, config_file: Path, in_process: InProcess) -> None:
    lab.set_faults("box-vllm", "refuse")
    result = in_process(config_file, "route", "explain", "chat", "--json")
    assert result.returncode == 0, result.stderr
    plan = json.loads(result.stdout)
    assert [(hop["provider"], hop["state"]) for hop in plan] == [("box-vllm", "skipped"), ("local-ollama", "ready")]
    assert plan[0]["reason"] == "unhealthy (down)"


def tab_rows(stdout: str) -> list[list[str]]:
    """A piped table: the heading line, then one tab-separated row per line."""
    return [line.split("\t") for line in stdout.splitlines()]


def test_route_explain_table_says_each_state_once(lab: Lab, config_file: Path, in_process: InProcess) -> None:
    every_hop_up = in_process(config_file, "route", "explain", "chat")
    assert every_hop_up.returncode == 0, every_hop_up.stderr
    heading, *rows = tab_rows(every_hop_up.stdout)
    assert heading[4:] == ["state", "reason"]
    assert [row[4:] for row in rows] == [["ready", "would serve now"], ["ready", ""]]
    lab.set_faults("box-vllm", "refuse")
    one_down = in_process(config_file, "route", "explain", "chat")
    assert [row[4:] for row in tab_rows(one_down.stdout)[1:]] == [["skipped", "unhealthy (down)"],
                                                                 ["ready", "would serve now"]]


def test_health_table_writes_latency_for_a_person(config_file: Path, in_process: InProcess) -> None:
    result = in_process(config_file, "health")
    assert result.returncode == 0, result.stderr
    heading, *rows = tab_rows(result.stdout)
    latency = heading.index("latency")
    assert rows and all(re.fullmatch(r"\d+(\.\d)? m?s", row[latency]) for row in rows), rows


def test_pull_then_delete_with_the_exact_call_shown(config_file: Path, in_process: InProcess) -> None:
    pulled = in_process(config_file, "pull", "local-ollama", "qwen2.5:0.5b")
    assert pulled.returncode == 0, pulled.stderr
    listed = json.loads(in_process(config_file, "models", "--provider", "local-ollama", "--json").stdout)
    assert "qwen2.5:0.5b" in {row["name"] for row in listed}
    refused = run(config_file, "delete", "local-ollama", "qwen2.5:0.5b")
    assert refused.returncode == 1
    assert "not deleted" in refused.stderr
    deleted = in_process(config_file, "delete", "local-ollama", "qwen2.5:0.5b", "--yes")
    assert deleted.returncode == 0, deleted.stderr
    assert "will call: DELETE" in deleted.stderr and "qwen2.5:0.5b" in deleted.stderr
    listed = json.loads(in_process(config_file, "models", "--provider", "local-ollama", "--json").stdout)
    assert "qwen2.5:0.5b" not in {row["name"] for row in listed}


def test_unload_and_restart(config_file: Path, in_process: InProcess) -> None:
    unloaded = in_process(config_file, "unload", "local-ollama", "llama3.2:1b")
    assert unloaded.returncode == 0, unloaded.stderr
    restarted = in_process(config_file, "restart", "box-vllm", "--yes")
    assert restarted.returncode == 0, restarted.stderr
    assert "will run (no shell):" in restarted.stderr
    assert "vllm restarted" in restarted.stdout
    missing = run(config_file, "restart", "local-ollama", "--yes")
    assert missing.returncode == 2
    assert "no restart configured" in missing.stderr


def test_image_writes_png_and_sidecar(config_file: Path, tmp_path: Path, in_process: InProcess) -> None:
    out = tmp_path / "cube.png"
    result = in_process(config_file, "image", "sd", "a red cube", "--out", str(out), "--width", "64", "--height",
                        "64", "--steps", "2", "--seed", "5", "--json")
    assert result.returncode == 0, result.stderr
    doc = json.loads(result.stdout)
    assert doc["path"] == str(out) and doc["width"] == 64 and doc["seed"] == 5
    assert out.read_bytes().startswith(b"\x89PNG\r\n\x1a\n")
    assert json.loads(out.with_suffix(".json").read_text())["request"]["prompt"] == "a red cube"


def test_chat_json_counts_usage_a_server_does_not_send_and_says_so(emulator: EmulatorFactory,
                                                                   tmp_path: Path, in_process: InProcess) -> None:
    pyllama, llama_server = emulator("llama_cpp_python"), emulator("llamacpp")
    config = tmp_path / "usage.yaml"
    config.write_text(yaml.safe_dump({"providers": [
        {"name": "pyllama", "kind": "llamacpp", "base_url": pyllama.url},
        {"name": "box", "kind": "llamacpp", "base_url": llama_server.url}]}), encoding="utf-8")

    result = in_process(config, "chat", "pyllama/tiny-llama", "count these words please", "--json", "--max-tokens", "8")
    assert result.returncode == 0, result.stderr
    doc = json.loads(result.stdout)
    answer_tokens = len(doc["text"].split()) + 1  # the emulated tokenizer: one per word, plus BOS
    assert doc["usage"] == {"prompt_tokens": 5, "completion_tokens": answer_tokens, "estimated": True}
    assert pyllama.app.state.openai.tokenize_calls == 2  # the prompt and the answer, by the server's tokenizer
    with Ledger.open(data_dir() / "ledger.sqlite3") as ledger:
        [row] = ledger.recent_requests()
    assert (row.provider, row.usage_estimated, row.prompt_tokens, row.completion_tokens) == \
        ("pyllama", True, 5, answer_tokens)

    reported = in_process(config, "chat", "box/x", "count these words please", "--json", "--max-tokens", "8")
    assert reported.returncode == 0, reported.stderr
    usage = json.loads(reported.stdout)["usage"]
    assert usage["estimated"] is False and usage["completion_tokens"] > 0
    assert llama_server.app.state.openai.tokenize_calls == 0
    with Ledger.open(data_dir() / "ledger.sqlite3") as ledger:
        assert ledger.recent_requests()[0].usage_estimated is False
