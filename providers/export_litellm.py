"""The routes as a LiteLLM proxy config: one model_list entry per target, fallbacks and strategy carried over."""

from __future__ import annotations

import re
from typing import Any

from config.schema import DeckConfig, ProviderConfig

# llmdeck kind → LiteLLM provider prefix; OpenAI-compatible servers without their own prefix use `openai/` + api_base.
_PREFIX = {
    "openai": "openai", "anthropic": "anthropic", "ollama": "ollama_chat", "vllm": "hosted_vllm",
    "openrouter": "openrouter", "deepseek": "deepseek", "huggingface": "huggingface", "lmstudio": "lm_studio",
    "tgi": "huggingface",
}
_STRATEGY = {
    "ordered": "simple-shuffle", "weighted": "simple-shuffle", "lowest-latency": "latency-based-routing",
    "lowest-cost": "cost-based-routing", "least-busy": "least-busy",
}
_OPENAI_V1 = {"llamacpp", "localai", "textgen", "openwebui", "litellm", "portkey", "vllm", "lmstudio", "openai"}


def env_name(reference: str) -> str:
    """`keyring:box2-vllm` → `BOX2_VLLM`; `env:VAR` → `VAR`. Keys travel only as environment references."""
    scheme, _, name = reference.partition(":")
    if scheme == "env":
        return name
    return re.sub(r"[^A-Za-z0-9]+", "_", name).strip("_").upper()


def _params(provider: ProviderConfig, model: str) -> dict[str, Any]:
    params: dict[str, Any] = {"model": f"{_PREFIX.get(provider.kind, 'openai')}/{model}"}
    if provider.base_url:
        needs_v1 = provider.kind in _OPENAI_V1 and provider.kind not in ("openai", "vllm")
        params["api_base"] = provider.base_url + ("/v1" if needs_v1 or provider.v1_suffix else "")
    if provider.api_key:
        params["api_key"] = f"os.environ/{env_name(provider.api_key)}"
    if provider.rpm:
        params["rpm"] = provider.rpm
    if provider.tpm:
        params["tpm"] = provider.tpm
    return params


def litellm_config(config: DeckConfig) -> dict[str, Any]:
    """A LiteLLM proxy config document (no secret in it: keys are `os.environ/NAME` references)."""
    providers = {p.name: p for p in config.providers}
    model_list: list[dict[str, Any]] = []
    fallbacks: list[dict[str, list[str]]] = []
    strategies: set[str] = set()
    for route in config.routes:
        for order, target in enumerate(route.targets):
            provider = providers[target.provider]
            entry: dict[str, Any] = {"model_name": route.alias, "litellm_params": _params(provider, target.model)}
            if route.strategy == "weighted":
                entry["litellm_params"]["weight"] = target.weight
            if route.strategy == "ordered":
                entry["litellm_params"]["order"] = order + 1
            model_list.append(entry)
        if route.fallbacks:
            fallbacks.append({route.alias: list(route.fallbacks)})
        strategies.add(_STRATEGY[route.strategy])
    document: dict[str, Any] = {"model_list": model_list}
    settings: dict[str, Any] = {"num_retries": max((r.retries for r in config.routes), default=0)}
    if fallbacks:
        settings["fallbacks"] = fallbacks
    if len(strategies) == 1:
        settings["routing_strategy"] = strategies.pop()
    document["router_settings"] = settings
    return document
