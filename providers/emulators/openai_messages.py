"""llama-server's Anthropic Messages API (POST /v1/messages) for the llama.cpp emulator, in the shapes recorded from
the stock server (../shared/fixtures/llamacpp_anthropic_messages*): ids `chatcmpl-…`, no `ping`, usage without
cache_creation_input_tokens and output_tokens 0 in message_start; errors in llama-server's own envelope. The message
and event builders are the Anthropic emulator's."""

from __future__ import annotations

import json
import secrets
import string
from collections.abc import AsyncIterator, Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from providers.emulators.anthropic import MALFORMED_EVENT, MESSAGE_STOP, message_body, message_events, prompt_text
from providers.emulators.faults import RequestFaults
from providers.emulators.openai_extras import FaultedHandler, generation_params
from providers.emulators.openai_state import InFlight, ServerState, context_error, error_response
from providers.emulators.text import Pace, count_tokens

Answer = Callable[[str, int | None], tuple[list[str], str]]
"""(prompt, max_tokens) → the answer's tokens and its OpenAI finish reason."""
_ID_ALPHABET = string.ascii_letters + string.digits


def _message_id() -> str:
    """llama-server names Messages replies like its chat completions: chatcmpl- and 32 random characters."""
    return "chatcmpl-" + "".join(secrets.choice(_ID_ALPHABET) for _ in range(32))


def _usage(request: InFlight, output_tokens: int) -> dict[str, int]:
    # llama-server reports the prompt minus what its cache reused; the emulator reuses nothing.
    return {"cache_read_input_tokens": 0, "input_tokens": request.n_prompt, "output_tokens": output_tokens}


def _problem(body: Any) -> str | None:
    """Why llama-server would refuse the body, or None."""
    if not isinstance(body, dict):
        return "The request body must be a JSON object."
    turns = body.get("messages")
    if not isinstance(turns, list) or not turns or not all(isinstance(t, dict) for t in turns):
        return "'messages' must be a non-empty array of objects."
    return None


def messages_handler(state: ServerState, pace: Pace, answer: Answer) -> FaultedHandler:
    """POST /v1/messages, plain or streamed, counted in /slots and /metrics like a chat completion."""

    async def handler(request: Request, faults: RequestFaults) -> Response:
        try:
            body = json.loads(await request.body())
        except (ValueError, RecursionError):
            return error_response(state.flavour, 400, "We could not parse the JSON body of your request.")
        if (problem := _problem(body)) is not None:
            return error_response(state.flavour, 400, problem)
        model = state.resolve(body.get("model"), "chat")
        if isinstance(model, Response):
            return model
        prompt = prompt_text(body)
        n_prompt = count_tokens(prompt) + 3 * (len(body["messages"]) + (1 if body.get("system") else 0))
        limit = body.get("max_tokens")
        max_tokens = limit if isinstance(limit, int) and not isinstance(limit, bool) and limit > 0 else None
        if faults.has("context") or state.over_context(model, n_prompt, max_tokens):
            return context_error(state.flavour, model, max(n_prompt, model.context + 1), max_tokens)
        tokens, finish = answer(prompt, max_tokens)
        stop_reason = "max_tokens" if finish == "length" else "end_turn"
        params = generation_params(body, max_tokens)
        message_id = _message_id()
        if body.get("stream") is True:
            events = _events(state, pace, (n_prompt, params), message_id, model.id, tokens, stop_reason)
            return StreamingResponse(faults.shape_stream(events, [MESSAGE_STOP], MALFORMED_EVENT),
                                     media_type="text/event-stream", headers={"cache-control": "no-cache"})
        task = state.begin(n_prompt, params)
        try:
            async for _ in pace.paced(tokens):
                task.emitted()
        finally:
            state.end(task)
        reply = message_body(message_id, model.id, [{"type": "text", "text": "".join(tokens)}], stop_reason,
                             _usage(task, task.n_generated))
        return faults.json_reply(reply, malformed=b'{"type":"message","content":[{')

    return handler


async def _events(state: ServerState, pace: Pace, task: tuple[int, dict[str, Any]], message_id: str, model: str,
                  tokens: list[str], stop_reason: str) -> AsyncIterator[bytes]:
    # Begun here, as the chat stream does: a stream that is never iterated leaves nothing in flight.
    request = state.begin(*task)

    async def emitted() -> AsyncIterator[str]:
        async for _, token in pace.paced(tokens):
            request.emitted()
            yield token

    try:
        async for event in message_events(message_id, model, _usage(request, 0), emitted(), stop_reason,
                                          ping=False):
            yield event
    finally:
        state.end(request)
