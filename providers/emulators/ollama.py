"""Ollama emulator: the native `/api` routes of PROTOCOLS.md §1, NDJSON streams, model state and faults.

Its shapes and messages come from Ollama's docs and source as PROTOCOLS.md cites them; no transcript of a running
Ollama has been recorded to check them against.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response, StreamingResponse
from starlette.routing import Route

from providers.emulators.faults import FaultPlan, RequestFaults, control_faults
from providers.emulators.ollama_answers import (
    CONTEXT_ERROR,
    MALFORMED_LINE,
    NDJSON,
    Generation,
    OllamaReplyError,
    answer_tokens,
    embedding,
    idle_reply,
    json_reply,
    keep_alive,
    model_name,
    ndjson_line,
    options_of,
    read_body,
)
from providers.emulators.ollama_state import (
    InstalledModel,
    OllamaState,
    layers_of,
    library_model,
    normalize_name,
    ps_json,
    show_json,
    tag_json,
    valid_name,
)
from providers.emulators.text import Pace, count_tokens

VERSION = "0.12.6"
PULL_SECONDS = 0.5
"""How long a pull takes from the first line to `success`, unless the Pace sets `pull_s`."""
HOLD_POLL_S = 0.01
"""How often a held pull looks whether it has been let go."""
PULL_STEPS = 20
"""Progress lines for the weights layer at least; the small layers take one each, so a pull is a few dozen lines."""
PULL_LINES_PER_S = 8
"""A slow pull reports its weights this often, so the progress of a pull that takes seconds moves smoothly."""
STATUS_MESSAGES = {
    401: "unauthorized", 402: "payment required: out of credits", 429: "too many requests, please slow down",
    500: "llama runner process has terminated: exit status 2",
    503: "server busy, please try again.  maximum pending requests exceeded", 529: "overloaded",
}

Handler = Callable[[Request, RequestFaults], Awaitable[Response]]


class OllamaEmulator:
    """The routes; each handler gets the request and the faults that strike it."""

    def __init__(self, plan: FaultPlan, pace: Pace, seed: int) -> None:
        self.state = OllamaState.with_starting_models()
        self.plan = plan
        self.pace = pace
        self.seed = seed

    def endpoint(self, handler: Handler, *, inference: bool = False) -> Callable[[Request], Awaitable[Response]]:
        async def run(request: Request) -> Response:
            faults = self.plan.for_request(request)
            await faults.before_response()
            if (fault := faults.status_fault()) is not None and fault.status is not None:
                return JSONResponse({"error": STATUS_MESSAGES[fault.status]}, status_code=fault.status,
                                    headers=faults.retry_after_headers())
            if inference and faults.has("context"):
                return JSONResponse({"error": CONTEXT_ERROR}, status_code=400)
            try:
                return await handler(request, faults)
            except OllamaReplyError as exc:
                return JSONResponse({"error": exc.message}, status_code=exc.status)

        return run

    def _installed(self, name: str) -> InstalledModel:
        found = self.state.find(name)
        if found is None:
            raise OllamaReplyError(404, f'model "{name}" not found, try pulling it first')
        return found

    async def root(self, request: Request, faults: RequestFaults) -> Response:
        return PlainTextResponse("Ollama is running")

    async def version(self, request: Request, faults: RequestFaults) -> Response:
        return json_reply({"version": VERSION}, faults)

    async def tags(self, request: Request, faults: RequestFaults) -> Response:
        models = sorted(self.state.installed.values(), key=lambda m: m.modified_at, reverse=True)
        return json_reply({"models": [tag_json(m) for m in models]}, faults)

    async def ps(self, request: Request, faults: RequestFaults) -> Response:
        running = self.state.running()
        return json_reply({"models": [ps_json(self.state.installed[m.name], m) for m in running]}, faults)

    async def show(self, request: Request, faults: RequestFaults) -> Response:
        name = model_name(await read_body(request))
        found = self.state.find(name)
        if found is None:
            raise OllamaReplyError(404, f"model '{name}' not found")
        return json_reply(show_json(found), faults)

    async def delete(self, request: Request, faults: RequestFaults) -> Response:
        name = model_name(await read_body(request))
        if not self.state.delete(name):
            raise OllamaReplyError(404, f"model '{name}' not found")
        return json_reply(None, faults)

    async def copy(self, request: Request, faults: RequestFaults) -> Response:
        body = await read_body(request)
        source, destination = body.get("source"), body.get("destination")
        if not isinstance(source, str) or not isinstance(destination, str) or not valid_name(destination):
            raise OllamaReplyError(400, "source and destination are required")
        if not self.state.copy(source, destination):
            raise OllamaReplyError(404, f'model "{source}" not found')
        return json_reply(None, faults)

    async def pull(self, request: Request, faults: RequestFaults) -> Response:
        body = await read_body(request)
        name = model_name(body)
        if not valid_name(name):
            raise OllamaReplyError(400, "invalid model name")
        canonical = normalize_name(name)
        present = self.state.find(canonical) is not None

        def finish() -> Iterator[bytes]:
            # Installed only as `success` goes out: a cancelled, cut or truncated pull leaves nothing behind.
            self.state.install(canonical)
            yield ndjson_line({"status": "success"})

        if body.get("stream") is False:
            await asyncio.sleep(0 if present else self.pull_seconds)
            self.state.install(canonical)
            return json_reply({"status": "success"}, faults)
        stream = faults.shape_stream(self._pull_lines(canonical, present), finish(), MALFORMED_LINE)
        return StreamingResponse(stream, media_type=NDJSON)

    @property
    def pull_seconds(self) -> float:
        return PULL_SECONDS if self.pace.pull_s is None else self.pace.pull_s

    async def _pull_lines(self, name: str, present: bool) -> AsyncIterator[bytes]:
        layers = layers_of(library_model(name))
        weight_steps = max(PULL_STEPS, round(self.pull_seconds * PULL_LINES_PER_S))
        # Each progress line and closing status waits one gap: the whole pull takes a little under `pull_seconds`.
        gap = 0.0 if present else self.pull_seconds / (weight_steps + 2 * len(layers) + 2)
        self.state.active_pulls += 1
        try:
            yield ndjson_line({"status": "pulling manifest"})
            for layer in layers:
                status = {"status": f"pulling {layer.digest[7:19]}", "digest": layer.digest, "total": layer.size}
                if present:  # Blobs already on disk are reported complete at once.
                    yield ndjson_line(status | {"completed": layer.size})
                    continue
                yield ndjson_line(status)  # `completed` is absent until the first bytes arrive.
                steps = weight_steps if layer.size > 1_000_000 else 1
                for step in range(1, steps + 1):
                    await asyncio.sleep(gap)
                    # set from the test's thread, where an asyncio.Event cannot be set safely: poll it
                    while self.state.hold_pulls and 2 * step > steps:  # noqa: ASYNC110
                        await asyncio.sleep(HOLD_POLL_S)
                    yield ndjson_line(status | {"completed": layer.size * step // steps})
            for status_text in ("verifying sha256 digest", "writing manifest", "removing any unused layers"):
                await asyncio.sleep(gap)
                yield ndjson_line({"status": status_text})
        except (asyncio.CancelledError, GeneratorExit):
            self.state.cancelled["pull"] += 1
            raise
        finally:
            self.state.active_pulls -= 1

    async def generate(self, request: Request, faults: RequestFaults) -> Response:
        body = await read_body(request)
        prompt = body.get("prompt") or ""
        if not isinstance(prompt, str):
            raise OllamaReplyError(400, "prompt must be a string")
        text = "\n".join(part for part in (body.get("system") or "", prompt) if isinstance(part, str) and part)
        return await self._infer(body, faults, "response", text, count_tokens(text), idle=not prompt)

    async def chat(self, request: Request, faults: RequestFaults) -> Response:
        body = await read_body(request)
        messages = body.get("messages") or []
        if not isinstance(messages, list) or not all(
            isinstance(m, dict) and isinstance(m.get("role"), str) and isinstance(m.get("content", ""), str)
            for m in messages
        ):
            raise OllamaReplyError(400, "messages must be a list of {role, content} objects")
        text = "\n".join(f"{m['role']}: {m.get('content', '')}" for m in messages)
        prompt_tokens = sum(count_tokens(m.get("content", "")) + 4 for m in messages)
        return await self._infer(body, faults, "message", text, prompt_tokens, idle=not messages)

    async def _infer(self, body: dict[str, Any], faults: RequestFaults, key: str, text: str,
                     prompt_tokens: int, *, idle: bool) -> Response:
        """Shared by generate and chat: load or unload when there is nothing to answer, else an answer."""
        request_model = model_name(body)
        model = self._installed(request_model)
        keep = keep_alive(body)
        options = options_of(body)
        if idle:
            unloading = keep is not None and keep.total_seconds() == 0
            if unloading:
                self.state.unload(model.name)
            else:
                self.state.load(model, keep, options.get("num_ctx"))
            return json_reply(idle_reply(request_model, key, "unload" if unloading else "load"), faults)
        if model.spec.is_embedding:
            route = "chat" if key == "message" else "generate"
            raise OllamaReplyError(400, f'"{request_model}" does not support {route}')
        started = time.perf_counter()
        load_s = self.state.load(model, keep, options.get("num_ctx"))
        tokens, reason = answer_tokens(text, options, self.seed)
        run = Generation(request_model, model, key, tokens, reason, prompt_tokens, load_s, started)
        if body.get("stream") is False:
            async for _ in self.pace.paced(tokens):
                run.emitted += 1
            return json_reply(run.final("".join(tokens)), faults)

        def final_line() -> Iterator[bytes]:  # built lazily, once the body has counted what it sent
            yield ndjson_line(run.final())

        stream = faults.shape_stream(self._answer_lines(run), final_line(), MALFORMED_LINE)
        return StreamingResponse(stream, media_type=NDJSON)

    async def _answer_lines(self, run: Generation) -> AsyncIterator[bytes]:
        try:
            async for _, token in self.pace.paced(run.tokens):
                if run.first_token_at is None:
                    run.first_token_at = time.perf_counter()
                run.emitted += 1
                yield ndjson_line(run.piece(token))
        except (asyncio.CancelledError, GeneratorExit):
            self.state.cancelled["chat" if run.key == "message" else "generate"] += 1
            raise

    async def embed(self, request: Request, faults: RequestFaults) -> Response:
        """`/api/embed` (`input`: str or list) and the legacy `/api/embeddings` (`prompt`)."""
        body = await read_body(request)
        request_model = model_name(body)
        model = self._installed(request_model)
        raw = body.get("input", body.get("prompt", ""))
        inputs = [raw] if isinstance(raw, str) else raw
        if not isinstance(inputs, list) or not all(isinstance(i, str) for i in inputs):
            raise OllamaReplyError(400, "input must be a string or a list of strings")
        if body.get("truncate") is False and any(count_tokens(i) > model.spec.context_length for i in inputs):
            raise OllamaReplyError(400, CONTEXT_ERROR)
        load_s = self.state.load(model, keep_alive(body))
        vectors = [embedding(model, text, self.seed) for text in inputs]
        if request.url.path.endswith("/embeddings"):
            return json_reply({"embedding": vectors[0]}, faults)
        return json_reply({"model": request_model, "embeddings": vectors, "total_duration": 14_143_917,
                           "load_duration": int(load_s * 1e9) or 1_019_500,
                           "prompt_eval_count": sum(count_tokens(i) for i in inputs)}, faults)


def build(*, plan: FaultPlan, pace: Pace, seed: int, flavour: str) -> Starlette:
    """The Ollama emulator app; `app.state.ollama` exposes its model state to tests."""
    emulator = OllamaEmulator(plan, pace, seed)
    e = emulator.endpoint

    async def faults_route(request: Request) -> Response:
        return await control_faults(request, plan)

    routes = [
        Route("/", e(emulator.root), methods=["GET"]),
        Route("/api/version", e(emulator.version), methods=["GET"]),
        Route("/api/tags", e(emulator.tags), methods=["GET"]),
        Route("/api/ps", e(emulator.ps), methods=["GET"]),
        Route("/api/show", e(emulator.show), methods=["POST"]),
        Route("/api/pull", e(emulator.pull), methods=["POST"]),
        Route("/api/delete", e(emulator.delete), methods=["DELETE"]),
        Route("/api/copy", e(emulator.copy), methods=["POST"]),
        Route("/api/generate", e(emulator.generate, inference=True), methods=["POST"]),
        Route("/api/chat", e(emulator.chat, inference=True), methods=["POST"]),
        Route("/api/embed", e(emulator.embed, inference=True), methods=["POST"]),
        Route("/api/embeddings", e(emulator.embed, inference=True), methods=["POST"]),
        Route("/_emulator/faults", faults_route, methods=["GET", "POST"]),
    ]
    app = Starlette(routes=routes)
    app.state.ollama = emulator.state
    app.state.flavour = flavour
    return app
