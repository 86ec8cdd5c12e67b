"""The routes as a LiteLLM proxy config: one model_list entry per target, fallbacks and strategy carried over.

No secret is ever written: the proxy's master key and every provider key are `os.environ/NAME` references, and
the YAML form opens with a comment naming each variable the proxy needs and where llmdeck keeps its value."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from config.schema import DeckConfig, ProviderConfig
from config.secret_ref import parse_secret_ref
from config.secrets import SERVICE
from providers.adapters.openai_flavours import FLAVOURS, server_root

MASTER_KEY_VARIABLE = "LITELLM_MASTER_KEY"
"""LiteLLM's own name for it: since 1.108 the proxy refuses to start without a master key (UnsafeMasterKeyError)."""

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


class ExportError(ValueError):
    """The routes cannot be exported honestly (two different keys would share one environment variable)."""


@dataclass(frozen=True, slots=True)
class NeededVariable:
    """An environment variable the exported proxy reads, and where its value comes from."""

    name: str
    source: str
    """Human words for the comment: what the value is and where llmdeck keeps it; never the value."""


def env_name(reference: str) -> str:
    """`keyring:box2-vllm` → `BOX2_VLLM`; `env:VAR` → `VAR`. Keys travel only as environment references."""
    scheme, _, name = reference.partition(":")
    if scheme == "env":
        return name
    variable = re.sub(r"[^A-Za-z0-9]+", "_", name).strip("_").upper()
    # A shell cannot export a name that starts with a digit, and the proxy's operator has to set it.
    return f"KEY_{variable}" if variable[:1].isdigit() else variable


def _api_base(provider: ProviderConfig, base_url: str) -> str:
    """Where LiteLLM should send the calls llmdeck sends. For OpenAI-compatible servers LiteLLM appends only
    /chat/completions, so the API prefix llmdeck's adapter uses (/v1 for most, /api for Open WebUI, none for
    DeepSeek) goes into api_base. Other kinds (Ollama, Anthropic, TGI) keep the base URL as it was written."""
    flavour = FLAVOURS.get(provider.kind)
    if flavour is None:
        return base_url + ("/v1" if provider.v1_suffix else "")
    return server_root(base_url, flavour) + flavour.api_prefix


def _params(provider: ProviderConfig, model: str) -> dict[str, Any]:
    params: dict[str, Any] = {"model": f"{_PREFIX.get(provider.kind, 'openai')}/{model}"}
    if provider.base_url:
        params["api_base"] = _api_base(provider, provider.base_url)
    if provider.api_key:
        params["api_key"] = f"os.environ/{env_name(provider.api_key)}"
    if provider.rpm:
        params["rpm"] = provider.rpm
    if provider.tpm:
        params["tpm"] = provider.tpm
    return params


def _exported_providers(config: DeckConfig) -> list[ProviderConfig]:
    """The providers some route target names, in the order the routes first name them."""
    providers = {p.name: p for p in config.providers}
    named = dict.fromkeys(target.provider for route in config.routes for target in route.targets)
    return [providers[name] for name in named]


def _key_source(reference: str, provider_names: list[str]) -> str:
    ref = parse_secret_ref(reference)
    whose = f"key of provider{'s' if len(provider_names) > 1 else ''} {', '.join(provider_names)}"
    if ref.source == "env":
        return f"{whose}; llmdeck reads the same variable ({reference})"
    return f"{whose}; llmdeck keeps it in the keyring as {ref.name} (`keyring get {SERVICE} {ref.name}` prints it)"


def needed_variables(config: DeckConfig) -> list[NeededVariable]:
    """Every environment variable the exported config reads: the master key first, then each provider key once.
    ExportError when two different key references would land in one variable (the proxy would send one key to
    both backends)."""
    users: dict[str, list[str]] = {}
    for provider in _exported_providers(config):
        if provider.api_key:
            users.setdefault(provider.api_key, []).append(provider.name)
    needed = [NeededVariable(MASTER_KEY_VARIABLE, "the proxy's own key, which it will not start without; clients "
                                                 "send it as `Authorization: Bearer …`")]
    claimed = {MASTER_KEY_VARIABLE: "the proxy's master key"}
    for reference, names in users.items():
        variable = env_name(reference)
        if variable in claimed:
            raise ExportError(f"{reference} and {claimed[variable]} would both be read from ${variable}; "
                              "rename one so each key has a variable of its own")
        claimed[variable] = reference
        needed.append(NeededVariable(variable, _key_source(reference, names)))
    return needed


def litellm_config(config: DeckConfig) -> dict[str, Any]:
    """A LiteLLM proxy config document (no secret in it: keys are `os.environ/NAME` references)."""
    needed_variables(config)  # refuses a config whose keys would collide before anything is built from it
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
    document["general_settings"] = {"master_key": f"os.environ/{MASTER_KEY_VARIABLE}"}
    return document


def yaml_header(config: DeckConfig) -> str:
    """The comment the YAML form opens with: which variables to set before starting the proxy."""
    needed = needed_variables(config)
    width = max(len(variable.name) for variable in needed)
    lines = ["# LiteLLM proxy config exported by llmdeck. It holds no secret: the proxy reads every key from the",
             "# environment when it starts, so set these variables first:"]
    lines += [f"#   {variable.name.ljust(width)}  {variable.source}" for variable in needed]
    return "\n".join(lines) + "\n"
