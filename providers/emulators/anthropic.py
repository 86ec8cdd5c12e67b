"""An Anthropic Messages API emulator: paged /v1/models and /v1/messages with named SSE events, plus faults.

It plays api.anthropic.com as its SDK and docs describe it (PROTOCOLS.md §3); that API has no recorded transcript.
llama-server's recorded /v1/messages (../shared/fixtures/llamacpp_anthropic_messages*) has the same events and
fields, but sends no `ping`, no cache_creation_input_tokens, output_tokens 0 in message_start and ids `chatcmpl-…`:
its own choices, not Anthropic's. The llama.cpp emulator (openai_messages) builds its replies with the message and
event helpers here, passing its own usage and no ping.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import AsyncIterator
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from providers.emulators.faults import FaultPlan, RequestFaults, control_faults
from providers.emulators.text import Pace, count_tokens, fake_tokens

MESSAGE_STOP = b'event: message_stop\ndata: {"type":"message_stop"}\n\n'
MALFORMED_EVENT = b'event: content_block_delta\ndata: {"type":"content_block_delta","index":0,"delta":{\n\n'
"""What a `malformed` fault sends in place of an event."""
ANSWER_TOKENS = 16
"""Tokens in an answer when max_tokens allows; fewer ends with stop_reason max_tokens."""

MODELS: tuple[dict[str, Any], ...] = tuple(
    {"type": "model", "id": model_id, "display_name": name, "created_at": created,
     "max_input_tokens": window, "max_tokens": max_out}
    for model_id, name, created, window, max_out in (
        ("claude-opus-4-1-20250805", "Claude Opus 4.1", "2025-08-05T00:00:00Z", 200_000, 32_000),
        ("claude-sonnet-4-5-20250929", "Claude Sonnet 4.5", "2025-09-29T00:00:00Z", 200_000, 64_000),
        ("claude-sonnet-4-20250514", "Claude Sonnet 4", "2025-05-14T00:00:00Z", 200_000, 64_000),
        ("claude-3-7-sonnet-20250219", "Claude Sonnet 3.7", "2025-02-19T00:00:00Z", 200_000, 64_000),
        ("claude-3-5-haiku-20241022", "Claude Haiku 3.5", "2024-10-22T00:00:00Z", 200_000, 8_192),
        ("claude-3-haiku-20240307", "Claude Haiku 3", "2024-03-07T00:00:00Z", 200_000, 4_096),
        ("claude-tiny-emulated", "Claude Tiny (emulated, 64-token window)", "2024-01-01T00:00:00Z", 64, 64),
    )
)
"""Newest first, as the real API lists them. The tiny model makes context errors easy to provoke."""

_ERRORS: dict[int, tuple[str, str]] = {
    400: ("invalid_request_error", "Invalid request"),
    401: ("authentication_error", "invalid x-api-key"),
    402: ("billing_error", "Your credit balance is too low to access the Anthropic API."),
    404: ("not_found_error", "Not found"),
    429: ("rate_limit_error", "Number of request tokens has exceeded your per-minute rate limit"),
    500: ("api_error", "Internal server error"),
    503: ("api_error", "Service unavailable"),
    529: ("overloaded_error", "Overloaded"),
}


def _request_id() -> str:
    return "req_" + secrets.token_hex(12)


def sse_event(event: str, payload: dict[str, Any]) -> bytes:
    return f"event: {event}\ndata: {json.dumps(payload, separators=(',', ':'))}\n\n".encode()


def error_response(status: int, message: str | None = None, headers: dict[str, str] | None = None) -> JSONResponse:
    """Anthropic's error envelope with its request id."""
    error_type, default = _ERRORS.get(status, ("api_error", "Error"))
    request_id = _request_id()
    body = {"type": "error", "error": {"type": error_type, "message": message or default}, "request_id": request_id}
    return JSONResponse(body, status_code=status, headers={"request-id": request_id, **(headers or {})})


def _rate_limit_headers() -> dict[str, str]:
    return {
        "anthropic-ratelimit-requests-limit": "4000", "anthropic-ratelimit-requests-remaining": "3999",
        "anthropic-ratelimit-tokens-limit": "400000", "anthropic-ratelimit-tokens-remaining": "399000",
    }


def build(*, plan: FaultPlan, pace: Pace, seed: int, flavour: str) -> Starlette:  # noqa: ARG001
    """The emulator app; there is one Anthropic flavour, so `flavour` is not read."""

    async def faults_before(request: Request, faults: RequestFaults) -> Response | None:
        await faults.before_response()
        if (fault := faults.status_fault()) is not None and fault.status is not None:
            return error_response(fault.status, headers=faults.retry_after_headers())
        if not request.headers.get("x-api-key") and not request.headers.get("authorization"):
            return error_response(401, "x-api-key header is required")
        if not request.headers.get("anthropic-version"):
            return error_response(400, "anthropic-version: header is required")
        return None

    async def list_models(request: Request) -> Response:
        faults = plan.for_request(request)
        if (early := await faults_before(request, faults)) is not None:
            return early
        try:
            limit = max(1, min(1000, int(request.query_params.get("limit", "20"))))
        except ValueError:
            return error_response(400, "limit: Input should be a valid integer")
        ids = [m["id"] for m in MODELS]
        after, before = request.query_params.get("after_id"), request.query_params.get("before_id")
        start, stop = 0, len(MODELS)
        if after in ids:
            start = ids.index(after) + 1
        if before in ids:
            stop = ids.index(before)
            start = max(0, stop - limit)
        page = list(MODELS[start:min(stop, start + limit)])
        body = {
            "data": page, "has_more": start + limit < stop if not before else start > 0,
            "first_id": page[0]["id"] if page else None, "last_id": page[-1]["id"] if page else None,
        }
        return _json(body, faults)

    async def get_model(request: Request) -> Response:
        faults = plan.for_request(request)
        if (early := await faults_before(request, faults)) is not None:
            return early
        model = next((m for m in MODELS if m["id"] == request.path_params["model_id"]), None)
        if model is None:
            return error_response(404, f"model: {request.path_params['model_id']}")
        return _json(model, faults)

    async def messages(request: Request) -> Response:
        faults = plan.for_request(request)
        if (early := await faults_before(request, faults)) is not None:
            return early
        try:
            body = json.loads(await request.body())
        except ValueError:
            return error_response(400, "There was an error parsing the body of your request")
        problem = _validate(body)
        if problem:
            return error_response(400, problem)
        model = next((m for m in MODELS if m["id"] == body["model"]), None)
        if model is None:
            return error_response(404, f"model: {body['model']}")
        prompt = prompt_text(body)
        n_prompt = count_tokens(prompt)
        if faults.has("context") or n_prompt > model["max_input_tokens"]:
            n_prompt = max(n_prompt, model["max_input_tokens"] + 1)
            return error_response(400, f"prompt is too long: {n_prompt} tokens > {model['max_input_tokens']} maximum")
        n_out = min(int(body["max_tokens"]), ANSWER_TOKENS)
        stop_reason = "end_turn" if n_out == ANSWER_TOKENS else "max_tokens"
        tokens = fake_tokens(prompt, seed, n_out)
        message_id = "msg_" + secrets.token_hex(12)
        headers = {"request-id": _request_id(), **_rate_limit_headers()}
        if body.get("stream"):
            events = message_events(message_id, body["model"], _usage(n_prompt, 1), _paced(pace, tokens), stop_reason,
                                    ping=True)
            stream = faults.shape_stream(events, [MESSAGE_STOP], MALFORMED_EVENT)
            return StreamingResponse(stream, media_type="text/event-stream; charset=utf-8",
                                     headers={**headers, "cache-control": "no-cache"})
        message = message_body(message_id, body["model"], [{"type": "text", "text": "".join(tokens)}], stop_reason,
                               _usage(n_prompt, len(tokens)))
        return _json(message, faults, headers)

    async def faults_route(request: Request) -> Response:
        return await control_faults(request, plan)

    return Starlette(routes=[
        Route("/v1/models", list_models, methods=["GET"]),
        Route("/v1/models/{model_id:path}", get_model, methods=["GET"]),
        Route("/v1/messages", messages, methods=["POST"]),
        Route("/_emulator/faults", faults_route, methods=["GET", "POST"]),
    ])


def _validate(body: Any) -> str | None:
    if not isinstance(body, dict):
        return "body: Input should be an object"
    if not isinstance(body.get("model"), str):
        return "model: Field required"
    if not isinstance(body.get("max_tokens"), int) or body["max_tokens"] < 1:
        return "max_tokens: Field required"
    turns = body.get("messages")
    if not isinstance(turns, list) or not turns:
        return "messages: at least one message is required"
    for index, turn in enumerate(turns):
        if not isinstance(turn, dict) or turn.get("role") not in ("user", "assistant"):
            return f"messages.{index}.role: Input should be 'user' or 'assistant'"
    last = turns[-1].get("content")
    if turns[-1]["role"] == "assistant" and isinstance(last, str) and last != last.rstrip():
        return "messages: final assistant content cannot end with trailing whitespace"
    return None


def prompt_text(body: dict[str, Any]) -> str:
    """Every piece of text the request carries, for token counting and seeding the fake answer."""
    parts: list[str] = []
    for item in [{"content": body.get("system", "")}, *body["messages"]]:
        content = item.get("content")
        if isinstance(content, str):
            parts.append(content)
        elif isinstance(content, list):
            parts.extend(str(b.get("text", "")) for b in content if isinstance(b, dict))
    return "\n".join(parts)


def _usage(input_tokens: int, output_tokens: int) -> dict[str, int]:
    return {"input_tokens": input_tokens, "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0,
            "output_tokens": output_tokens}


def message_body(message_id: str, model: str, content: list[dict[str, Any]], stop_reason: str | None,
                 usage: dict[str, int]) -> dict[str, Any]:
    """A Messages API `message` object; `usage` is the server's own (its keys differ between servers)."""
    return {
        "id": message_id, "type": "message", "role": "assistant", "model": model, "content": content,
        "stop_reason": stop_reason, "stop_sequence": None, "usage": usage,
    }


async def _paced(pace: Pace, tokens: list[str]) -> AsyncIterator[str]:
    async for _, token in pace.paced(tokens):
        yield token


async def message_events(message_id: str, model: str, start_usage: dict[str, int], tokens: AsyncIterator[str],
                         stop_reason: str, *, ping: bool) -> AsyncIterator[bytes]:
    """The event sequence of a streamed message, one network write per yield (MESSAGE_STOP is the terminator the
    caller adds); `start_usage` goes into message_start, `ping` is Anthropic's and not llama-server's."""
    # The opening events go out in one write, so that text is among the first chunks a mid-stream fault lets by.
    yield (
        sse_event("message_start", {"type": "message_start",
                                    "message": message_body(message_id, model, [], None, start_usage)})
        + sse_event("content_block_start", {"type": "content_block_start", "index": 0,
                                            "content_block": {"type": "text", "text": ""}})
        + (sse_event("ping", {"type": "ping"}) if ping else b"")
    )
    sent = 0
    async for token in tokens:
        sent += 1
        yield sse_event("content_block_delta", {"type": "content_block_delta", "index": 0,
                                                "delta": {"type": "text_delta", "text": token}})
    yield (
        sse_event("content_block_stop", {"type": "content_block_stop", "index": 0})
        + sse_event("message_delta", {"type": "message_delta",
                                      "delta": {"stop_reason": stop_reason, "stop_sequence": None},
                                      "usage": {"output_tokens": sent}})
    )


def _json(body: dict[str, Any], faults: RequestFaults, headers: dict[str, str] | None = None) -> Response:
    """A JSON reply with a request id, broken as the body faults ask."""
    return faults.json_reply(body, malformed=b'{"type":"message","content":[{',
                             headers={"request-id": _request_id(), **(headers or {})})
