"""Every provider kind llmdeck knows: its protocol family, cloud default URL and usual local ports."""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from typing import Literal

Family = Literal["openai-compatible", "ollama", "anthropic", "tgi", "a1111", "comfyui", "vector-db", "service"]

Kind = Literal[
    "ollama", "openai", "vllm", "llamacpp", "lmstudio", "localai", "textgen", "openrouter", "deepseek",
    "openwebui", "litellm", "portkey", "anthropic", "tgi", "huggingface", "a1111", "comfyui", "chroma",
    "qdrant", "milvus", "n8n", "civitai", "dropbox", "reticulum",
]

CHAT_FAMILIES: frozenset[Family] = frozenset({"openai-compatible", "ollama", "anthropic", "tgi"})
IMAGE_FAMILIES: frozenset[Family] = frozenset({"a1111", "comfyui"})


@dataclass(frozen=True, slots=True)
class KindInfo:
    """What llmdeck assumes about one kind of backend."""

    name: str
    family: Family
    local: bool
    """Runs on a machine of the lab (needs a base_url) rather than as a hosted cloud API."""
    default_base_url: str | None = None
    """Used when a provider of this kind has no base_url (cloud kinds only)."""
    ports: tuple[int, ...] = ()
    """Usual local ports, most common first; auto-discovery probes these on 127.0.0.1."""
    needs_base_url: bool = True
    """False for kinds that are not reached over HTTP (reticulum talks to a local daemon)."""

    @property
    def serves_chat(self) -> bool:
        """Can be a route target for chat."""
        return self.family in CHAT_FAMILIES

    @property
    def serves_images(self) -> bool:
        """Can generate images."""
        return self.family in IMAGE_FAMILIES

    def local_url(self) -> str | None:
        """The usual loopback URL of a local kind, for examples and hints."""
        return f"http://127.0.0.1:{self.ports[0]}" if self.ports else None


def _local(name: str, family: Family, *ports: int) -> KindInfo:
    return KindInfo(name=name, family=family, local=True, ports=ports)


def _cloud(name: str, family: Family, url: str, *ports: int) -> KindInfo:
    return KindInfo(name=name, family=family, local=False, default_base_url=url, ports=ports)


KINDS: dict[str, KindInfo] = {
    info.name: info
    for info in (
        _local("ollama", "ollama", 11434),
        _cloud("openai", "openai-compatible", "https://api.openai.com/v1"),
        _local("vllm", "openai-compatible", 8000),
        # llama.cpp builds default to 8080; the newest README says 9931 (PROTOCOLS.md §llama.cpp).
        _local("llamacpp", "openai-compatible", 8080, 9931),
        _local("lmstudio", "openai-compatible", 1234),
        _local("localai", "openai-compatible", 8080),
        _local("textgen", "openai-compatible", 5000),
        _cloud("openrouter", "openai-compatible", "https://openrouter.ai/api/v1"),
        _cloud("deepseek", "openai-compatible", "https://api.deepseek.com"),
        # The container listens on 8080 and is usually published on 3000.
        _local("openwebui", "openai-compatible", 3000, 8080),
        _local("litellm", "openai-compatible", 4000),
        # Hosted by default; the open-source gateway runs locally on 8787.
        _cloud("portkey", "openai-compatible", "https://api.portkey.ai/v1", 8787),
        _cloud("anthropic", "anthropic", "https://api.anthropic.com"),
        # The launcher defaults to 3000; the Docker image is usually published on 8080.
        _local("tgi", "tgi", 3000, 8080),
        # The Inference Providers router speaks the OpenAI protocol.
        _cloud("huggingface", "openai-compatible", "https://router.huggingface.co/v1"),
        _local("a1111", "a1111", 7860),
        _local("comfyui", "comfyui", 8188),
        _local("chroma", "vector-db", 8000),
        _local("qdrant", "vector-db", 6333),
        _local("milvus", "vector-db", 19530),
        _local("n8n", "service", 5678),
        _cloud("civitai", "service", "https://civitai.com/api/v1"),
        _cloud("dropbox", "service", "https://api.dropboxapi.com"),
        KindInfo(name="reticulum", family="service", local=True, ports=(37428,), needs_base_url=False),
    )
}
"""Kind name → what llmdeck assumes about it; the single list every other module reads."""

KIND_NAMES: tuple[str, ...] = tuple(KINDS)


def kind_info(name: str) -> KindInfo:
    """The facts about a kind; KeyError for an unknown kind."""
    return KINDS[name]


def closest(word: str, choices: tuple[str, ...] | list[str]) -> str | None:
    """The most similar choice to a misspelt word, or None when nothing is close."""
    matches = difflib.get_close_matches(word, choices, n=1, cutoff=0.6)
    return matches[0] if matches else None


def unknown_kind_message(name: str) -> str:
    """What to tell the operator about a kind llmdeck does not know."""
    guess = closest(name.lower(), KIND_NAMES)
    if guess:
        return f"unknown kind '{name}' — did you mean '{guess}'?"
    return f"unknown kind '{name}'; known kinds: {', '.join(KIND_NAMES)}"
