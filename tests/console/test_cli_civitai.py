"""`llmdeck civitai search|download` as an operator runs them, against the CivitAI, A1111 and ComfyUI emulators
over loopback. Commands checked for what they print, write and keep run in-process (tests/cli_in_process.py); a
run given a key (what must never be shown) is a real subprocess."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from providers.emulators.civitai import Hub, file_sha256
from providers.emulators.server import EmulatorServer
from tests.cli_in_process import CliRun, run_cli
from tests.conftest import EmulatorFactory
from tests.waiting import HANG_S

LLMDECK = [sys.executable, "-m", "console.cli"]
ROOT = Path(__file__).resolve().parents[2]
DREAMSHAPER_XL, DREAMSHAPER_XL_FILE = 251662, "dreamshaperXL_turboDPMSDE.safetensors"
TOKEN_ONLY = 456194
LORA = 62833
NSFW_MODEL = 77001
KEY_VARIABLE = "LLMDECK_TEST_CIVITAI_KEY"


class Rig:
    """The three emulators and a config naming them; `write(...)` writes it with changes."""

    def __init__(self, emulator: EmulatorFactory, tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
        self.capfd = capfd
        self.hub, self.sd, self.comfy = emulator("civitai"), emulator("a1111"), emulator("comfyui")
        self.models = tmp_path / "models"
        self.checkpoints, self.loras = self.models / "checkpoints", self.models / "loras"
        self.sd.app.state.webui.checkpoint_dir = self.checkpoints
        self.sd.app.state.webui.lora_dir = self.loras
        self.comfy.app.state.checkpoint_dir = self.checkpoints
        self.path = tmp_path / "config.yaml"
        self.write()

    @property
    def civitai(self) -> Hub:
        hub: Hub = self.hub.app.state.civitai
        return hub

    def write(self, *, allow_nsfw: bool = False, lora_dir: bool = True, key: bool = False) -> Path:
        civitai: dict[str, Any] = {"name": "civitai", "kind": "civitai", "base_url": f"{self.hub.url}/api"}
        if key:
            civitai["api_key"] = f"env:{KEY_VARIABLE}"
        if allow_nsfw:
            civitai["allow_nsfw"] = True
        sd: dict[str, Any] = {"name": "sd", "kind": "a1111", "base_url": self.sd.url,
                              "checkpoint_dir": str(self.checkpoints)}
        if lora_dir:
            sd["lora_dir"] = str(self.loras)
        config = {"providers": [
            civitai, sd,
            {"name": "comfy", "kind": "comfyui", "base_url": self.comfy.url, "checkpoint_dir": str(self.checkpoints)},
            {"name": "chat", "kind": "ollama", "base_url": "http://127.0.0.1:9"}]}
        self.path.write_text(yaml.safe_dump(config), encoding="utf-8")
        return self.path

    def run(self, *args: str, key: str | None = None) -> subprocess.CompletedProcess[str]:
        env = {**os.environ, "LLMDECK_CONFIG": str(self.path)}
        env.pop(KEY_VARIABLE, None)
        if key is not None:
            env[KEY_VARIABLE] = key
        return subprocess.run([*LLMDECK, *args], capture_output=True, text=True, env=env, cwd=ROOT,
                              timeout=HANG_S, check=False)

    def in_process(self, *args: str) -> CliRun:
        """`run` without the subprocess and without a key (the fixture takes it out of the environment)."""
        return run_cli(self.capfd, *args, env={"LLMDECK_CONFIG": str(self.path)})

    def files(self) -> list[str]:
        return sorted(str(p.relative_to(self.models)) for p in self.models.rglob("*") if p.is_file())


@pytest.fixture
def rig(emulator: EmulatorFactory, tmp_path: Path, capfd: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> Rig:
    monkeypatch.delenv(KEY_VARIABLE, raising=False)
    return Rig(emulator, tmp_path, capfd)


def a1111_files(server: EmulatorServer) -> set[str]:
    listing = httpx.get(f"{server.url}/sdapi/v1/sd-models", timeout=HANG_S).json()
    return {Path(entry["filename"]).name for entry in listing}


def test_search_prints_one_line_per_model_with_its_version_ids(rig: Rig) -> None:
    result = rig.in_process("civitai", "search", "dreamshaper")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].split("\t") == ["id", "name", "type", "base model", "downloads", "versions"]
    assert lines[2].split("\t") == ["112902", "DreamShaper XL", "Checkpoint", "SDXL 1.0", "640,000",
                                    "251662 Turbo DPM++ SDE"]
    assert len(lines) == 3


def test_search_json_filters_by_type_and_hides_nsfw_unless_allowed(rig: Rig) -> None:
    loras = json.loads(rig.in_process("civitai", "search", "detail", "--type", "lora", "--json").stdout)
    assert {model["type"] for model in loras} == {"LORA"} and len(loras) == 2
    assert loras[0]["versions"][0]["files"][0]["sha256"] == file_sha256(LORA)
    rig.civitai.ignore_nsfw_param = True  # the client filters too, not only the server
    hidden = json.loads(rig.in_process("civitai", "search", "after", "--json").stdout)
    assert hidden == []
    rig.write(allow_nsfw=True)
    shown = json.loads(rig.in_process("civitai", "search", "after", "--json").stdout)
    assert [(model["id"], model["nsfw"]) for model in shown] == [(NSFW_MODEL, True)]


def test_download_json_streams_progress_lands_the_file_and_a1111_lists_it(rig: Rig) -> None:
    assert DREAMSHAPER_XL_FILE not in a1111_files(rig.sd)
    result = rig.in_process("civitai", "download", str(DREAMSHAPER_XL), "--provider", "sd", "--json")
    assert result.returncode == 0, result.stderr
    events = [json.loads(line) for line in result.stdout.splitlines()]
    assert events[0]["event"] == "progress" and events[-2]["done_bytes"] == events[-1]["size_bytes"]
    done = events[-1]
    landed = rig.checkpoints / DREAMSHAPER_XL_FILE
    assert done == {"event": "done", "version_id": DREAMSHAPER_XL, "provider": "sd", "model_type": "Checkpoint",
                    "path": str(landed), "size_bytes": landed.stat().st_size, "sha256": file_sha256(DREAMSHAPER_XL),
                    "already_present": False, "listed": True, "refresh_problem": None}
    assert hashlib.sha256(landed.read_bytes()).hexdigest() == file_sha256(DREAMSHAPER_XL)
    assert DREAMSHAPER_XL_FILE in a1111_files(rig.sd)
    assert (rig.civitai.requests["download"], rig.civitai.requests["storage"]) == (1, 1)  # the redirect followed
    again = rig.in_process("civitai", "download", str(DREAMSHAPER_XL), "--provider", "comfy")
    assert again.returncode == 0, again.stderr
    assert again.stdout == f"already in place: {landed} (sha256 {file_sha256(DREAMSHAPER_XL)})\n"
    assert again.stderr == ""  # ComfyUI lists it; and no bar, stderr being no terminal
    assert rig.civitai.requests["download"] == 1


def test_download_prints_one_line_and_puts_each_type_in_its_folder(rig: Rig) -> None:
    result = rig.in_process("civitai", "download", str(LORA), "--provider", "sd")
    assert result.returncode == 0, result.stderr
    assert result.stdout == f"downloaded: {rig.loras / 'add_detail.safetensors'} (sha256 {file_sha256(LORA)})\n"
    assert result.stderr == ""
    comfy = rig.in_process("civitai", "download", str(DREAMSHAPER_XL), "--provider", "comfy")
    assert comfy.returncode == 0 and comfy.stdout.startswith("downloaded: "), comfy.stderr
    assert rig.files() == ["checkpoints/" + DREAMSHAPER_XL_FILE, "loras/add_detail.safetensors"]


def test_a_version_that_needs_a_key_exits_one_saying_so(rig: Rig) -> None:
    result = rig.in_process("civitai", "download", str(TOKEN_ONLY), "--provider", "sd")
    assert result.returncode == 1
    assert result.stderr.count("\n") == 1 and "needs an API key" in result.stderr
    assert rig.files() == []
    rig.write(key=True)
    unset = rig.in_process("civitai", "download", str(TOKEN_ONLY), "--provider", "sd")
    assert unset.returncode == 1  # a key is configured but cannot be read: said, not silently left out
    assert unset.stderr == f"llmdeck: civitai: environment variable {KEY_VARIABLE} is not set\n"
    keyed = rig.run("civitai", "download", str(TOKEN_ONLY), "--provider", "sd", "--json", key="lab-key")
    assert keyed.returncode == 0, keyed.stderr
    assert json.loads(keyed.stdout.splitlines()[-1])["sha256"] == file_sha256(TOKEN_ONLY)


def test_a_hash_mismatch_exits_one_and_leaves_no_file(rig: Rig) -> None:
    rig.civitai.corrupt.add(DREAMSHAPER_XL)
    result = rig.in_process("civitai", "download", str(DREAMSHAPER_XL), "--provider", "sd", "--json")
    assert result.returncode == 1
    assert result.stderr.count("\n") == 1 and "SHA-256" in result.stderr and "removed" in result.stderr
    assert rig.files() == []


@pytest.mark.parametrize(("provider", "version", "said"), [
    ("chat", DREAMSHAPER_XL, "chat is kind ollama"),
    ("nosuch", DREAMSHAPER_XL, "unknown provider 'nosuch'"),
])
def test_a_provider_that_cannot_take_models_exits_two(rig: Rig, provider: str, version: int, said: str) -> None:
    result = rig.in_process("civitai", "download", str(version), "--provider", provider)
    assert result.returncode == 2
    assert said in result.stderr and result.stderr.count("\n") == 1
    assert rig.civitai.requests["download"] == 0


def test_a_lora_for_a_provider_without_lora_dir_exits_two(rig: Rig) -> None:
    rig.write(lora_dir=False)
    result = rig.in_process("civitai", "download", str(LORA), "--provider", "sd")
    assert result.returncode == 2
    assert result.stderr == "llmdeck: sd has no lora_dir for a LORA\n"
    assert rig.files() == []
