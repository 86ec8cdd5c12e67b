"""An OpenAI-compatible emulator in several flavours (openai, vllm, llamacpp, llama_cpp_python): models, chat
(SSE and not), embeddings, images, each flavour's own error shapes, plus the extras from openai_extras and, for
llama.cpp, the Anthropic Messages route from openai_messages."""

from __future__ import annotations

import base64
import hashlib
import json
import math
import struct
import time
from collections.abc import AsyncIterator
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from providers.emulators.faults import FaultPlan, RequestFaults, control_faults
from providers.emulators.openai_extras import FaultedHandler, Handler, extra_routes, generation_params
from providers.emulators.openai_messages import messages_handler
from providers.emulators.openai_state import (
    InFlight,
    ModelSpec,
    ServerState,
    context_error,
    error_response,
    new_state,
)
from providers.emulators.png import MAX_SIDE, gradient_png
from providers.emulators.text import Pace, count_tokens, fake_tokens

EMBEDDING_DIMS = 16
DONE = b"data: [DONE]\n\n"
MALFORMED_CHUNK = b'data: {"choices":[{"index":0,"delta":{"content":\n\n'


def _sse(payload: dict[str, Any]) -> bytes:
    return f"data: {json.dumps(payload, separators=(',', ':'))}\n\n".encode()


def _reply(body: Any, faults: RequestFaults, status: int = 200) -> Response:
    return faults.json_reply(body, malformed=b'{"object":"list","data":[{', status=status)


def _message_text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):  # content parts
        return " ".join(str(p.get("text", "")) for p in content if isinstance(p, dict))
    return ""


def _int_field(body: dict[str, Any], name: str, default: int) -> int:
    value = body.get(name)
    return value if isinstance(value, int) and not isinstance(value, bool) else default


def _answer_length(prompt: str, seed: int) -> int:
    """How long the answer wants to be (12–27 tokens), the same for the same prompt and seed."""
    return 12 + hashlib.sha256(f"{seed}|{prompt}".encode()).digest()[0] % 16


def _embedding(text: str, dims: int) -> list[float]:
    digest = hashlib.sha256(text.encode()).digest()
    raw = [(digest[i % len(digest)] + i * 7) % 256 - 127.5 for i in range(dims)]
    norm = math.sqrt(sum(v * v for v in raw)) or 1.0
    return [v / norm for v in raw]


def build(*, plan: FaultPlan, pace: Pace, seed: int, flavour: str) -> Starlette:
    """The emulator app. `flavour`: openai | vllm | llamacpp | llamacpp_router (llama.cpp with no -m) |
    llama_cpp_python (llama-cpp-python's server, whose streams never carry usage)."""
    state = new_state(flavour)

    def answer(prompt: str, max_tokens: int | None) -> tuple[list[str], str]:
        """The answer's tokens and finish reason ("length" when max_tokens cut it short)."""
        wanted = _answer_length(prompt, seed)
        n_out = min(wanted, max_tokens) if max_tokens else wanted
        finish = "length" if max_tokens is not None and max_tokens < wanted else "stop"
        return fake_tokens(prompt, seed, n_out), finish

    def faulted(handler: FaultedHandler) -> Handler:
        """Apply delay / stall_first and status faults, then hand the request and its faults to `handler`."""
        async def run(request: Request) -> Response:
            faults = plan.for_request(request)
            await faults.before_response()
            fault = faults.status_fault()
            if fault is not None and fault.status is not None:
                return error_response(state.flavour, fault.status, headers=faults.retry_after_headers())
            return await handler(request, faults)
        return run

    async def read_body(request: Request) -> dict[str, Any] | Response:
        try:
            body = json.loads(await request.body())
        except (ValueError, RecursionError):
            return error_response(state.flavour, 400, "We could not parse the JSON body of your request.")
        if not isinstance(body, dict):
            return error_response(state.flavour, 400, "The request body must be a JSON object.")
        return body

    async def list_models(request: Request, faults: RequestFaults) -> Response:  # noqa: ARG001
        return _reply(state.models_listing(), faults)

    async def chat(request: Request, faults: RequestFaults) -> Response:
        body = await read_body(request)
        if isinstance(body, Response):
            return body
        messages = body.get("messages")
        if not isinstance(messages, list) or not messages or not all(isinstance(m, dict) for m in messages):
            return error_response(state.flavour, 400, "'messages' must be a non-empty array of objects.")
        model = state.resolve(body.get("model"), "chat")
        if isinstance(model, Response):
            return model
        prompt = "\n".join(_message_text(m.get("content")) for m in messages)
        n_prompt = count_tokens(prompt) + 3 * len(messages)
        limit = _int_field(body, "max_completion_tokens", _int_field(body, "max_tokens", 0))
        max_tokens = limit if limit > 0 else None
        if faults.has("context") or state.over_context(model, n_prompt, max_tokens):
            return context_error(state.flavour, model, max(n_prompt, model.context + 1), max_tokens)
        tokens, finish = answer(prompt, max_tokens)
        params = generation_params(body, max_tokens) if state.flavour.startswith("llamacpp") else None
        if body.get("stream"):
            options = body.get("stream_options")
            include_usage = isinstance(options, dict) and bool(options.get("include_usage"))
            events = _chat_events(state, model, pace, tokens, finish, (n_prompt, params), include_usage)
            return StreamingResponse(faults.shape_stream(events, [DONE], MALFORMED_CHUNK),
                                     media_type="text/event-stream", headers={"cache-control": "no-cache"})
        return _reply(await _completion(state, model, pace, tokens, finish, n_prompt, params), faults)

    async def embeddings(request: Request, faults: RequestFaults) -> Response:
        body = await read_body(request)
        if isinstance(body, Response):
            return body
        raw_input = body.get("input")
        inputs = [raw_input] if isinstance(raw_input, str) else raw_input
        if not isinstance(inputs, list) or not inputs:
            return error_response(state.flavour, 400, "'input' must be a string or a non-empty array.")
        texts = [item if isinstance(item, str) else json.dumps(item) for item in inputs]
        model = state.resolve(body.get("model"), "embed")
        if isinstance(model, Response):
            return model
        n_prompt = sum(count_tokens(t) for t in texts)
        longest = max(count_tokens(t) for t in texts)
        if faults.has("context") or longest > model.context:
            return context_error(state.flavour, model, max(longest, model.context + 1), None)
        dims = _int_field(body, "dimensions", EMBEDDING_DIMS)
        data = []
        for index, text in enumerate(texts):
            vector = _embedding(text, max(1, min(4096, dims)))
            encoded: Any = vector
            if body.get("encoding_format") == "base64":
                encoded = base64.b64encode(struct.pack(f"<{len(vector)}f", *vector)).decode()
            data.append({"object": "embedding", "index": index, "embedding": encoded})
        return _reply({"object": "list", "data": data, "model": model.id,
                      "usage": {"prompt_tokens": n_prompt, "total_tokens": n_prompt}}, faults)

    async def images(request: Request, faults: RequestFaults) -> Response:
        body = await read_body(request)
        if isinstance(body, Response):
            return body
        model_name = body.get("model") or "dall-e-2"
        model = state.resolve(model_name, "image")
        if isinstance(model, Response):
            return model
        prompt = body.get("prompt")
        if not isinstance(prompt, str) or not prompt:
            return error_response(state.flavour, 400, "'prompt' is required.")
        if model.id.startswith("gpt-image") and "response_format" in body:
            return error_response(state.flavour, 400, "Unknown parameter: 'response_format'.")
        width, _, height = str(body.get("size") or "1024x1024").partition("x")
        if not (width.isdigit() and height.isdigit() and 0 < int(width) <= MAX_SIDE and 0 < int(height) <= MAX_SIDE):
            return error_response(state.flavour, 400, f"Invalid size {body.get('size')!r}.")
        count = _int_field(body, "n", 1)
        as_b64 = model.id.startswith("gpt-image") or body.get("response_format") == "b64_json"
        data = []
        for index in range(max(1, min(4, count))):
            digest = hashlib.sha256(f"{seed}|{prompt}|{index}".encode()).digest()
            encoded = base64.b64encode(gradient_png(int(width), int(height), digest[0])).decode()
            item: dict[str, Any] = {"revised_prompt": prompt} if model.id == "dall-e-3" else {}
            item["b64_json" if as_b64 else "url"] = encoded if as_b64 else f"data:image/png;base64,{encoded}"
            data.append(item)
        return _reply({"created": int(time.time()), "data": data}, faults)

    async def faults_route(request: Request) -> Response:
        return await control_faults(request, plan)

    models_route = faulted(list_models)
    routes = [
        Route("/v1/models", models_route, methods=["GET"]),
        Route("/v1/chat/completions", faulted(chat), methods=["POST"]),
        Route("/v1/embeddings", faulted(embeddings), methods=["POST"]),
        Route("/_emulator/faults", faults_route, methods=["GET", "POST"]),
    ]
    if state.flavour == "openai":
        routes.append(Route("/v1/images/generations", faulted(images), methods=["POST"]))
    if state.flavour.startswith("llamacpp"):  # llama-server also speaks Anthropic's Messages API
        routes.append(Route("/v1/messages", faulted(messages_handler(state, pace, answer)), methods=["POST"]))
    routes.extend(extra_routes(state, faulted, models_route))
    app = Starlette(routes=routes)
    app.state.openai = state  # for tests that read its counters
    return app


def _chunk(state: ServerState, model: ModelSpec, request_id: str, choices: list[dict[str, Any]],
           **extra: Any) -> dict[str, Any]:
    chunk: dict[str, Any] = {"id": request_id, "object": "chat.completion.chunk", "created": state.created,
                             "model": model.id, "choices": choices}
    if state.flavour not in ("vllm", "llama_cpp_python"):
        chunk["system_fingerprint"] = state.fingerprint
    chunk.update(extra)
    return chunk


def _choice(state: ServerState, delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
    choice: dict[str, Any] = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}
    if state.flavour.startswith("llamacpp"):  # llama-server sends no logprobs key unless asked (recorded)
        del choice["logprobs"]
    return choice


def _usage(state: ServerState, request: InFlight) -> dict[str, Any]:
    usage: dict[str, Any] = request.usage()
    if state.flavour.startswith("llamacpp"):  # no prompt cache here: nothing is ever reused
        usage["prompt_tokens_details"] = {"cached_tokens": 0}
    return usage


async def _chat_events(state: ServerState, model: ModelSpec, pace: Pace, tokens: list[str], finish: str,
                       task: tuple[int, dict[str, Any] | None], include_usage: bool) -> AsyncIterator[bytes]:
    """The chunks of a streamed answer, one write each ([DONE] is added by shape_stream as the terminator);
    `task` is the prompt's token count and llama.cpp's task params."""
    # Begun here, not by the caller: a stream that is never iterated must not leave a request in flight.
    request = state.begin(*task)
    # Ending every chunk with "usage": null is what OpenAI does when the final usage chunk is coming.
    usage_null = {"usage": None} if include_usage and state.flavour == "openai" else {}
    # llama-cpp-python 0.3.36 ignores stream_options: no usage chunk, ever (its recorded stream).
    include_usage = include_usage and state.flavour != "llama_cpp_python"
    try:
        first_content = None if state.flavour.startswith("llamacpp") else ""
        role: dict[str, Any] = {"role": "assistant"}
        if state.flavour != "llama_cpp_python":  # whose first delta is the role alone
            role["content"] = first_content
        yield _sse(_chunk(state, model, request.id, [_choice(state, role)], **usage_null))
        async for _, token in pace.paced(tokens):
            request.emitted()
            yield _sse(_chunk(state, model, request.id, [_choice(state, {"content": token})], **usage_null))
        timings = {"timings": request.timings()} if state.flavour.startswith("llamacpp") else {}
        final_extra = {**usage_null, **({} if include_usage else timings)}
        yield _sse(_chunk(state, model, request.id, [_choice(state, {}, finish)], **final_extra))
        if include_usage:
            yield _sse(_chunk(state, model, request.id, [], usage=_usage(state, request), **timings))
    finally:
        state.end(request)


async def _completion(state: ServerState, model: ModelSpec, pace: Pace, tokens: list[str], finish: str,
                      n_prompt: int, params: dict[str, Any] | None) -> dict[str, Any]:
    request = state.begin(n_prompt, params)
    try:
        async for _ in pace.paced(tokens):
            request.emitted()
    finally:
        state.end(request)
    choice: dict[str, Any] = {"index": 0, "message": {"role": "assistant", "content": "".join(tokens)},
                              "logprobs": None, "finish_reason": finish}
    if state.flavour.startswith("llamacpp"):
        del choice["logprobs"]
    reply: dict[str, Any] = {
        "id": request.id, "object": "chat.completion", "created": state.created, "model": model.id,
        "choices": [choice], "usage": _usage(state, request),
    }
    if state.flavour.startswith("llamacpp"):
        reply["system_fingerprint"] = state.fingerprint
        reply["timings"] = request.timings()
    return reply
