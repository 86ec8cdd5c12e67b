"""`llmdeck export litellm`: routes become a LiteLLM proxy config with keys as environment references only."""

from __future__ import annotations

from pathlib import Path

import yaml

from console.cli import main

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
    assert entries[0] == ("chat", {"model": "hosted_vllm/meta-llama/Llama-3.1-8B-Instruct",
                                   "api_base": "http://10.0.0.2:8000", "api_key": "os.environ/BOX2_VLLM",
                                   "rpm": 600, "order": 1})
    assert entries[1][1]["model"] == "ollama_chat/llama3.1:8b"
    assert entries[2] == ("cloud-chat", {"model": "anthropic/claude-sonnet-4-5",
                                         "api_base": "https://api.anthropic.com",
                                         "api_key": "os.environ/ANTHROPIC_API_KEY", "order": 1})
    assert document["router_settings"]["fallbacks"] == [{"chat": ["cloud-chat"]}]
    assert document["router_settings"]["num_retries"] == 2
