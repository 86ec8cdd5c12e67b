"""The non-OpenAI routes of the vLLM, llama.cpp and llama-cpp-python emulators: health, version, props, slots,
Prometheus /metrics reflecting the live in-flight requests, llama.cpp router-mode load/unload, and each server's
tokenize route."""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from providers.emulators.faults import RequestFaults
from providers.emulators.openai_state import (
    LLAMACPP_SLOTS,
    TTFT_BUCKETS,
    VLLM_KV_CAPACITY_TOKENS,
    ServerState,
    error_response,
)

Handler = Callable[[Request], Awaitable[Response]]
FaultedHandler = Callable[[Request, RequestFaults], Awaitable[Response]]
"""A route body that gets the request's faults after delay, stalls and status faults were applied."""
PROMETHEUS_TYPE = "text/plain; version=0.0.4; charset=utf-8"


def _metric(lines: list[str], name: str, kind: str, help_text: str, samples: list[tuple[str, float]]) -> None:
    lines += [f"# HELP {name} {help_text}", f"# TYPE {name} {kind}"]
    lines += [f"{name}{labels} {value!r}" for labels, value in samples]


def vllm_metrics(state: ServerState) -> str:
    """vLLM's Prometheus exposition (V1 engine names, plus the pre-0.9 KV gauge)."""
    model = next(iter(state.models))
    labels = f'{{engine="0",model_name="{model}"}}'
    running, waiting = state.busy()
    kv_tokens = sum(r.n_prompt + r.n_generated for r in state.inflight.values())
    kv_usage = min(1.0, kv_tokens / VLLM_KV_CAPACITY_TOKENS)
    lines: list[str] = []
    _metric(lines, "vllm:num_requests_running", "gauge", "Number of requests in model execution batches.",
            [(labels, float(running))])
    _metric(lines, "vllm:num_requests_waiting", "gauge", "Number of requests waiting to be processed.",
            [(labels, float(waiting))])
    _metric(lines, "vllm:kv_cache_usage_perc", "gauge", "KV-cache usage. 1 means 100 percent usage.",
            [(labels, kv_usage)])
    _metric(lines, "vllm:gpu_cache_usage_perc", "gauge", "GPU KV-cache usage. 1 means 100 percent usage.",
            [(labels, kv_usage)])
    _metric(lines, "vllm:prompt_tokens_total", "counter", "Number of prefill tokens processed.",
            [(labels, float(state.prompt_tokens_total))])
    _metric(lines, "vllm:generation_tokens_total", "counter", "Number of generation tokens processed.",
            [(labels, float(state.generation_tokens_total))])
    _metric(lines, "vllm:request_success_total", "counter", "Count of successfully processed requests.",
            [(f'{{engine="0",finished_reason="stop",model_name="{model}"}}', float(state.finished))])
    cumulative, buckets = 0, []
    for bound, count in zip((*TTFT_BUCKETS, float("inf")), state.ttft_counts, strict=True):
        cumulative += count
        le = "+Inf" if bound == float("inf") else repr(bound)
        buckets.append((f'{{engine="0",le="{le}",model_name="{model}"}}', float(cumulative)))
    name = "vllm:time_to_first_token_seconds"
    lines += [f"# HELP {name} Histogram of time to first token in seconds.", f"# TYPE {name} histogram"]
    lines += [f"{name}_bucket{labels_} {value!r}" for labels_, value in buckets]
    lines += [f"{name}_sum{labels} {state.ttft_sum!r}", f"{name}_count{labels} {float(cumulative)!r}"]
    return "\n".join(lines) + "\n"


def llamacpp_metrics(state: ServerState) -> str:
    """llama-server's --metrics exposition: the names, order and HELP texts of the recorded fixture. The emulator
    keeps no prompt cache and does no speculative decoding, so those counters stay 0."""
    running, waiting = state.busy()
    lines: list[str] = []
    prompt_rate = state.prompt_tokens_total / state.prompt_seconds_total if state.prompt_seconds_total else 0.0
    gen_rate = state.generation_tokens_total / state.generation_seconds_total if state.generation_seconds_total else 0.0
    for name, kind, help_text, value in (
        ("prompt_tokens_total", "counter", "Number of prompt tokens processed, excluding cached tokens",
         state.prompt_tokens_total),
        ("prompt_tokens_cached_total", "counter", "Number of prompt tokens reused from the cache", 0),
        ("prompt_seconds_total", "counter", "Total time spent processing prompts", state.prompt_seconds_total),
        ("tokens_predicted_total", "counter", "Number of generation tokens processed", state.generation_tokens_total),
        ("tokens_predicted_seconds_total", "counter", "Total time spent generating tokens",
         state.generation_seconds_total),
        ("n_decode_total", "counter",
         "Total number of llama_decode() calls, excluding speculative decoding and multimodal decoding",
         state.n_decode_total),
        ("n_tokens_max", "counter", "Largest observed sequence length (prompt + generation)", state.n_tokens_max),
        ("spec_decode_num_draft_tokens_total", "counter", "Speculative: Total draft tokens generated", 0),
        ("spec_decode_num_accepted_tokens_total", "counter",
         "Speculative: Total draft tokens accepted by the target model", 0),
        ("spec_decode_num_drafts_total", "counter", "Speculative: Total speculative decoding verification steps", 0),
        ("prompt_tokens_seconds", "gauge", "Average prompt throughput in tokens/s", prompt_rate),
        ("predicted_tokens_seconds", "gauge", "Average generation throughput in tokens/s", gen_rate),
        ("requests_processing", "gauge", "Number of requests processing", running),
        ("requests_deferred", "gauge", "Number of requests deferred", waiting),
        ("n_busy_slots_per_decode", "gauge", "Average number of busy slots per llama_decode() call",
         state.n_busy_slots_total / max(1, state.n_decode_total)),
    ):
        _metric(lines, f"llamacpp:{name}", kind, help_text, [("", float(value))])
    return "\n".join(lines) + "\n"


# llama-server's default sampling settings, as /props recorded them (its floats are float32s printed as doubles).
_SAMPLERS = ["penalties", "dry", "top_n_sigma", "top_k", "typ_p", "top_p", "min_p", "xtc", "temperature"]
_DEFAULT_PARAMS: dict[str, Any] = {
    "seed": 4294967295, "temperature": 0.8, "dynatemp_range": 0.0, "dynatemp_exponent": 1.0, "top_k": 40,
    "top_p": 0.95, "min_p": 0.05, "top_n_sigma": -1.0, "xtc_probability": 0.0, "xtc_threshold": 0.1,
    "typical_p": 1.0, "repeat_last_n": 64, "repeat_penalty": 1.0, "presence_penalty": 0.0, "frequency_penalty": 0.0,
    "dry_multiplier": 0.0, "dry_base": 1.75, "dry_allowed_length": 2, "dry_penalty_last_n": 64, "mirostat": 0,
    "mirostat_tau": 5.0, "mirostat_eta": 0.1, "adaptive_target": -1.0, "adaptive_decay": 0.9, "max_tokens": -1,
    "n_predict": -1, "n_keep": 0, "n_discard": 0, "ignore_eos": False, "stream": False, "n_probs": 0, "min_keep": 0,
    "chat_format": "Content-only", "reasoning_format": "none", "reasoning_in_content": False,
    "generation_prompt": "", "samplers": _SAMPLERS, "speculative.types": "none", "timings_per_token": False,
    "post_sampling_probs": False, "backend_sampling": False, "lora": [],
}
_REQUEST_NUMBERS = ("seed", "temperature", "top_k", "top_p", "min_p", "typical_p", "repeat_penalty",
                    "presence_penalty", "frequency_penalty")
"""Request fields a task's params take over when they are numbers."""


def generation_params(body: dict[str, Any] | None = None, max_tokens: int | None = None) -> dict[str, Any]:
    """The `params` of /props (no body) or of a chat task on /slots (its request's settings)."""
    params = {**_DEFAULT_PARAMS, "samplers": list(_SAMPLERS), "lora": []}
    if body is None:
        return params
    for name in _REQUEST_NUMBERS:
        value = body.get(name)
        if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
            params[name] = value
    # A chat task is formatted by the model's template; these are what the recorded chat slot showed.
    params.update(chat_format="peg-native", reasoning_format="deepseek", stream=body.get("stream") is True,
                  max_tokens=max_tokens or -1, n_predict=max_tokens or -1)
    return params


def llamacpp_props(state: ServerState) -> dict[str, Any]:
    """GET /props: the running context, slot count, model path and build of the active model."""
    model = state.active_model()
    return {
        "default_generation_settings": {"params": generation_params(), "n_ctx": model.context},
        "total_slots": LLAMACPP_SLOTS, "model_alias": model.id, "model_ftype": model.ftype,
        "model_path": f"/models/{model.id}.gguf", "modalities": {"vision": False, "video": False, "audio": False},
        # A random marker per server start in llama-server; a fixed one here.
        "media_marker": "<__media_emulated0000000000000000000000__>",
        "endpoint_slots": True, "endpoint_props": False, "endpoint_metrics": True, "ui": True, "ui_settings": {},
        "chat_template": "{% for m in messages %}{{ m['content'] }}{% endfor %}",
        "chat_template_caps": {"supports_object_arguments": False, "supports_parallel_tool_calls": False,
                               "supports_preserve_reasoning": False, "supports_reasoning_effort": False,
                               "supports_string_content": True, "supports_system_role": True,
                               "supports_tool_calls": False, "supports_tools": False,
                               "supports_typed_content": False},
        "bos_token": "<|begin_of_text|>", "eos_token": "<|eot_id|>", "build_info": state.fingerprint,
        "is_sleeping": False, "cors_proxy_enabled": False,
    }


def llamacpp_slots(state: ServerState) -> list[dict[str, Any]]:
    """GET /slots: one entry per slot. A slot that never ran a task shows four keys; one that did keeps its last
    task (id, prompt, params) after it ends, with is_processing and has_next_token false, as llama-server does."""
    model = state.active_model()
    slots = []
    for index in range(LLAMACPP_SLOTS):
        slot: dict[str, Any] = {"id": index, "n_ctx": model.context, "speculative": False}
        task = state.slot_tasks.get(index)
        working = task is not None and task.id in state.inflight
        slot["is_processing"] = working
        if task is not None:
            # Progress counts are reset when the slot is released (the recorded idle slot shows zeros).
            decoded = task.n_generated if working else 0
            n_predict = task.params.get("n_predict", -1)
            slot.update(id_task=task.id_task, n_prompt_tokens=task.n_prompt,
                        n_prompt_tokens_processed=task.n_prompt if working and task.n_generated else 0,
                        n_prompt_tokens_cache=0, params=task.params,
                        next_token=[{"has_next_token": working, "has_new_line": False,
                                     "n_remain": n_predict - decoded if working and n_predict > 0 else -1,
                                     "n_decoded": decoded}])
        slots.append(slot)
    return slots


def token_ids(text: str, *, bos: bool) -> list[int]:
    """One stable id per word, so a count agrees with the emulated chat's usage (text.count_tokens); `bos` puts
    the begin-of-text token first, as llama-cpp-python and vLLM do by default and llama-server does not."""
    ids = [1000 + int.from_bytes(hashlib.sha256(word.encode()).digest()[:2], "big") for word in text.split()]
    return [1, *ids] if bos else ids


def _tokenize_reply(state: ServerState, tokens: list[int]) -> dict[str, Any]:
    if state.flavour == "vllm":  # vLLM's TokenizeResponse
        return {"count": len(tokens), "max_model_len": state.active_model().context, "tokens": tokens,
                "token_strs": None}
    return {"tokens": tokens}


def tokenize_handler(state: ServerState, field: str, *, bos: bool) -> FaultedHandler:
    """POST {field: text, "model"?} → the flavour's token reply; a body without the text is refused."""
    async def handler(request: Request, faults: RequestFaults) -> Response:  # noqa: ARG001
        try:
            body = json.loads(await request.body())
        except (ValueError, RecursionError):
            body = None
        text = body.get(field) if isinstance(body, dict) else None
        if not isinstance(text, str):
            # llama-cpp-python's request model is pydantic: a missing field is FastAPI's 422.
            status = 422 if state.flavour == "llama_cpp_python" else 400
            return error_response(state.flavour, status, f"'{field}' is required")
        state.tokenize_calls += 1
        return JSONResponse(_tokenize_reply(state, token_ids(text, bos=bos)))
    return handler


def extra_routes(state: ServerState, faulted: Callable[[FaultedHandler], Handler], list_models: Handler) -> list[Route]:
    """The routes a flavour adds beside /v1; none for plain OpenAI."""

    def guarded(reply: Callable[[], Response]) -> Handler:
        async def handler(request: Request, faults: RequestFaults) -> Response:  # noqa: ARG001
            if faults.has("malformed"):
                return Response(b'{"status":', media_type="application/json")
            return reply()
        return faulted(handler)

    if state.flavour == "vllm":
        return [
            Route("/health", guarded(lambda: Response(b"", status_code=200)), methods=["GET"]),
            Route("/version", guarded(lambda: JSONResponse({"version": "0.10.1.1"})), methods=["GET"]),
            Route("/metrics", guarded(lambda: PlainTextResponse(vllm_metrics(state), media_type=PROMETHEUS_TYPE)),
                  methods=["GET"]),
            Route("/tokenize", faulted(tokenize_handler(state, "prompt", bos=True)), methods=["POST"]),
        ]
    if state.flavour == "llama_cpp_python":
        # No /health, /props, /metrics, and no /tokenize (a 404): its tokenizer is under /extras.
        return [Route("/extras/tokenize", faulted(tokenize_handler(state, "input", bos=True)), methods=["POST"])]
    if not state.flavour.startswith("llamacpp"):
        return []

    def router_change(load: bool) -> Handler:
        """POST /models/load or /models/unload {"model": …} → {"success": true}, 404 for an unknown model."""
        async def handler(request: Request, faults: RequestFaults) -> Response:  # noqa: ARG001
            try:
                name = json.loads(await request.body()).get("model")
            except (ValueError, AttributeError, RecursionError):
                name = None
            model = state.models.get(name) if isinstance(name, str) else None
            if model is None:
                return error_response(state.flavour, 404, f"model {name!r} not found")
            model.loaded = load
            return JSONResponse({"success": True})
        return faulted(handler)

    routes = [
        Route("/health", guarded(lambda: JSONResponse({"status": "ok"})), methods=["GET"]),
        Route("/v1/health", guarded(lambda: JSONResponse({"status": "ok"})), methods=["GET"]),
        Route("/props", guarded(lambda: JSONResponse(llamacpp_props(state))), methods=["GET"]),
        Route("/slots", guarded(lambda: JSONResponse(llamacpp_slots(state))), methods=["GET"]),
        Route("/metrics", guarded(lambda: PlainTextResponse(llamacpp_metrics(state), media_type=PROMETHEUS_TYPE)),
              methods=["GET"]),
        Route("/models", list_models, methods=["GET"]),
        Route("/tokenize", faulted(tokenize_handler(state, "content", bos=False)), methods=["POST"]),
    ]
    if state.flavour == "llamacpp_router":
        routes += [Route("/models/load", router_change(True), methods=["POST"]),
                   Route("/models/unload", router_change(False), methods=["POST"])]
    return routes
