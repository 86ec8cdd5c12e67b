"""OpenAI-compatible wire JSON ⇄ our types: request bodies, stream chunks, completions, models, errors.

Everything here tolerates odd shapes from the many servers that speak this dialect: a field of the wrong
type is treated as absent, and anything unusable raises ProtocolError, never another exception.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
import struct
from collections.abc import AsyncIterator
from typing import Any

from providers.adapters.openai_flavours import Flavour
from providers.base import ChatChunk, ChatRequest, ChatResult, ModelInfo, ModelKind, ServerTimings, Usage
from providers.errors import ProtocolError, ProviderError
from providers.http import SSEEvent, error_from_status
from providers.png_bounds import check_png
from providers.reply_numbers import token_count, usd_per_token

DONE = "[DONE]"
_MAX_COUNT = 2**53
"""Beyond this a JSON number is not a token count or a size any server means."""

# Error `type`/`code` words → the HTTP status that error_from_status maps the way the server meant.
_ERROR_WORDS: tuple[tuple[str, int], ...] = (
    ("context", 400), ("insufficient_quota", 402), ("billing", 402), ("auth", 401), ("api_key", 401),
    ("permission", 403), ("rate_limit", 429), ("overloaded", 529), ("unavailable", 503), ("timeout", 504),
    ("not_found", 404), ("invalid_request", 400), ("bad_request", 400), ("validation", 422),
)


def as_int(value: Any) -> int | None:
    """An integer, or None for anything else (bools, fractions, numbers too large to be a real count)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return value if isinstance(value, int) and abs(value) <= _MAX_COUNT else None


def as_float(value: Any) -> float | None:
    """A finite number (numeric strings too, as OpenRouter and DeepSeek send prices), or None."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return None
    try:
        number = float(value)
    except (ValueError, OverflowError):
        return None
    return number if math.isfinite(number) else None


def as_dict(value: Any) -> dict[str, Any]:
    """`value` if it is an object, else an empty one."""
    return value if isinstance(value, dict) else {}


def as_list(value: Any) -> list[Any]:
    """`value` if it is an array, else an empty one."""
    return value if isinstance(value, list) else []


def as_str(value: Any) -> str | None:
    """`value` if it is a string, else None."""
    return value if isinstance(value, str) else None


# ---------------------------------------------------------------- requests


def chat_body(request: ChatRequest, flavour: Flavour, *, stream: bool) -> dict[str, Any]:
    """The /chat/completions body; a non-empty assistant_prefix becomes a trailing assistant message."""
    messages: list[dict[str, str]] = [{"role": m.role, "content": m.content} for m in request.messages]
    body: dict[str, Any] = {"model": request.model, "messages": messages, "stream": stream}
    if request.assistant_prefix:
        messages.append({"role": "assistant", "content": request.assistant_prefix})
        body.update(flavour.continue_fields)
    if stream and flavour.stream_usage:
        body["stream_options"] = {"include_usage": True}
    if request.max_tokens is not None:
        body[flavour.max_tokens_field] = request.max_tokens
    for name in ("temperature", "top_p", "seed"):
        value = getattr(request, name)
        if value is not None:
            body[name] = value
    if request.stop:
        body["stop"] = list(request.stop)
    return body


# ---------------------------------------------------------------- errors


def _status_of(error: dict[str, Any]) -> int:
    code = error.get("code")
    status = int(code) if isinstance(code, str) and len(code) == 3 and code.isdecimal() else as_int(code)
    if status is not None and 400 <= status <= 599:
        return status
    words = f"{error.get('type') or ''} {code or ''} {error.get('message') or ''}".lower()
    return next((status for word, status in _ERROR_WORDS if word in words), 500)


def error_from_payload(payload: dict[str, Any], provider: str | None) -> ProviderError:
    """A `{"error": …}` object that arrived with HTTP 200 (mid-stream or in a body) → the mapped error."""
    error = payload.get("error")
    if isinstance(error, str):
        error = {"message": error}
    if not isinstance(error, dict):
        error = payload  # vLLM's older flat {"object": "error", "message", "code"}
    return error_from_status(_status_of(error), json.dumps({"error": error}), {}, provider)


def _is_error(obj: dict[str, Any]) -> bool:
    return bool(obj.get("error")) or obj.get("object") == "error"


# ---------------------------------------------------------------- chat


def usage_from(obj: dict[str, Any]) -> Usage | None:
    """The `usage` object of a chunk or completion, or None when it is absent or unreadable."""
    usage = obj.get("usage")
    if not isinstance(usage, dict):
        return None
    prompt = token_count(usage.get("prompt_tokens"), "usage.prompt_tokens")
    completion = token_count(usage.get("completion_tokens"), "usage.completion_tokens")
    if prompt is None and completion is None:
        return None
    return Usage(prompt_tokens=prompt or 0, completion_tokens=completion or 0)


def timings_from(obj: dict[str, Any]) -> ServerTimings | None:
    """llama.cpp's `timings` (ms) on the last chunk or the whole completion."""
    timings = obj.get("timings")
    if not isinstance(timings, dict):
        return None
    return ServerTimings(
        prompt_tokens=as_int(timings.get("prompt_n")), prompt_ms=as_float(timings.get("prompt_ms")),
        completion_tokens=as_int(timings.get("predicted_n")), completion_ms=as_float(timings.get("predicted_ms")),
    )


def chunk_from_payload(obj: dict[str, Any]) -> ChatChunk:
    """One `chat.completion.chunk` → a ChatChunk (empty when it carries nothing we use)."""
    # This runs once per token: the usual shape (a list whose first item is an object) takes the short way.
    choices = obj.get("choices")
    if isinstance(choices, list) and choices and isinstance(choices[0], dict):
        choice = choices[0]
    else:
        choice = next((c for c in as_list(choices) if isinstance(c, dict)), {})
    delta = choice.get("delta")
    text = delta.get("content") if isinstance(delta, dict) else None
    if not text or not isinstance(text, str):
        # Older text-generation-webui builds put the text in `message` instead of `delta`.
        text = as_str(as_dict(choice.get("message")).get("content")) or ""
    finish_reason = choice.get("finish_reason")
    # Most chunks carry neither usage nor timings: skip their parsers.
    return ChatChunk(
        text, finish_reason if finish_reason and isinstance(finish_reason, str) else None,
        usage_from(obj) if obj.get("usage") else None, timings_from(obj) if obj.get("timings") else None,
    )


def chunk_from_event(event: SSEEvent, provider: str | None) -> ChatChunk | str | None:
    """One SSE event → a chunk to yield, DONE at `data: [DONE]`, or None for a keep-alive or an empty chunk.

    An error payload raises the mapped error; anything that is not a JSON object raises ProtocolError."""
    data = event.data.strip()
    if not data:
        return None
    if data == DONE:
        return DONE
    try:
        obj = json.loads(data)
    except (ValueError, RecursionError):  # RecursionError: absurdly nested garbage
        raise ProtocolError(f"malformed JSON in stream: {data[:120]!r}", provider=provider) from None
    if not isinstance(obj, dict):
        raise ProtocolError(f"stream chunk is not an object: {data[:120]!r}", provider=provider)
    if _is_error(obj) or event.event == "error":
        raise error_from_payload(obj, provider)
    chunk = chunk_from_payload(obj)
    return chunk if chunk.text or chunk.finish_reason or chunk.usage or chunk.timings else None


def no_done_error(provider: str | None) -> ProtocolError:
    """A data-only SSE chat stream that ended without `data: [DONE]`."""
    return ProtocolError("stream ended without data: [DONE]", provider=provider)


async def chat_chunks(events: AsyncIterator[SSEEvent], provider: str | None) -> AsyncIterator[ChatChunk]:
    """Chat chunks from data-only SSE until `data: [DONE]`; an error payload raises; no [DONE] is an error."""
    done = False
    async for event in events:
        if done:
            continue  # nothing follows [DONE]: read on so the connection can be reused
        chunk = chunk_from_event(event, provider)
        if isinstance(chunk, ChatChunk):
            yield chunk
        elif chunk == DONE:
            done = True
    if not done:
        raise no_done_error(provider)


def result_from_completion(obj: Any, model: str, provider: str | None) -> ChatResult:
    """A non-streaming `chat.completion` → ChatResult; an error object in a 200 body raises."""
    if not isinstance(obj, dict):
        raise ProtocolError("completion is not a JSON object", provider=provider)
    if _is_error(obj) and "choices" not in obj:
        raise error_from_payload(obj, provider)
    choices = [c for c in as_list(obj.get("choices")) if isinstance(c, dict)]
    if not choices:
        raise ProtocolError("completion has no choices", provider=provider)
    message = as_dict(choices[0].get("message"))
    return ChatResult(
        text=as_str(message.get("content")) or "", model=as_str(obj.get("model")) or model,
        finish_reason=as_str(choices[0].get("finish_reason")), usage=usage_from(obj), timings=timings_from(obj),
    )


# ---------------------------------------------------------------- models


def _kind_of(item: dict[str, Any], model_id: str) -> ModelKind:
    declared = f"{item.get('type') or ''} {item.get('mode') or ''}".lower()
    lowered = model_id.lower()
    if "embed" in declared or "embed" in lowered or lowered.startswith(("bge-", "baai/bge")):
        return "embed"
    if "image" in declared or lowered.startswith(("dall-e", "gpt-image")):
        return "image"
    return "chat"


def _loaded(item: dict[str, Any], resident: bool) -> bool:
    status = item.get("status")
    if isinstance(status, dict):  # llama.cpp router mode: status.value loaded|loading|unloaded|…
        return status.get("value") == "loaded"
    state = item.get("state")
    if isinstance(state, str):  # LM Studio /api/v0: loaded | not-loaded
        return state == "loaded"
    return resident


def _context_length(item: dict[str, Any], running_ctx: int | None) -> int | None:
    meta = as_dict(item.get("meta"))
    candidates = (
        item.get("max_model_len"), item.get("context_length"), item.get("max_context_length"), meta.get("n_ctx"),
        item.get("max_input_tokens"), as_dict(item.get("top_provider")).get("context_length"), running_ctx,
        meta.get("n_ctx_train"),
    )
    return next((n for n in map(as_int, candidates) if n is not None and n > 0), None)


def _parameter_size(meta: dict[str, Any]) -> str | None:
    params = as_int(meta.get("n_params"))
    if not params or params <= 0:
        return None
    return f"{params / 1e9:.1f}B" if params >= 1e8 else f"{params / 1e6:.1f}M"


def models_from_list(obj: Any, provider: str, *, resident: bool, n_ctx: int | None = None) -> list[ModelInfo]:
    """`{"data": [...]}` from /v1/models and its relatives (vLLM max_model_len, llama.cpp meta/status,
    LM Studio state, OpenRouter context_length, LiteLLM max_input_tokens). `n_ctx` (llama.cpp /props)
    is the running context when an item does not state its own."""
    if not isinstance(obj, dict) or not isinstance(obj.get("data"), list):
        raise ProtocolError("model list has no data array", provider=provider)
    models: list[ModelInfo] = []
    for item in obj["data"]:
        if not isinstance(item, dict) or not isinstance(item.get("id"), str):
            continue
        meta = as_dict(item.get("meta"))
        quantization = item.get("quantization")
        models.append(ModelInfo(
            provider=provider, name=item["id"], kind=_kind_of(item, item["id"]),
            size_bytes=as_int(meta.get("size")),
            quantization=as_str(quantization) or as_str(as_dict(quantization).get("name")),
            family=as_str(item.get("arch")) or as_str(as_dict(item.get("architecture")).get("tokenizer")),
            parameter_size=_parameter_size(meta),
            context_length=_context_length(item, n_ctx), loaded=_loaded(item, resident),
        ))
    return models


def openrouter_prices(obj: Any) -> dict[str, tuple[float, float]]:
    """OpenRouter /api/v1/models pricing (USD per token, sent as strings) → {model: (input, output)}."""
    prices: dict[str, tuple[float, float]] = {}
    for item in as_list(as_dict(obj).get("data")):
        if not isinstance(item, dict) or not isinstance(item.get("id"), str):
            continue
        pricing = as_dict(item.get("pricing"))
        # A negative or absurd live price would pay back or spend a budget: such a model stays unpriced.
        prompt = usd_per_token(as_float(pricing.get("prompt")))
        completion = usd_per_token(as_float(pricing.get("completion")))
        if prompt is not None and completion is not None:
            prices[item["id"]] = (prompt, completion)
    return prices


def lmstudio_instances(obj: Any, model: str) -> list[str]:
    """Ids of the loaded instances of `model` in LM Studio's /api/v1/models (`models[].loaded_instances`)."""
    for item in as_list(as_dict(obj).get("models")):
        if isinstance(item, dict) and item.get("key") == model:
            return [i["id"] for i in as_list(item.get("loaded_instances")) if isinstance(as_dict(i).get("id"), str)]
    return []


def props_context(obj: Any) -> int | None:
    """The running context size from llama.cpp /props (default_generation_settings.n_ctx)."""
    props = as_dict(obj)
    return as_int(as_dict(props.get("default_generation_settings")).get("n_ctx")) or as_int(props.get("n_ctx"))


# ---------------------------------------------------------------- embeddings and images


def _vector(value: Any, provider: str | None) -> list[float]:
    if isinstance(value, str):  # encoding_format=base64: little-endian float32
        try:
            raw = base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError):
            raise ProtocolError("embedding is not valid base64", provider=provider) from None
        if len(raw) % 4:
            raise ProtocolError("base64 embedding is not whole float32 values", provider=provider)
        return list(struct.unpack(f"<{len(raw) // 4}f", raw))
    if isinstance(value, list) and all(isinstance(v, int | float) and not isinstance(v, bool) for v in value):
        return [float(v) for v in value]
    raise ProtocolError("embedding is neither a number list nor base64", provider=provider)


def embeddings_from(obj: Any, count: int, provider: str | None) -> list[list[float]]:
    """/embeddings `data` in input order; one vector per input or ProtocolError."""
    if isinstance(obj, dict) and _is_error(obj) and "data" not in obj:
        raise error_from_payload(obj, provider)
    items = [item for item in as_list(as_dict(obj).get("data")) if isinstance(item, dict)]
    if len(items) != count:
        raise ProtocolError(f"expected {count} embeddings, got {len(items)}", provider=provider)
    items.sort(key=lambda item: as_int(item.get("index")) or 0)
    return [_vector(item.get("embedding"), provider) for item in items]


def image_from(obj: Any, provider: str | None) -> tuple[bytes, int, int, dict[str, object]]:
    """The first b64_json image of /images/generations → (png, width, height, info)."""
    if isinstance(obj, dict) and _is_error(obj) and "data" not in obj:
        raise error_from_payload(obj, provider)
    first = next((item for item in as_list(as_dict(obj).get("data")) if isinstance(item, dict)), {})
    encoded = as_str(first.get("b64_json"))
    if not encoded:
        raise ProtocolError("image reply has no b64_json data", provider=provider)
    try:
        png = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        raise ProtocolError("image is not valid base64", provider=provider) from None
    width, height = check_png(png, provider)  # also refuses a decompression bomb before anything keeps it
    info: dict[str, object] = {}
    if revised := as_str(first.get("revised_prompt")):
        info["revised_prompt"] = revised
    return png, width, height, info
