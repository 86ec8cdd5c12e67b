"""The kinds table, auto-discovery defaults, and where the config and data live."""

from __future__ import annotations

import re
from pathlib import Path
from typing import get_args

import pytest

from config.kinds import KINDS, Kind, unknown_kind_message
from config.loader import discovered_provider, discovery_candidates, load_discovery_config
from config.paths import data_dir, locate_config
from config.secret_ref import parse_secret_ref

INTERFACE_KINDS = (
    "ollama", "openai", "vllm", "llamacpp", "lmstudio", "localai", "textgen", "openrouter", "deepseek", "openwebui",
    "litellm", "portkey", "anthropic", "tgi", "huggingface", "a1111", "comfyui", "chroma", "qdrant", "milvus", "n8n",
    "civitai", "dropbox", "reticulum",
)


def test_kind_type_and_table_list_every_interface_kind() -> None:
    assert set(get_args(Kind)) == set(KINDS) == set(INTERFACE_KINDS)


@pytest.mark.parametrize(
    ("kind", "url"),
    [
        ("openai", "https://api.openai.com/v1"),
        ("anthropic", "https://api.anthropic.com"),
        ("openrouter", "https://openrouter.ai/api/v1"),
        ("deepseek", "https://api.deepseek.com"),
        ("huggingface", "https://router.huggingface.co/v1"),
        ("portkey", "https://api.portkey.ai/v1"),
    ],
)
def test_cloud_kinds_default_to_the_vendor_url(kind: str, url: str) -> None:
    assert KINDS[kind].default_base_url == url
    assert not KINDS[kind].local


@pytest.mark.parametrize(
    ("kind", "port"),
    [("ollama", 11434), ("vllm", 8000), ("llamacpp", 8080), ("lmstudio", 1234), ("a1111", 7860), ("comfyui", 8188),
     ("litellm", 4000), ("tgi", 3000), ("localai", 8080), ("textgen", 5000), ("openwebui", 3000), ("chroma", 8000),
     ("qdrant", 6333), ("milvus", 19530), ("n8n", 5678)],
)
def test_local_kinds_know_their_usual_port(kind: str, port: int) -> None:
    assert KINDS[kind].local
    assert KINDS[kind].ports[0] == port


def test_families_split_chat_images_and_services() -> None:
    assert KINDS["vllm"].family == "openai-compatible" and KINDS["vllm"].serves_chat
    assert KINDS["comfyui"].serves_images and not KINDS["comfyui"].serves_chat
    assert KINDS["qdrant"].family == "vector-db" and not KINDS["qdrant"].serves_chat


def test_unknown_kind_suggests_the_closest() -> None:
    assert unknown_kind_message("olama") == "unknown kind 'olama' — did you mean 'ollama'?"
    assert unknown_kind_message("zzz").startswith("unknown kind 'zzz'; known kinds: ollama, openai,")


def test_discovery_defaults_cover_every_local_http_kind_port() -> None:
    candidates = discovery_candidates()
    for info in KINDS.values():
        if info.local and info.needs_base_url:
            assert (info.name, f"http://127.0.0.1:{info.ports[0]}") in candidates
    assert all(re.fullmatch(r"http://127\.0\.0\.1:\d+", url) for _, url in candidates)


def test_discovery_config_names_providers_kind_port() -> None:
    config = load_discovery_config()
    assert config.provider("ollama-11434") is not None
    assert len({p.name for p in config.providers}) == len(config.providers)
    assert discovered_provider("vllm", "http://127.0.0.1:8001").name == "vllm-8001"


def test_secret_reference_parsing() -> None:
    assert str(parse_secret_ref("keyring:box2-vllm")) == "keyring:box2-vllm"
    assert parse_secret_ref("env:OPENAI_API_KEY").name == "OPENAI_API_KEY"
    with pytest.raises(ValueError, match="never the key itself") as caught:
        parse_secret_ref("sk-literal-0123456789abcdef")
    assert "0123456789" not in str(caught.value)
    with pytest.raises(ValueError, match="env:VAR"):
        parse_secret_ref("env:1BAD")


def test_config_path_prefers_argument_then_env_then_user_config_dir(isolated_home: Path) -> None:
    env = {"LLMDECK_CONFIG": "~/from-env.yaml"}
    assert locate_config("/etc/llmdeck.yaml", env).path == Path("/etc/llmdeck.yaml")
    assert locate_config("/etc/llmdeck.yaml", env).explicit
    from_env = locate_config(None, env)
    assert (from_env.path, from_env.source) == (isolated_home / "from-env.yaml", "environment")
    default = locate_config(None, {})
    assert (default.path, default.explicit) == (isolated_home / ".config" / "llmdeck" / "config.yaml", False)
    assert not default.path.parent.exists()  # resolving never creates directories


def test_data_dir_from_env_else_user_data_dir(isolated_home: Path) -> None:
    assert data_dir({"LLMDECK_DATA_DIR": "/srv/deck"}) == Path("/srv/deck")
    assert data_dir({}) == isolated_home / ".local" / "share" / "llmdeck"
    assert not (isolated_home / ".local" / "share" / "llmdeck").exists()
