"""The OpenAI-compatible flavours as data: where their routes live, their auth, extra endpoints and quirks."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

from providers.base import Capabilities

HealthProbe = Literal["models", "vllm", "llamacpp", "litellm", "openrouter", "deepseek", "lmstudio"]
"""Which health strategy a flavour uses (see openai_health.py); "models" = GET the model list."""

Catalog = Literal["models", "llamacpp", "lmstudio", "openrouter"]
"""Which catalog strategy a flavour uses; "models" = the OpenAI model list alone."""

_CHAT_EMBED = Capabilities(chat=True, embed=True)
_CHAT_ONLY = Capabilities(chat=True)


@dataclass(frozen=True, slots=True)
class TokenizeRoute:
    """A server route that counts tokens: POST `path` (root-relative) with the text under each of `text_fields`
    and the model under "model"; the reply holds `tokens` (a list) or `count`."""

    path: str
    text_fields: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Flavour:
    """One OpenAI-compatible server family. Paths are relative to the server root (`base_url` minus /v1)."""

    kind: str
    label: str
    default_base_url: str | None = None
    api_prefix: str = "/v1"
    """Where /chat/completions, /models, /embeddings live, relative to the root."""
    root_suffix: str = ""
    """A path the root must end with (OpenRouter serves everything under /api)."""
    key_required: bool = False
    """A hosted API that refuses every call without a key (sent as Bearer; Portkey's x-portkey-* headers
    come from options.headers). Local servers take a key only when started with one."""
    stream_usage: bool = True
    """Send stream_options.include_usage; off where the server does not list the field."""
    max_tokens_field: str = "max_tokens"
    continue_fields: Mapping[str, object] = field(default_factory=dict)
    """Extra body fields that make the server continue a trailing assistant message instead of answering it."""
    health: HealthProbe = "models"
    health_path: str | None = None
    """A cheap liveness route tried before the model list (root-relative), when the server has one."""
    catalog: Catalog = "models"
    models_resident: bool = False
    """Every model the list names is loaded in memory (a local server serving what it was started with)."""
    capabilities: Capabilities = _CHAT_EMBED
    default_image_model: str | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    tokenize: tuple[TokenizeRoute, ...] = ()
    """Where to count tokens when a reply comes without usage, tried in order (the next on 404 / 405)."""


FLAVOURS: dict[str, Flavour] = {
    flavour.kind: flavour
    for flavour in (
        Flavour(
            "openai", "OpenAI", default_base_url="https://api.openai.com", key_required=True,
            # Reasoning models refuse the legacy max_tokens; every OpenAI chat model takes this one.
            max_tokens_field="max_completion_tokens",
            capabilities=Capabilities(chat=True, embed=True, images=True),
            default_image_model="gpt-image-1",
        ),
        Flavour(
            "vllm", "vLLM", health="vllm", models_resident=True,
            # vLLM answers a trailing assistant message unless told to continue it.
            continue_fields={"continue_final_message": True, "add_generation_prompt": False},
            capabilities=Capabilities(chat=True, embed=True, metrics=True),
            # {"model", "prompt"} → {"count", "max_model_len", "tokens"}; open even with --api-key.
            tokenize=(TokenizeRoute("/tokenize", ("prompt",)),),
        ),
        Flavour(
            "llamacpp", "llama.cpp", health="llamacpp", catalog="llamacpp", models_resident=True,
            capabilities=Capabilities(chat=True, embed=True, metrics=True, load=True, unload=True),
            # llama-server: /tokenize {"content"} → {"tokens"}. llama-cpp-python's server (same kind) answers
            # that with 404 and serves /extras/tokenize {"input"} → {"tokens"}; its early 0.2 builds served
            # /tokenize with "input", hence both fields there (each server ignores the other's).
            tokenize=(TokenizeRoute("/tokenize", ("content", "input")), TokenizeRoute("/extras/tokenize", ("input",))),
        ),
        Flavour(
            "lmstudio", "LM Studio", health="lmstudio", catalog="lmstudio",
            capabilities=Capabilities(chat=True, embed=True, load=True, unload=True),
        ),
        Flavour(
            "localai", "LocalAI", health_path="/readyz",
            capabilities=Capabilities(chat=True, embed=True, images=True),
        ),
        Flavour(
            "textgen", "text-generation-webui", stream_usage=False, models_resident=True,
            capabilities=Capabilities(chat=True, embed=True, images=True),
        ),
        Flavour(
            "openrouter", "OpenRouter", default_base_url="https://openrouter.ai/api", root_suffix="/api",
            key_required=True,
            health="openrouter", catalog="openrouter", capabilities=_CHAT_ONLY,
            headers={"X-Title": "llmdeck"},
        ),
        Flavour(
            "deepseek", "DeepSeek", default_base_url="https://api.deepseek.com", api_prefix="", key_required=True,
            health="deepseek", capabilities=_CHAT_ONLY,
        ),
        Flavour("openwebui", "Open WebUI", api_prefix="/api", health_path="/health", capabilities=_CHAT_ONLY),
        Flavour("litellm", "LiteLLM proxy", health="litellm"),
        Flavour("portkey", "Portkey gateway", default_base_url="https://api.portkey.ai"),
        Flavour("huggingface", "Hugging Face router", default_base_url="https://router.huggingface.co",
                key_required=True, capabilities=_CHAT_ONLY),
    )
}


def flavour_for(kind: str) -> Flavour:
    """The flavour of a kind; an unknown kind is treated as plain OpenAI-compatible."""
    return FLAVOURS.get(kind) or Flavour(kind, kind)


def server_root(base_url: str, flavour: Flavour) -> str:
    """The server root from a base URL typed either as the root or ending in the API prefix (/v1)."""
    root = base_url.strip().rstrip("/")
    if flavour.api_prefix and root.endswith(flavour.api_prefix):
        root = root[: -len(flavour.api_prefix)].rstrip("/")
    elif not flavour.api_prefix and root.endswith("/v1"):
        root = root[:-3]  # DeepSeek accepts /v1 as an alias of its root
    if flavour.root_suffix and not root.endswith(flavour.root_suffix):
        root += flavour.root_suffix
    return root
