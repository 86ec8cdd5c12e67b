"""The non-OpenAI routes of the vLLM, llama.cpp and llama-cpp-python emulators: health, version, props, slots,
Prometheus /metrics reflecting the live in-flight requests, llama.cpp router-mode load/unload, and each server's
tokenize route."""

from __future__ import annotations

import hashlib
import json
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
    """llama-server's --metrics exposition (the names of the recorded fixture)."""
    running, waiting = state.busy()
    lines: list[str] = []
    prompt_rate = state.prompt_tokens_total / state.prompt_seconds_total if state.prompt_seconds_total else 0.0
    gen_rate = state.generation_tokens_total / state.generation_seconds_total if state.generation_seconds_total else 0.0
    for name, kind, help_text, value in (
        ("llamacpp:prompt_tokens_total", "counter", "Number of prompt tokens processed.", state.prompt_tokens_total),
        ("llamacpp:prompt_seconds_total", "counter", "Total time spent processing prompts", state.prompt_seconds_total),
        ("llamacpp:tokens_predicted_total", "counter", "Number of generation tokens processed.",
         state.generation_tokens_total),
        ("llamacpp:tokens_predicted_seconds_total", "counter", "Total time spent generating tokens",
         state.generation_seconds_total),
        ("llamacpp:n_decode_total", "counter", "Total number of llama_decode() calls", state.generation_tokens_total),
        ("llamacpp:prompt_tokens_seconds", "gauge", "Average prompt throughput in tokens/s", prompt_rate),
        ("llamacpp:predicted_tokens_seconds", "gauge", "Average generation throughput in tokens/s", gen_rate),
        ("llamacpp:requests_processing", "gauge", "Number of requests processing", running),
        ("llamacpp:requests_deferred", "gauge", "Number of requests deferred", waiting),
    ):
        _metric(lines, name, kind, help_text, [("", float(value))])
    return "\n".join(lines) + "\n"


def llamacpp_props(state: ServerState) -> dict[str, Any]:
    """GET /props: the running context, slot count, model path and build of the active model."""
    model = state.active_model()
    return {
        "default_generation_settings": {"params": {"temperature": 0.8, "top_k": 40, "top_p": 0.95, "n_predict": -1},
                                        "n_ctx": model.context},
        "total_slots": LLAMACPP_SLOTS, "model_alias": model.id, "model_path": f"/models/{model.id}.gguf",
        "modalities": {"vision": False, "audio": False}, "endpoint_slots": True, "endpoint_props": False,
        "endpoint_metrics": True, "chat_template": "{% for m in messages %}{{ m['content'] }}{% endfor %}",
        "bos_token": "<|begin_of_text|>", "eos_token": "<|eot_id|>", "build_info": state.fingerprint,
        "is_sleeping": False,
    }


def llamacpp_slots(state: ServerState) -> list[dict[str, Any]]:
    """GET /slots: one entry per slot, busy while an in-flight request holds it."""
    busy = list(state.inflight.values())[:LLAMACPP_SLOTS]
    model = state.active_model()
    slots = []
    for index in range(LLAMACPP_SLOTS):
        request = busy[index] if index < len(busy) else None
        slot: dict[str, Any] = {"id": index, "n_ctx": model.context, "speculative": False,
                                "is_processing": request is not None}
        if request is not None:
            slot.update(id_task=index, n_prompt_tokens=request.n_prompt,
                        next_token=[{"has_next_token": True, "has_new_line": False, "n_remain": -1,
                                     "n_decoded": request.n_generated}])
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
