"""`llmdeck export litellm`: routes become a LiteLLM proxy config with keys as environment references only."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from console.cli import main
from providers.export_litellm import env_name

CONFIG = """
providers:
  - {name: box2-vllm, kind: vllm, base_url: http://10.0.0.2:8000, api_key: "keyring:box2-vllm", rpm: 600}
  - {name: local-ollama, kind: ollama, base_url: http://127.0.0.1:11434}
  - {name: claude, kind: anthropic, api_key: "env:ANTHROPIC_API_KEY"}
routes:
  - alias: chat
    targets: [box2-vllm/meta-llama/Llama-3.1-8B-Instruct, local-ollama/llama3.1:8b]
    fallbacks: [cloud-chat]
    retries: 2
  - alias: cloud-chat
    targets: [claude/claude-sonnet-4-5]
"""


def test_export_maps_targets_fallbacks_and_key_references(tmp_path: Path) -> None:
    config = tmp_path / "config.yaml"
    config.write_text(CONFIG, encoding="utf-8")
    out = tmp_path / "litellm.yaml"
    assert main(["export", "litellm", "--config", str(config), "--out", str(out)]) == 0
    document = yaml.safe_load(out.read_text(encoding="utf-8"))
    entries = [(e["model_name"], e["litellm_params"]) for e in document["model_list"]]
    # LiteLLM appends only /chat/completions to an OpenAI-compatible api_base: /v1 is where vLLM serves it.
    assert entries[0] == ("chat", {"model": "hosted_vllm/meta-llama/Llama-3.1-8B-Instruct",
                                   "api_base": "http://10.0.0.2:8000/v1", "api_key": "os.environ/BOX2_VLLM",
                                   "rpm": 600, "order": 1})
    assert entries[1][1]["model"] == "ollama_chat/llama3.1:8b"
    assert entries[2] == ("cloud-chat", {"model": "anthropic/claude-sonnet-4-5",
                                         "api_base": "https://api.anthropic.com",
                                         "api_key": "os.environ/ANTHROPIC_API_KEY", "order": 1})
    assert document["router_settings"]["fallbacks"] == [{"chat": ["cloud-chat"]}]
    assert document["router_settings"]["num_retries"] == 2
    assert document["general_settings"] == {"master_key": "os.environ/LITELLM_MASTER_KEY"}


def test_the_yaml_opens_with_the_variables_the_proxy_needs(tmp_path: Path) -> None:
    config = tmp_path / "config.yaml"
    config.write_text(CONFIG, encoding="utf-8")
    out = tmp_path / "litellm.yaml"
    assert main(["export", "litellm", "--config", str(config), "--out", str(out)]) == 0
    header = [line.split(maxsplit=2) for line in out.read_text(encoding="utf-8").splitlines() if line.startswith("#  ")]
    named = {words[1]: words[2] for words in header}
    assert list(named) == ["LITELLM_MASTER_KEY", "BOX2_VLLM", "ANTHROPIC_API_KEY"]
    assert "box2-vllm" in named["BOX2_VLLM"] and "`keyring get llmdeck box2-vllm`" in named["BOX2_VLLM"]
    assert "env:ANTHROPIC_API_KEY" in named["ANTHROPIC_API_KEY"]


def test_the_json_form_is_the_same_document_without_a_comment(tmp_path: Path,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "config.yaml"
    config.write_text(CONFIG, encoding="utf-8")
    out = tmp_path / "litellm.yaml"
    assert main(["export", "litellm", "--config", str(config), "--out", str(out)]) == 0
    assert main(["export", "litellm", "--config", str(config), "--json"]) == 0
    printed = capsys.readouterr().out
    assert printed.startswith("{") and json.loads(printed) == yaml.safe_load(out.read_text(encoding="utf-8"))


@pytest.mark.parametrize(("first", "second"), [
    ("keyring:box2-vllm", "keyring:box2.vllm"),  # both become BOX2_VLLM
    ("keyring:openai", "env:OPENAI"),
    ("env:LITELLM_MASTER_KEY", None),  # the proxy's own key is not a provider's
])
def test_two_keys_that_would_share_a_variable_are_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                          first: str, second: str | None) -> None:
    second_key = f", api_key: \"{second}\"" if second else ""
    config = tmp_path / "config.yaml"
    config.write_text(f"""
providers:
  - {{name: one, kind: vllm, base_url: http://127.0.0.1:8000, api_key: "{first}"}}
  - {{name: two, kind: vllm, base_url: http://127.0.0.1:8001{second_key}}}
routes:
  - alias: chat
    targets: [one/m, two/m]
""", encoding="utf-8")
    out = tmp_path / "litellm.yaml"
    assert main(["export", "litellm", "--config", str(config), "--out", str(out)]) == 1
    assert not out.exists()
    error = capsys.readouterr().err
    assert first in error and "would both be read from $" in error


def test_a_keyring_name_starting_with_a_digit_becomes_a_name_a_shell_can_export() -> None:
    assert env_name("keyring:2nd-box") == "KEY_2ND_BOX"
    assert env_name("keyring:box2-vllm") == "BOX2_VLLM"
    assert env_name("env:MY_KEY") == "MY_KEY"
