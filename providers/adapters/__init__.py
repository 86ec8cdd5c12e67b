"""One adapter per wire protocol; `build_adapter` picks the class for a provider kind."""

from __future__ import annotations

import importlib

import httpx

from providers.base import Adapter, AdapterOptions

OPENAI_FLAVOURS = (
    "openai", "vllm", "llamacpp", "lmstudio", "localai", "textgen", "openrouter", "deepseek", "openwebui",
    "litellm", "portkey", "huggingface",
)

ADAPTERS: dict[str, str] = {
    **dict.fromkeys(OPENAI_FLAVOURS, "providers.adapters.openai_compat:OpenAICompatAdapter"),
    "ollama": "providers.adapters.ollama:OllamaAdapter",
    "anthropic": "providers.adapters.anthropic:AnthropicAdapter",
    "tgi": "providers.adapters.huggingface:TGIAdapter",
    "a1111": "providers.adapters.a1111:A1111Adapter",
    "comfyui": "providers.adapters.comfyui:ComfyUIAdapter",
    "chroma": "providers.adapters.chroma:ChromaAdapter",
    "qdrant": "providers.adapters.services:QdrantAdapter",
    "milvus": "providers.adapters.services:MilvusAdapter",
    "n8n": "providers.adapters.n8n:N8nAdapter",
    "civitai": "providers.adapters.hosted_services:CivitaiAdapter",
    "dropbox": "providers.adapters.hosted_services:DropboxAdapter",
    "reticulum": "providers.adapters.reticulum:ReticulumAdapter",
}
"""Kind → `module:Class`, imported on first use so start-up stays fast."""


def adapter_class(kind: str) -> type[Adapter]:
    """The adapter class for a kind; KeyError when llmdeck has no adapter for it yet."""
    module_name, _, class_name = ADAPTERS[kind].partition(":")
    cls: type[Adapter] = getattr(importlib.import_module(module_name), class_name)
    return cls


def build_adapter(options: AdapterOptions, client: httpx.AsyncClient) -> Adapter:
    """An adapter for `options.kind`, sharing the deck's client."""
    return adapter_class(options.kind)(options, client)
