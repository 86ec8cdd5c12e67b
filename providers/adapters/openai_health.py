"""Health probes of the OpenAI-compatible flavours, and the parsing of their replies into Health.

Recorded from running servers (../shared/fixtures): llama-server's /health, /props, /slots, /metrics and
/v1/models; llama-cpp-python's /v1/models; LiteLLM's /health/readiness and /v1/models. Every other probe route
and reply shape here is documented (PROTOCOLS.md §4, §9), not recorded; each probe says which.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, ParamSpec, TypeVar

from providers.adapters.openai_parse import as_dict, as_float, as_str, models_from_list, props_context
from providers.adapters.prometheus import llamacpp_summary, vllm_summary
from providers.base import Health, HealthStatus
from providers.display import count
from providers.errors import AuthFailedError, NotFoundError, OverloadedError, ProviderError, ServerError

if TYPE_CHECKING:
    from providers.adapters.openai_compat import OpenAICompatAdapter

T = TypeVar("T")
P = ParamSpec("P")


async def optional(call: Callable[P, Awaitable[T]], *args: P.args, **kwargs: P.kwargs) -> T | None:
    """An extra endpoint that may be missing or switched off (llama.cpp --no-slots, no --metrics): None then.
    A refused key still counts: it means the whole provider is unauthorized. The call is made here, not by the
    caller: a probe cancelled before this starts (the console closing) leaves no coroutine that never ran."""
    try:
        return await call(*args, **kwargs)
    except AuthFailedError:
        raise
    except ProviderError:
        return None


async def probe(adapter: OpenAICompatAdapter) -> Health:
    """The flavour's probe; a failed call raises (providers.health_policy judges it)."""
    if adapter.flavour.key_required and not adapter.key():
        return Health("unauthorized", detail=f"{adapter.flavour.label} needs an API key and none is configured")
    return await _PROBES[adapter.flavour.health](adapter)


async def _loaded_models(adapter: OpenAICompatAdapter) -> tuple[str, ...]:
    listing = await adapter.get_json(adapter.api_url("/models"))
    models = models_from_list(listing, adapter.name, resident=adapter.flavour.models_resident)
    return tuple(m.name for m in models if m.loaded)


async def _models_probe(adapter: OpenAICompatAdapter) -> Health:
    # health_path: LocalAI /readyz read from its source; Open WebUI /health not verified (PROTOCOLS.md §9).
    if adapter.flavour.health_path:
        await adapter.get_text(adapter.root_url(adapter.flavour.health_path))
    return Health("up", models_loaded=await _loaded_models(adapter))


async def _vllm_probe(adapter: OpenAICompatAdapter) -> Health:
    # /health (empty 200, 503 when the engine is dead), /version and /metrics: read from vLLM's source, not recorded.
    try:
        await adapter.get_text(adapter.root_url("/health"))  # open even with --api-key
    except (OverloadedError, ServerError) as exc:
        return Health("down", detail=f"engine not healthy: {exc.message}")
    version, metrics, loaded = await asyncio.gather(
        optional(adapter.get_json, adapter.root_url("/version")),
        optional(adapter.get_text, adapter.root_url("/metrics")),
        _loaded_models(adapter),  # under /v1, so this is the call that proves the key
    )
    summary = vllm_summary(metrics) if metrics else {}
    return Health("up", version=as_str(as_dict(version).get("version")), models_loaded=loaded, metrics=summary,
                  detail=_load_detail(summary))


async def _llamacpp_probe(adapter: OpenAICompatAdapter) -> Health:
    try:
        await adapter.get_json(adapter.root_url("/health"))  # 200 {"status":"ok"}: recorded
    except OverloadedError as exc:  # 503 "Loading model": alive, not ready yet (documented, not recorded)
        return Health("degraded", detail=exc.message)
    except NotFoundError:
        # llama-cpp-python's server (also kind llamacpp) has no /health, /props or /slots: its model list is
        # what proves it up (its routes recorded in llamacpp_python_v1_models.json).
        return await _models_probe(adapter)
    props, slots, metrics, loaded = await asyncio.gather(
        optional(adapter.get_json, adapter.root_url("/props")),
        optional(adapter.get_json, adapter.root_url("/slots")),
        optional(adapter.get_text, adapter.root_url("/metrics")),
        optional(_loaded_models, adapter),
    )
    summary = llamacpp_summary(metrics) if metrics else {}
    details = []
    if isinstance(slots, list):
        states = [s for s in slots if isinstance(s, dict)]
        summary["slots_busy"] = float(sum(1 for s in states if s.get("is_processing") is True))
        summary["slots_total"] = float(len(states))
        details.append(f"{summary['slots_busy']:.0f}/{summary['slots_total']:.0f} slots busy")
    if (n_ctx := props_context(props)) is not None:
        summary["n_ctx"] = float(n_ctx)
    info = as_dict(props)
    model = as_str(info.get("model_alias")) or as_str(info.get("model_path"))
    details.append(_load_detail(summary))
    return Health("up", version=as_str(info.get("build_info")), models_loaded=loaded or ((model,) if model else ()),
                  metrics=summary, detail=" · ".join(filter(None, details)))


async def _litellm_probe(adapter: OpenAICompatAdapter) -> Health:
    # Never GET /health here: on LiteLLM it makes a real call to every model behind the proxy.
    # Liveliness is documented only (its body is not read); readiness is recorded from LiteLLM 1.106.2 without a
    # database: {"status":"healthy","db":"Not connected"}, with no `litellm_version` (the docs show one): None then.
    await adapter.get_text(adapter.root_url("/health/liveliness"))
    readiness, loaded = await asyncio.gather(
        optional(adapter.get_json, adapter.root_url("/health/readiness")),
        _loaded_models(adapter),
    )
    ready = as_dict(readiness)
    version = as_str(ready.get("litellm_version"))
    if ready.get("status") != "healthy":
        return Health("degraded", version=version, models_loaded=loaded, detail="proxy alive but not ready")
    return Health("up", version=version, models_loaded=loaded, detail=f"db: {ready.get('db', 'unknown')}")


async def _openrouter_probe(adapter: OpenAICompatAdapter) -> Health:
    # /api/v1/key: documented (OpenRouter's docs), not recorded.
    key = as_dict(as_dict(await adapter.get_json(adapter.api_url("/key"))).get("data"))
    metrics: dict[str, float] = {}
    used, remaining = as_float(key.get("usage")), as_float(key.get("limit_remaining"))
    if used is not None:
        metrics["credits_used_usd"] = used
    if remaining is None:
        return Health("up", metrics=metrics, detail="key without a credit limit")
    metrics["credits_remaining_usd"] = remaining
    status: HealthStatus = "up" if remaining > 0 else "degraded"
    return Health(status, metrics=metrics, detail=f"${remaining:.2f} credit left")


async def _deepseek_probe(adapter: OpenAICompatAdapter) -> Health:
    # /user/balance: documented (third-party mirrors of DeepSeek's docs), not recorded.
    reply = as_dict(await adapter.get_json(adapter.root_url("/user/balance")))
    metrics: dict[str, float] = {}
    parts: list[str] = []
    for info in reply.get("balance_infos") or []:
        currency, total = as_str(as_dict(info).get("currency")), as_float(as_dict(info).get("total_balance"))
        if currency and total is not None:
            metrics[f"balance_{currency.lower()}"] = total
            parts.append(f"{total:.2f} {currency}")
    if reply.get("is_available") is False:
        return Health("degraded", metrics=metrics, detail="insufficient balance")
    return Health("up", metrics=metrics, detail="balance " + ", ".join(parts) if parts else "")


async def _lmstudio_probe(adapter: OpenAICompatAdapter) -> Health:
    # /api/v0/models and its 404 on older versions: documented (LM Studio's docs), not recorded.
    try:
        listing = await adapter.get_json(adapter.root_url("/api/v0/models"))
    except ProviderError as exc:
        if exc.status != 404:
            raise
        return await _models_probe(adapter)  # LM Studio before REST v0
    models = models_from_list(listing, adapter.name, resident=False)
    return Health("up", models_loaded=tuple(m.name for m in models if m.loaded), detail=count(len(models), "model"))


def _load_detail(summary: dict[str, float]) -> str:
    parts = []
    if "requests_running" in summary:
        parts.append(f"{summary['requests_running']:.0f} running")
    if "requests_waiting" in summary:
        parts.append(f"{summary['requests_waiting']:.0f} waiting")
    if "kv_cache_usage" in summary:
        parts.append(f"KV {summary['kv_cache_usage'] * 100:.0f}%")
    return " · ".join(parts)


_PROBES: dict[str, Callable[[OpenAICompatAdapter], Awaitable[Health]]] = {
    "models": _models_probe, "vllm": _vllm_probe, "llamacpp": _llamacpp_probe, "litellm": _litellm_probe,
    "openrouter": _openrouter_probe, "deepseek": _deepseek_probe, "lmstudio": _lmstudio_probe,
}
