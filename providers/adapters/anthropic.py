"""Anthropic Messages API adapter: health via /v1/models, paged catalog, named-event SSE chat.

Shapes follow PROTOCOLS.md §3 (anthropic-sdk-python at 009b0353 and Anthropic's docs): documented. The only
recording is of llama-server's own /v1/messages (../shared/fixtures/llamacpp_anthropic_messages*): a plain and a
streamed reply, stop_reason max_tokens, usage with cache_read_input_tokens. Ping and error events, model paging,
the error envelope and its statuses are documented, not recorded from a running server.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from providers.base import (
    Adapter,
    Capabilities,
    ChatChunk,
    ChatRequest,
    ChatResult,
    Health,
    ModelInfo,
    Usage,
)
from providers.errors import (
    ContextTooLongError,
    ProtocolError,
    ProviderError,
)
from providers.http import error_from_status, expect_dict, guard_text_stream, iter_sse, open_stream, request_json
from providers.reply_numbers import token_count

API_VERSION = "2023-06-01"
DEFAULT_MAX_TOKENS = 1024
"""Anthropic requires max_tokens on every request; this is sent when the caller gives none."""
PAGE_SIZE = 100
MAX_MODEL_PAGES = 50
"""A bound on catalog paging, so a server that always says has_more cannot loop us forever."""

# end_turn and max_tokens are documented (max_tokens recorded from llama-server); the others are the SDK's
# StopReason values, not in PROTOCOLS.md and not recorded.
_FINISH_REASONS = {
    "end_turn": "stop", "stop_sequence": "stop", "max_tokens": "length", "tool_use": "tool_calls",
    "refusal": "content_filter", "pause_turn": "pause", "model_context_window_exceeded": "length",
}
"""Anthropic stop reasons in the provider-neutral (OpenAI) vocabulary the rest of the deck reads."""

_ERROR_STATUS = {
    "invalid_request_error": 400, "authentication_error": 401, "billing_error": 402, "permission_error": 403,
    "not_found_error": 404, "request_too_large": 413, "rate_limit_error": 429, "api_error": 500,
    "timeout_error": 504, "overloaded_error": 529,
}
"""The status each error type comes with, used to map an in-stream `event: error` like an HTTP reply.
Documented (SDK), except billing_error's 402, which PROTOCOLS.md assumes; none recorded."""

_CONTEXT_WINDOWS = (("claude-2.0", 100_000), ("claude-instant", 100_000), ("claude-", 200_000))
"""Context windows by id prefix, used when /v1/models does not report `max_input_tokens` (guessed figures;
llama-server's /v1/models, recorded, reports neither, so its models get None)."""

_TOO_LONG = re.compile(r"(\d+)\s*tokens?\s*>\s*(\d+)")
"""Guessed wording ("prompt is too long: N tokens > M maximum"): PROTOCOLS.md §0.3 has it as not verified."""


class AnthropicAdapter(Adapter):
    """Speaks https://api.anthropic.com (or anything that emulates /v1/messages)."""

    capabilities = Capabilities(chat=True)

    def _headers(self) -> dict[str, str]:
        headers = {"anthropic-version": API_VERSION, "content-type": "application/json"}
        key = self.key()
        if key:
            headers["x-api-key"] = key
        headers.update(self.options.headers)
        return headers

    async def _get_models_page(self, params: dict[str, Any]) -> dict[str, Any]:
        body = await request_json(self.client, "GET", self.url("/v1/models"), provider=self.name,
                                  headers=self._headers(), params=params, timeout_s=self.timeout())
        return expect_dict(body, self.name, "GET /v1/models")

    async def health(self) -> Health:
        """Probe with the cheapest authenticated call there is; a failed call raises."""
        # A reply that is not a model page is not a healthy Anthropic API either.
        _parse_models(await self._get_models_page({"limit": 1}), self.name)
        return Health("up")

    async def list_models(self) -> list[ModelInfo]:
        """Every model, following `has_more` / `last_id` → `after_id` across pages."""
        models: list[ModelInfo] = []
        params: dict[str, Any] = {"limit": PAGE_SIZE}
        for _ in range(MAX_MODEL_PAGES):
            page = await self._get_models_page(params)
            models.extend(_parse_models(page, self.name))
            last_id = page.get("last_id")
            if not page.get("has_more") or not isinstance(last_id, str) or not last_id:
                break
            params = {"limit": PAGE_SIZE, "after_id": last_id}
        return models

    def chat_stream(self, request: ChatRequest) -> AsyncIterator[ChatChunk]:
        return guard_text_stream(self._stream(request), self.name)

    async def _stream(self, request: ChatRequest) -> AsyncIterator[ChatChunk]:
        state = _StreamState()
        try:
            async with open_stream(self.client, "POST", self.url("/v1/messages"), provider=self.name,
                                   headers=self._headers(), json_body=build_body(request, stream=True),
                                   timeout_s=self.timeout()) as response:
                async for sse in iter_sse(response, self.name):
                    if state.stopped:
                        continue  # nothing follows message_stop; read on so the connection can be reused
                    chunk = state.feed(sse.event, sse.data, self.name)
                    if chunk is not None:
                        yield chunk
        except ContextTooLongError as exc:
            raise _with_token_counts(exc) from None
        if not state.stopped:
            raise ProtocolError("stream ended without message_stop", provider=self.name)

    async def chat(self, request: ChatRequest) -> ChatResult:
        """One non-streaming POST /v1/messages."""
        started = time.perf_counter()
        try:
            body = await request_json(self.client, "POST", self.url("/v1/messages"), provider=self.name,
                                      headers=self._headers(), json_body=build_body(request, stream=False),
                                      timeout_s=self.timeout())
        except ContextTooLongError as exc:
            raise _with_token_counts(exc) from None
        return _parse_message(body, request.model, self.name, _elapsed_ms(started))

    def describe_call(self, operation: str, model: str | None = None) -> str:
        return f"{operation}: POST {self.url('/v1/messages')} model={model or '?'}"


def build_body(request: ChatRequest, *, stream: bool) -> dict[str, Any]:
    """The /v1/messages request: system prompt top-level, alternating turns, prefill as a last assistant turn."""
    system = "\n\n".join(m.content for m in request.messages if m.role == "system")
    turns: list[dict[str, str]] = []
    for message in request.messages:
        if message.role == "system":
            continue
        if turns and turns[-1]["role"] == message.role:
            # The API wants user/assistant turns to alternate; adjacent same-role turns are one turn.
            turns[-1]["content"] += "\n\n" + message.content
        else:
            turns.append({"role": message.role, "content": message.content})
    # A final assistant turn may not end in whitespace; the continuation brings its own leading space.
    prefix = request.assistant_prefix.rstrip()
    if prefix:
        if turns and turns[-1]["role"] == "assistant":
            turns[-1]["content"] = (turns[-1]["content"] + prefix).rstrip()
        else:
            turns.append({"role": "assistant", "content": prefix})
    body: dict[str, Any] = {
        "model": request.model,
        "max_tokens": request.max_tokens or DEFAULT_MAX_TOKENS,
        "messages": turns,
    }
    if system:
        body["system"] = system
    if request.temperature is not None:
        body["temperature"] = request.temperature
    if request.top_p is not None:
        body["top_p"] = request.top_p
    if request.stop:
        body["stop_sequences"] = list(request.stop)
    if stream:
        body["stream"] = True
    return body


@dataclass
class _StreamState:
    """What a Messages stream has said so far: input usage from message_start, the rest from message_delta."""

    input_tokens: int = 0
    output_tokens: int = 0
    stop_reason: str | None = None
    stopped: bool = False

    def feed(self, event: str, data: str, provider: str) -> ChatChunk | None:
        """One SSE event → a chunk to yield, or None. Raises the mapped error on `event: error`."""
        if event == "ping" or (not data and event != "message_stop"):
            return None
        payload = _json_object(data, provider, event) if data else {}
        # httpx-sse names an event without an `event:` line "message"; the JSON `type` then says what it is.
        kind = event if event and event != "message" else str(payload.get("type", ""))
        if kind == "error":
            raise error_from_event(payload, provider)
        if kind == "message_start":
            message = payload.get("message")
            if isinstance(message, dict):
                self._take_usage(message.get("usage"))
        elif kind == "content_block_delta":
            delta = payload.get("delta")
            # thinking, signature and input_json deltas are not answer text.
            if isinstance(delta, dict) and delta.get("type") == "text_delta":
                text = delta.get("text")
                if isinstance(text, str) and text:
                    return ChatChunk(text=text)
        elif kind == "message_delta":
            delta = payload.get("delta")
            if isinstance(delta, dict) and isinstance(delta.get("stop_reason"), str):
                self.stop_reason = delta["stop_reason"]
            self._take_usage(payload.get("usage"))
        elif kind == "message_stop":
            self.stopped = True
            return ChatChunk(finish_reason=finish_reason(self.stop_reason),
                             usage=Usage(self.input_tokens, self.output_tokens))
        # content_block_start/stop and event types added later carry nothing we need.
        return None

    def _take_usage(self, usage: Any) -> None:
        if not isinstance(usage, dict):
            return
        prompt = _input_tokens(usage)
        if prompt:
            self.input_tokens = prompt
        output = token_count(usage.get("output_tokens"), "usage.output_tokens")
        if output is not None:
            self.output_tokens = output  # cumulative: the last value is the total


def _json_object(data: str, provider: str, what: str) -> dict[str, Any]:
    try:
        parsed = json.loads(data)
    except (ValueError, RecursionError) as exc:  # RecursionError: absurdly nested garbage
        raise ProtocolError(f"malformed JSON in {what or 'SSE'} event: {data[:120]!r}", provider=provider) from exc
    if not isinstance(parsed, dict):
        raise ProtocolError(f"{what or 'SSE'} event is not a JSON object", provider=provider)
    return parsed


def _input_tokens(usage: dict[str, Any]) -> int:
    """Input tokens including cache reads and writes, which Anthropic counts separately."""
    keys = ("input_tokens", "cache_creation_input_tokens", "cache_read_input_tokens")
    total = sum(token_count(usage.get(key), f"usage.{key}") or 0 for key in keys)
    return token_count(total, "usage input tokens") or 0


def finish_reason(stop_reason: str | None) -> str | None:
    """Anthropic's stop_reason in the deck's vocabulary (unknown reasons pass through)."""
    if stop_reason is None:
        return None
    return _FINISH_REASONS.get(stop_reason, stop_reason)


def error_from_event(payload: dict[str, Any], provider: str) -> ProviderError:
    """An in-stream `{"type":"error","error":{"type","message"}}` as the error its HTTP status would give."""
    error = payload.get("error")
    error_type = str(error.get("type", "")) if isinstance(error, dict) else ""
    status = _ERROR_STATUS.get(error_type, 500)
    exc = error_from_status(status, json.dumps(payload), {}, provider)
    return _with_token_counts(exc) if isinstance(exc, ContextTooLongError) else exc


def _with_token_counts(exc: ContextTooLongError) -> ContextTooLongError:
    """Fill n_prompt / n_ctx from "prompt is too long: 210000 tokens > 200000 maximum"."""
    match = _TOO_LONG.search(exc.message)
    if exc.n_ctx is not None or match is None:
        return exc
    return ContextTooLongError(exc.message, n_prompt=int(match[1]), n_ctx=int(match[2]), status=exc.status,
                               provider=exc.provider)


def _parse_models(page: dict[str, Any], provider: str) -> list[ModelInfo]:
    data = page.get("data")
    if not isinstance(data, list):
        raise ProtocolError("/v1/models reply has no data list", provider=provider)
    models: list[ModelInfo] = []
    for item in data:
        if not isinstance(item, dict) or not isinstance(item.get("id"), str):
            continue
        model_id: str = item["id"]
        window = item.get("max_input_tokens")
        models.append(ModelInfo(
            provider=provider, name=model_id, kind="chat",
            family="claude" if model_id.startswith("claude") else None,
            context_length=window if isinstance(window, int) else _known_window(model_id),
        ))
    return models


def _known_window(model_id: str) -> int | None:
    return next((size for prefix, size in _CONTEXT_WINDOWS if model_id.startswith(prefix)), None)


def _parse_message(body: Any, model: str, provider: str, total_ms: float) -> ChatResult:
    message = expect_dict(body, provider, "POST /v1/messages")
    content = message.get("content")
    if message.get("type") == "error":
        raise error_from_event(message, provider)
    if not isinstance(content, list):
        raise ProtocolError("message reply has no content list", provider=provider)
    text = "".join(
        str(block.get("text", "")) for block in content if isinstance(block, dict) and block.get("type") == "text"
    )
    usage = message.get("usage")
    usage_value = None
    if isinstance(usage, dict):
        usage_value = Usage(_input_tokens(usage), token_count(usage.get("output_tokens"), "usage.output_tokens") or 0)
    stop = message.get("stop_reason")
    return ChatResult(
        text=text, model=str(message.get("model") or model),
        finish_reason=finish_reason(stop if isinstance(stop, str) else None),
        usage=usage_value, total_ms=total_ms,
    )


def _elapsed_ms(started: float) -> float:
    return (time.perf_counter() - started) * 1000.0
