"""Hugging Face Text Generation Inference (TGI) adapter: /health, /info and chat over native /generate_stream.

Chat uses TGI's own `/generate_stream` with a plain role-labelled prompt rather than `/v1/chat/completions`:
it works on every TGI version and on base models that ship no chat template (the OpenAI route refuses those),
and its final event reports input and generated token counts. A TGI whose model has a chat template can also be
configured as an OpenAI-compatible provider to use that template through `/v1/chat/completions`.
The Hub (model search, file listing) lives in `providers.adapters.hf_hub`.

Wire shapes follow PROTOCOLS.md §6.1 (TGI's docs/openapi.json and router source at db931fcf): read from the
source, not recorded from a running server (../shared/fixtures holds no TGI transcript). Guesses are marked.
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from providers.base import Adapter, Capabilities, ChatChunk, ChatRequest, Health, ModelInfo, Usage
from providers.errors import (
    BadRequestError,
    ContextTooLongError,
    ProtocolError,
    ProviderError,
    ServerError,
)
from providers.http import error_from_status, expect_dict, guard_text_stream, iter_sse, open_stream, request_json, send
from providers.reply_numbers import token_count

MAX_STOP_SEQUENCES = 4
"""TGI's default `--max-stop-sequences`; more are refused with a 422 (not in PROTOCOLS.md: unchecked)."""
TURN_STOP = "\nUser:"
"""Stops the model from writing the user's next turn itself."""

_FINISH_REASONS = {"eos_token": "stop", "stop_sequence": "stop", "length": "length"}
_ERROR_TYPE_STATUS = {"validation": 422, "overloaded": 503, "generation": 500, "incomplete_generation": 500,
                      "tokenizer": 422, "healthcheck": 503}
"""In-stream `error_type` → the status its error maps like (TGI's overloaded means a full queue; over HTTP
PROTOCOLS.md has it as 429). "tokenizer" is guessed; none of these was recorded."""
_LIMIT = re.compile(r"must be <= (\d+)")
_GIVEN = re.compile(r"Given: (\d+)")


@dataclass(frozen=True, slots=True)
class TGIInfo:
    """What GET /info says about the served model and its limits."""

    model_id: str
    model_sha: str | None
    version: str | None
    max_input_tokens: int | None
    max_total_tokens: int | None
    max_concurrent_requests: int | None


class TGIAdapter(Adapter):
    """Speaks TGI's native routes. Auth, when the server has `--api-key`, is a Bearer token."""

    capabilities = Capabilities(chat=True)

    def _headers(self) -> dict[str, str]:
        headers: dict[str, str] = {}
        key = self.key()
        if key:
            headers["authorization"] = f"Bearer {key}"
        headers.update(self.options.headers)
        return headers

    async def info(self) -> TGIInfo:
        """GET /info, parsed."""
        body = await request_json(self.client, "GET", self.url("/info"), provider=self.name,
                                  headers=self._headers(), timeout_s=self.timeout())
        return _parse_info(expect_dict(body, self.name, "GET /info"), self.name)

    async def health(self) -> Health:
        """/health (200, empty body) then /info for the model and version; a failed call raises."""
        await send(self.client, "GET", self.url("/health"), provider=self.name, headers=self._headers(),
                   timeout_s=self.timeout())
        info = await self.info()
        return Health("up", version=info.version, models_loaded=(info.model_id,))

    async def list_models(self) -> list[ModelInfo]:
        """TGI serves exactly one model; its context window is max_total_tokens."""
        info = await self.info()
        return [ModelInfo(provider=self.name, name=info.model_id, kind="chat",
                          context_length=info.max_total_tokens, loaded=True)]

    def chat_stream(self, request: ChatRequest) -> AsyncIterator[ChatChunk]:
        # Non-streaming chat (Adapter.chat) collects this stream: /generate's details carry no input length.
        return guard_text_stream(self._stream(request), self.name)

    async def _stream(self, request: ChatRequest) -> AsyncIterator[ChatChunk]:
        finished = False
        try:
            async with open_stream(self.client, "POST", self.url("/generate_stream"), provider=self.name,
                                   headers=self._headers(), json_body=build_body(request),
                                   timeout_s=self.timeout()) as response:
                async for sse in iter_sse(response, self.name):
                    if finished or not sse.data:
                        continue  # nothing follows the details event; read on so the connection is reused
                    chunk = parse_event(sse.data, self.name)
                    if chunk is not None:
                        yield chunk
                        finished = chunk.finish_reason is not None
        except ProviderError as exc:
            raise remap_error(exc) from None
        if not finished:
            raise ProtocolError("stream ended without its final details event", provider=self.name)

    def describe_call(self, operation: str, model: str | None = None) -> str:
        return f"{operation}: POST {self.url('/generate_stream')} model={model or '(served model)'}"


def render_prompt(request: ChatRequest) -> str:
    """A role-labelled transcript ending with the assistant's turn (and any prefix it continues)."""
    labels = {"system": "System", "user": "User", "assistant": "Assistant"}
    turns = [f"{labels[m.role]}: {m.content}" for m in request.messages]
    tail = "Assistant:" + (f" {request.assistant_prefix}" if request.assistant_prefix else "")
    return "\n\n".join([*turns, tail])


def build_body(request: ChatRequest) -> dict[str, Any]:
    """The /generate_stream request; sampling values TGI would reject (temperature 0, top_p 1) are left out.
    Which values it rejects is not in PROTOCOLS.md: guessed from TGI's validation, not recorded."""
    parameters: dict[str, Any] = {"details": True, "return_full_text": False}
    if request.max_tokens:
        parameters["max_new_tokens"] = request.max_tokens
    if request.temperature is not None:
        if request.temperature > 0:
            parameters["temperature"] = request.temperature
            parameters["do_sample"] = True
        else:
            parameters["do_sample"] = False  # TGI wants temperature > 0; greedy is how it says 0
    if request.top_p is not None and 0 < request.top_p < 1:
        parameters["top_p"] = request.top_p
    if request.seed is not None:
        parameters["seed"] = request.seed
    stops = [*request.stop[: MAX_STOP_SEQUENCES - 1], TURN_STOP]
    parameters["stop"] = stops
    return {"inputs": render_prompt(request), "parameters": parameters}


def parse_event(data: str, provider: str) -> ChatChunk | None:
    """One /generate_stream event → a chunk; the one with `details` is the last and carries usage."""
    try:
        event = json.loads(data)
    except (ValueError, RecursionError) as exc:  # RecursionError: absurdly nested garbage
        raise ProtocolError(f"malformed JSON in stream event: {data[:120]!r}", provider=provider) from exc
    if not isinstance(event, dict):
        raise ProtocolError("stream event is not a JSON object", provider=provider)
    if "error" in event:
        status = _ERROR_TYPE_STATUS.get(str(event.get("error_type", "")), 500)
        raise error_from_status(status, data, {}, provider)
    token = event.get("token")
    text = ""
    # Special tokens (</s>, <|eot_id|>) are markup, not answer text.
    if isinstance(token, dict) and not token.get("special") and isinstance(token.get("text"), str):
        text = token["text"]
    details = event.get("details")
    if not isinstance(details, dict):
        return ChatChunk(text=text) if text else None
    reason = str(details.get("finish_reason") or "stop")
    prompt, generated = details.get("input_length"), details.get("generated_tokens")
    usage = Usage(token_count(prompt, "details.input_length") or 0,
                  token_count(generated, "details.generated_tokens") or 0)
    return ChatChunk(text=text, finish_reason=_FINISH_REASONS.get(reason, reason), usage=usage)


def remap_error(exc: ProviderError) -> ProviderError:
    """TGI specifics the generic status mapping misses: 424 is a failed generation, not a bad request;
    "must have less than N tokens" is a context error; counts come from the validation message.
    PROTOCOLS.md quotes only the "must be <= N. Given: M" wording; "must have less than" is guessed."""
    if isinstance(exc, BadRequestError) and exc.status == 424:
        return ServerError(exc.message, status=424, provider=exc.provider)
    if isinstance(exc, BadRequestError) and "must have less than" in exc.message:
        limit = re.search(r"less than (\d+)", exc.message)
        exc = ContextTooLongError(exc.message, n_ctx=int(limit[1]) if limit else None, status=exc.status,
                                  provider=exc.provider)
    if isinstance(exc, ContextTooLongError) and exc.n_ctx is None and (limit := _LIMIT.search(exc.message)):
        given = _GIVEN.search(exc.message)
        return ContextTooLongError(exc.message, n_ctx=int(limit[1]), n_prompt=int(given[1]) if given else None,
                                   status=exc.status, provider=exc.provider)
    return exc


def _parse_info(body: dict[str, Any], provider: str) -> TGIInfo:
    model_id = body.get("model_id")
    if not isinstance(model_id, str) or not model_id:
        raise ProtocolError("/info reply has no model_id", provider=provider)

    def number(key: str) -> int | None:
        value = body.get(key)
        return value if isinstance(value, int) else None

    sha, version = body.get("model_sha"), body.get("version")
    return TGIInfo(
        model_id=model_id, model_sha=sha if isinstance(sha, str) else None,
        version=version if isinstance(version, str) else None,
        # max_input_length: an older TGI's name for the field (guessed; PROTOCOLS.md lists max_input_tokens).
        max_input_tokens=number("max_input_tokens") or number("max_input_length"),
        max_total_tokens=number("max_total_tokens"), max_concurrent_requests=number("max_concurrent_requests"),
    )
