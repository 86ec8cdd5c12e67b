"""`llmdeck hub search|files|download` as an operator runs them, against the Hub emulator (and the Ollama emulator
for a pull of hf.co/REPO:QUANT), with the exit codes scripts branch on. Commands checked for what they print, write
and keep run in-process (tests/cli_in_process.py); a Ctrl-C, a progress bar on a terminal and a Hub key in the
environment (what must never be shown) are checked on real subprocesses."""

from __future__ import annotations

import json
import os
import pty
import select
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from providers.downloads import part_path
from providers.emulators.hfhub import NO_ACCESS_TOKEN_PREFIX, REPOS, HubState, file_bytes, file_sha256
from providers.emulators.server import EmulatorServer
from tests.cli_in_process import CliRun, run_cli
from tests.conftest import EmulatorFactory
from tests.emulator_control import ollama_state
from tests.waiting import HANG_S, wait_for_condition_sync

LLMDECK = [sys.executable, "-m", "console.cli"]
ROOT = Path(__file__).resolve().parents[2]
TINY, GATED, _ = REPOS
FILE, SIZE = TINY.files[0]
SHA = file_sha256(TINY.id, FILE, SIZE)
TOKEN_VARIABLE = "LAB_HUB_TOKEN"


@pytest.fixture
def hub(emulator: EmulatorFactory) -> EmulatorServer:
    return emulator("hfhub")


@pytest.fixture
def ollama(emulator: EmulatorFactory) -> EmulatorServer:
    return emulator("ollama")


@pytest.fixture
def models_dir(tmp_path: Path) -> Path:
    return tmp_path / "gguf"


@pytest.fixture
def config_file(hub: EmulatorServer, ollama: EmulatorServer, models_dir: Path, tmp_path: Path) -> Path:
    config = {"providers": [
        {"name": "hf", "kind": "huggingface", "hub_url": hub.url, "api_key": f"env:{TOKEN_VARIABLE}"},
        {"name": "box-llamacpp", "kind": "llamacpp", "base_url": "http://127.0.0.1:9", "models_dir": str(models_dir)},
        {"name": "bare-llamacpp", "kind": "llamacpp", "base_url": "http://127.0.0.1:9"},
        {"name": "local-ollama", "kind": "ollama", "base_url": ollama.url},
        {"name": "box-vllm", "kind": "vllm", "base_url": "http://127.0.0.1:9"},
    ]}
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    return path


def run(config: Path, *args: str, token: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {key: value for key, value in os.environ.items() if key != TOKEN_VARIABLE}
    env["LLMDECK_CONFIG"] = str(config)
    if token is not None:
        env[TOKEN_VARIABLE] = token
    return subprocess.run([*LLMDECK, *args], capture_output=True, text=True, env=env, cwd=ROOT, timeout=60,
                          check=False)


InProcess = Callable[..., CliRun]


@pytest.fixture
def in_process(capfd: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> InProcess:
    """`run` without the subprocess and without a key: `in_process(config, *args)`."""
    monkeypatch.delenv(TOKEN_VARIABLE, raising=False)

    def run_in_process(config: Path, *args: str) -> CliRun:
        return run_cli(capfd, *args, env={"LLMDECK_CONFIG": str(config)})

    return run_in_process


def hub_state(server: EmulatorServer) -> HubState:
    state: HubState = server.app.state.hub
    return state


def json_lines(text: str) -> list[dict[str, object]]:
    return [json.loads(line) for line in text.splitlines()]


def test_search_lists_repositories_as_tab_separated_lines(config_file: Path, in_process: InProcess) -> None:
    result = in_process(config_file, "hub", "search", "tiny", "--gguf")
    assert result.returncode == 0, result.stderr
    header, *rows = [line.split("\t") for line in result.stdout.splitlines()]
    assert header == ["repo", "downloads", "likes", "updated", "gated"]
    assert [TINY.id, "52000", "41", "2025-11-03", ""] in rows
    assert all("GGUF" in row[0] for row in rows)  # --gguf leaves out the plain transformers repositories
    everything = in_process(config_file, "hub", "search", "tiny")
    assert "TinyLlama/TinyLlama-1.1B-Chat-v1.0\t" in everything.stdout


def test_search_json_says_gated_and_last_update(config_file: Path, in_process: InProcess) -> None:
    result = in_process(config_file, "hub", "search", "gemma", "--gguf", "--json")
    assert result.returncode == 0, result.stderr
    found = {row["repo"]: row for row in json.loads(result.stdout)}
    assert found[GATED.id]["gated"] is True and found[GATED.id]["updated"] == GATED.last_modified


def test_files_json_gives_size_quant_and_sha256(config_file: Path, in_process: InProcess) -> None:
    result = in_process(config_file, "hub", "files", TINY.id, "--json")
    assert result.returncode == 0, result.stderr
    files = {row["path"]: row for row in json.loads(result.stdout)}
    assert files[FILE] == {"path": FILE, "size": SIZE, "quant": "Q4_K_M", "sha256": SHA}
    assert files["README.md"]["sha256"] is None and files["README.md"]["quant"] is None


def test_files_of_a_malformed_repository_id_is_a_usage_error(config_file: Path, in_process: InProcess) -> None:
    result = in_process(config_file, "hub", "files", "org/../other")
    assert result.returncode == 2 and "not a Hub repository id" in result.stderr


def test_download_into_a_llamacpp_models_dir_with_json_progress(
        config_file: Path, models_dir: Path, in_process: InProcess) -> None:
    result = in_process(config_file, "hub", "download", TINY.id, FILE, "--provider", "box-llamacpp", "--json")
    assert result.returncode == 0, result.stderr
    *progress, final = json_lines(result.stdout)
    assert progress and progress[-1]["done_bytes"] == SIZE and progress[0]["total_bytes"] == SIZE
    assert final == {"repo": TINY.id, "file": FILE, "path": str(models_dir.resolve() / FILE), "size": SIZE,
                     "sha256": SHA, "resumed_from": 0, "done": True}
    assert (models_dir / FILE).read_bytes() == file_bytes(TINY.id, FILE, SIZE)


def test_a_download_cut_every_time_keeps_its_part_and_the_next_run_resumes(
        config_file: Path, hub: EmulatorServer, tmp_path: Path, in_process: InProcess) -> None:
    target = tmp_path / "to"
    hub.set_faults("cut")
    failed = in_process(config_file, "hub", "download", TINY.id, FILE, "--to", str(target))
    assert failed.returncode == 1
    assert failed.stderr.count("\n") == 1 and "run the same command again to resume" in failed.stderr
    kept = part_path(target / FILE).stat().st_size
    assert 0 < kept < SIZE and not (target / FILE).exists()
    ranges = hub_state(hub).ranges("/cdn/")
    assert len(ranges) == 3 and ranges[0] is None and all(r and r.startswith("bytes=") for r in ranges[1:])

    hub.set_faults("")
    resumed = in_process(config_file, "hub", "download", TINY.id, FILE, "--to", str(target), "--json")
    assert resumed.returncode == 0, resumed.stderr
    assert json_lines(resumed.stdout)[-1]["resumed_from"] == kept
    assert hub_state(hub).ranges("/cdn/")[-1] == f"bytes={kept}-"
    assert (target / FILE).read_bytes() == file_bytes(TINY.id, FILE, SIZE)


def test_an_interrupted_download_keeps_its_part_and_exits_130(
        config_file: Path, hub: EmulatorServer, tmp_path: Path, in_process: InProcess) -> None:
    target = tmp_path / "to"
    hub.set_faults("stall_mid:60")  # the file stops after a few pieces: Ctrl-C strikes mid-download
    env = {key: value for key, value in os.environ.items() if key != TOKEN_VARIABLE}
    env["LLMDECK_CONFIG"] = str(config_file)
    process = subprocess.Popen([*LLMDECK, "hub", "download", TINY.id, FILE, "--to", str(target)],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, cwd=ROOT, text=True)
    try:
        wait_for_condition_sync(lambda: hub_state(hub).ranges("/cdn/") and part_path(target / FILE).exists(),
                                what="the download to start writing")
        process.send_signal(signal.SIGINT)
        _, stderr = process.communicate(timeout=HANG_S)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 130 and "partial file is kept" in stderr
    assert part_path(target / FILE).exists() and not (target / FILE).exists()

    hub.set_faults("")
    resumed = in_process(config_file, "hub", "download", TINY.id, FILE, "--to", str(target), "--json")
    assert resumed.returncode == 0, resumed.stderr
    assert (target / FILE).read_bytes() == file_bytes(TINY.id, FILE, SIZE)


def test_a_file_the_repository_lacks_exits_one(config_file: Path, tmp_path: Path, in_process: InProcess) -> None:
    result = in_process(config_file, "hub", "download", TINY.id, "missing-Q4_K_M.gguf", "--to", str(tmp_path))
    assert result.returncode == 1 and "has no file 'missing-Q4_K_M.gguf'" in result.stderr


def test_a_hash_mismatch_exits_one_with_one_line_and_leaves_nothing(
        config_file: Path, hub: EmulatorServer, models_dir: Path, in_process: InProcess) -> None:
    hub.set_faults("badhash")
    result = in_process(config_file, "hub", "download", TINY.id, FILE, "--provider", "box-llamacpp")
    assert result.returncode == 1 and result.stdout == ""
    assert result.stderr.count("\n") == 1 and "SHA-256" in result.stderr and SHA in result.stderr
    assert not (models_dir / FILE).exists() and not part_path(models_dir / FILE).exists()


def test_a_disk_that_fills_exits_one_and_says_so(config_file: Path, models_dir: Path, in_process: InProcess) -> None:
    if not Path("/dev/full").exists():
        pytest.skip("no /dev/full on this system")
    models_dir.mkdir()
    part_path(models_dir / FILE).symlink_to("/dev/full")  # every write: ENOSPC
    result = in_process(config_file, "hub", "download", TINY.id, FILE, "--provider", "box-llamacpp")
    assert result.returncode == 1 and result.stderr.count("\n") == 1 and "disk filled" in result.stderr


def test_a_gated_repository_with_an_unreadable_key_says_why(
        config_file: Path, tmp_path: Path, in_process: InProcess) -> None:
    file, _ = GATED.files[0]
    result = in_process(config_file, "hub", "download", GATED.id, file, "--to", str(tmp_path / "to"))
    assert result.returncode == 1 and result.stderr.count("\n") == 1
    assert f"{GATED.id} is gated" in result.stderr and f"{TOKEN_VARIABLE} is not set" in result.stderr
    assert list((tmp_path / "to").glob("*.gguf*")) == []


def test_a_gated_repository_without_a_key_says_what_to_do(
        config_file: Path, tmp_path: Path, in_process: InProcess) -> None:
    config = yaml.safe_load(config_file.read_text(encoding="utf-8"))
    del config["providers"][0]["api_key"]
    config_file.write_text(yaml.safe_dump(config), encoding="utf-8")
    file, _ = GATED.files[0]
    result = in_process(config_file, "hub", "download", GATED.id, file, "--to", str(tmp_path / "to"))
    assert result.returncode == 1 and "no Hub key is configured" in result.stderr
    assert "llmdeck keys set" in result.stderr


def test_a_gated_repository_with_a_key_without_access_says_so(config_file: Path, tmp_path: Path) -> None:
    file, _ = GATED.files[0]
    token = f"{NO_ACCESS_TOKEN_PREFIX}_9f8e7d6c5b4a"
    result = run(config_file, "hub", "download", GATED.id, file, "--to", str(tmp_path / "to"), token=token)
    assert result.returncode == 1 and "not in the authorized list" in result.stderr
    assert "has no access" in result.stderr and token not in result.stderr


def test_a_gated_repository_downloads_with_the_configured_key(
        config_file: Path, hub: EmulatorServer, tmp_path: Path) -> None:
    file, size = GATED.files[0]
    result = run(config_file, "hub", "download", GATED.id, file, "--to", str(tmp_path / "to"),
                 token="hf_granted_lab_token_42")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"downloaded {GATED.id}/{file} to ")
    assert result.stderr == ""  # no progress bar drawn into a pipe
    assert file_sha256(GATED.id, file, size) in result.stdout
    assert all(r.authorized for r in hub_state(hub).requests if "/resolve/" in r.path)


def test_a_rate_limit_exits_one_with_the_wait(
        config_file: Path, hub: EmulatorServer, tmp_path: Path, in_process: InProcess) -> None:
    hub.set_faults("429:9")
    result = in_process(config_file, "hub", "search", "tiny")
    assert result.returncode == 1 and "rate limited by the Hub; the Hub asks to wait 9 s" in result.stderr


@pytest.mark.parametrize(("args", "says"), [
    (("../escape.gguf", "--to", "DIR"), "refusing the file name"),
    (("/etc/passwd", "--to", "DIR"), "refusing the file name"),
    ((FILE, "--provider", "nobody"), "unknown provider 'nobody'"),
    ((FILE, "--provider", "box-vllm"), "is kind vllm"),
    ((FILE, "--provider", "bare-llamacpp"), "has no models_dir"),
    (("README.md", "--provider", "local-ollama"), "names no quantisation"),
])
def test_bad_arguments_exit_two_before_any_download(config_file: Path, hub: EmulatorServer, tmp_path: Path,
                                                    args: tuple[str, ...], says: str, in_process: InProcess) -> None:
    result = in_process(config_file, "hub", "download", TINY.id, *(str(tmp_path) if a == "DIR" else a for a in args))
    assert result.returncode == 2 and says in result.stderr
    assert hub_state(hub).requests == []


def test_an_ollama_provider_pulls_the_repository_itself(config_file: Path, hub: EmulatorServer,
                                                        ollama: EmulatorServer, in_process: InProcess) -> None:
    result = in_process(config_file, "hub", "download", TINY.id, FILE, "--provider", "local-ollama")
    assert result.returncode == 0, result.stderr
    model = f"hf.co/{TINY.id}:Q4_K_M"
    assert result.stdout == f"pulled {model} on local-ollama\n"
    assert ollama_state(ollama).find(model) is not None
    assert hub_state(hub).requests == []  # Ollama fetched it, not llmdeck


def run_with_terminal_stderr(config: Path, *args: str) -> tuple[int, str, str]:
    """The command with stderr on a pty (a person watching) and stdout on a pipe: (exit code, stdout, stderr)."""
    controller, terminal = pty.openpty()
    env = {key: value for key, value in os.environ.items() if key != TOKEN_VARIABLE}
    env.update({"LLMDECK_CONFIG": str(config), "COLUMNS": "120", "TERM": "xterm-256color"})
    process = subprocess.Popen([*LLMDECK, *args], stdout=subprocess.PIPE, stderr=terminal, env=env, cwd=ROOT,
                               text=True)
    os.close(terminal)
    seen = bytearray()
    deadline = time.monotonic() + HANG_S
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([controller], [], [], 1.0)
            if not ready:
                continue
            try:
                data = os.read(controller, 65536)
            except OSError:  # the child closed its end: everything has been read
                break
            if not data:
                break
            seen += data
        stdout, _ = process.communicate(timeout=HANG_S)
    finally:
        os.close(controller)
        if process.poll() is None:
            process.kill()
    return process.returncode, stdout, seen.decode("utf-8", "replace")


def test_a_terminal_gets_a_progress_bar_on_stderr(config_file: Path, tmp_path: Path) -> None:
    code, stdout, terminal = run_with_terminal_stderr(config_file, "hub", "download", TINY.id, FILE, "--to",
                                                      str(tmp_path / "to"))
    assert code == 0, terminal
    assert FILE in terminal and "3.1/3.1 MB" in terminal  # the bar's description and its finished count
    assert stdout.startswith(f"downloaded {TINY.id}/{FILE} to ") and "\x1b" not in stdout
