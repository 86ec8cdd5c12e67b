"""Ollama's native API (`/api/*`, NDJSON streams): health, catalog, chat, embeddings, pull, delete, load, unload.

Wire shapes follow PROTOCOLS.md §1 (Ollama's docs/api.md and server/routes.go at fb307609): documented, not
recorded from a running server (../shared/fixtures holds no Ollama transcript). Guesses are marked where made.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx

from providers.adapters.ollama_parse import (
    ModelDetails,
    PullTally,
    chat_chunk,
    chat_result,
    expect_done,
    merge_catalog,
    parse_embeddings,
    parse_ps,
    parse_show,
    parse_tags,
    parse_version,
)
from providers.base import (
    Adapter,
    AdapterOptions,
    Capabilities,
    ChatChunk,
    ChatRequest,
    ChatResult,
    Health,
    ModelInfo,
    PullProgress,
)
from providers.errors import (
    BadRequestError,
    ProtocolError,
    ProviderError,
    ProviderTimeoutError,
    ServerError,
)
from providers.http import guard_text_stream, iter_ndjson, open_stream, request_json

__all__ = ["ModelDetails", "OllamaAdapter"]

LOAD_KEEP_ALIVE = "10m"
"""How long `load` keeps a model in memory unless told otherwise (-1: until unloaded)."""
SLOW_CALL_TIMEOUT_S = 300.0
"""Loading weights and verifying a pulled blob are silent for long stretches on big models."""
SHOW_LOOKUPS_PER_LISTING = 32
"""At most this many `/api/show` calls per listing to learn context windows; answers are cached by digest."""


VERSION_RECHECK_S = 60.0
"""How long a health probe trusts the version it last read."""


class OllamaAdapter(Adapter):
    """One Ollama server (local, or Ollama Cloud with a bearer key)."""

    capabilities = Capabilities(chat=True, embed=True, pull=True, delete=True, unload=True, load=True, copy=True)

    def __init__(self, options: AdapterOptions, client: httpx.AsyncClient) -> None:
        super().__init__(options, client)
        self._details_by_digest: dict[str, ModelDetails] = {}
        self._version: str | None = None
        self._version_until = 0.0
        """The version read last, trusted until this time.monotonic()."""

    def _headers(self) -> dict[str, str]:
        headers = dict(self.options.headers)
        key = self.key()
        if key:
            headers["Authorization"] = f"Bearer {key}"
        return headers

    async def _json(self, method: str, path: str, body: dict[str, Any] | None = None, *,
                    timeout_s: float | None = None, allow_empty: bool = False) -> Any:
        return await request_json(self.client, method, self.url(path), provider=self.name, headers=self._headers(),
                                  json_body=body, timeout_s=self.timeout(timeout_s),
                                  allow_empty=allow_empty)

    @staticmethod
    def _call(operation: str, model: str, keep_alive: str | int = LOAD_KEEP_ALIVE) -> tuple[str, str, dict[str, Any]]:
        """Method, path and body of the model operations; `describe_call` shows exactly these."""
        calls: dict[str, tuple[str, str, dict[str, Any]]] = {
            "delete": ("DELETE", "/api/delete", {"model": model}),
            "pull": ("POST", "/api/pull", {"model": model}),
            "load": ("POST", "/api/generate", {"model": model, "keep_alive": keep_alive}),
            "unload": ("POST", "/api/generate", {"model": model, "keep_alive": 0}),
            "show": ("POST", "/api/show", {"model": model}),
        }
        return calls[operation]

    def describe_call(self, operation: str, model: str | None = None) -> str:
        """E.g. `DELETE http://127.0.0.1:11434/api/delete {"model": "llama3.2:1b"}`."""
        try:
            method, path, body = self._call(operation, model or "")
        except KeyError:
            return super().describe_call(operation, model)
        return f"{method} {self.url(path)} {json.dumps(body)}"

    async def health(self) -> Health:
        """Version and loaded models; a failed call raises.

        One request per probe while the server stays up: `/api/ps` proves it alive and says what is loaded, and the
        version, which changes only with an upgrade, is asked again every VERSION_RECHECK_S or after a failure.
        At 100 providers probed every second that halves the probes' cost (bench/monitor_cpu.py)."""
        cached = self._version if time.monotonic() < self._version_until else None
        version = cached
        if version is None:
            version = parse_version(await self._json("GET", "/api/version"), self.name)
            self._version, self._version_until = version, time.monotonic() + VERSION_RECHECK_S
        try:
            running = parse_ps(await self._json("GET", "/api/ps"), self.name)
        except ProviderError:
            self._version_until = 0.0
            if cached is None:
                raise
            return await self.health()  # /api/ps was this probe's only call: judge the failure the full way
        return Health(
            status="up", version=version, models_loaded=tuple(m.name for m in running),
            vram_used_bytes=sum(m.size_vram_bytes or 0 for m in running), detail=f"{len(running)} loaded",
        )

    async def list_models(self) -> list[ModelInfo]:
        """Installed models merged with what is loaded; context windows from `/api/show`, cached by digest."""
        tags_payload, ps_payload = await asyncio.gather(self._json("GET", "/api/tags"), self._json("GET", "/api/ps"))
        tags = parse_tags(tags_payload, self.name)
        unknown = [t for t in tags if t.digest and t.digest not in self._details_by_digest]
        lookups = unknown[:SHOW_LOOKUPS_PER_LISTING]
        answers = await asyncio.gather(*(self.show(t.info.name) for t in lookups), return_exceptions=True)
        for entry, answer in zip(lookups, answers, strict=True):
            if isinstance(answer, ModelDetails):
                self._details_by_digest[entry.digest] = answer
            elif not isinstance(answer, ProviderError):  # only provider failures are optional here
                raise answer
        return merge_catalog(tags, parse_ps(ps_payload, self.name), self._details_by_digest, self.name)

    async def show(self, model: str) -> ModelDetails:
        """Modelfile, parameters, template, context window and capabilities of one model."""
        method, path, body = self._call("show", model)
        return parse_show(model, await self._json(method, path, body), self.name)

    def _chat_body(self, request: ChatRequest, *, stream: bool) -> dict[str, Any]:
        messages = [{"role": m.role, "content": m.content} for m in request.messages]
        # Guessed (not in PROTOCOLS.md, not recorded): Ollama continues a trailing assistant message.
        if request.assistant_prefix:
            messages.append({"role": "assistant", "content": request.assistant_prefix})
        options: dict[str, Any] = {
            name: value
            for name, value in (("num_predict", request.max_tokens), ("temperature", request.temperature),
                                ("top_p", request.top_p), ("seed", request.seed))
            if value is not None
        }
        if request.stop:
            options["stop"] = list(request.stop)
        body: dict[str, Any] = {"model": request.model, "messages": messages, "stream": stream}
        if options:
            body["options"] = options
        return body

    def chat_stream(self, request: ChatRequest) -> AsyncIterator[ChatChunk]:
        """NDJSON chat; a failure after text becomes StreamBrokenError carrying that text."""
        return guard_text_stream(self._chat_lines(request), self.name)

    async def _chat_lines(self, request: ChatRequest) -> AsyncIterator[ChatChunk]:
        lines = 0
        finished = False
        try:
            async with open_stream(self.client, "POST", self.url("/api/chat"), provider=self.name,
                                   headers=self._headers(), json_body=self._chat_body(request, stream=True),
                                   timeout_s=self.timeout()) as response:
                async for line in iter_ndjson(response, self.name):
                    lines += 1
                    if finished:  # nothing follows done: true; read on only so the connection can be reused
                        continue
                    chunk, finished = chat_chunk(line)
                    yield chunk
        except ProviderTimeoutError as exc:
            raise ProviderTimeoutError(exc.message, phase="idle" if lines else "ttft", provider=self.name) from exc
        if not finished:
            raise ProtocolError("chat stream ended without done: true", provider=self.name)

    async def chat(self, request: ChatRequest) -> ChatResult:
        """One `stream: false` call."""
        started = time.perf_counter()
        payload = await self._json("POST", "/api/chat", self._chat_body(request, stream=False))
        return chat_result(payload, request.model, (time.perf_counter() - started) * 1000.0, self.name)

    async def embed(self, model: str, inputs: list[str]) -> list[list[float]]:
        payload = await self._json("POST", "/api/embed", {"model": model, "input": inputs})
        return parse_embeddings(payload, len(inputs), self.name)

    async def pull(self, model: str) -> AsyncIterator[PullProgress]:
        """Overall progress across layers until `success`. Closing the iterator (aclose) drops the connection,
        which makes Ollama cancel the download."""
        method, path, body = self._call("pull", model)
        tally = PullTally()
        finished = False
        try:
            async with open_stream(self.client, method, self.url(path), provider=self.name, headers=self._headers(),
                                   json_body=body,
                                   timeout_s=self.timeout(max(self.options.timeout_s, SLOW_CALL_TIMEOUT_S)),
                                   ) as response:
                async for line in iter_ndjson(response, self.name):
                    if finished:
                        continue
                    progress = tally.update(line)
                    finished = progress.done
                    yield progress
        except ServerError as exc:
            # Guessed wording ("pull model manifest: file does not exist"), not in PROTOCOLS.md, not recorded.
            if "file does not exist" in exc.message:  # the registry has no such model or tag
                raise BadRequestError(f"{model}: not in the registry ({exc.message})", provider=self.name) from exc
            raise
        if not finished:
            raise ProtocolError("pull stream ended without status success", provider=self.name)

    async def delete(self, model: str) -> None:
        """Remove a model from disk; an unknown model is a BadRequestError ("model … not found")."""
        method, path, body = self._call("delete", model)
        await self._json(method, path, body, allow_empty=True)

    async def copy(self, source: str, destination: str) -> None:
        await self._json("POST", "/api/copy", {"source": source, "destination": destination}, allow_empty=True)

    async def load(self, model: str, keep_alive: str | int = LOAD_KEEP_ALIVE) -> None:
        """Load into memory for `keep_alive` ("10m", seconds, or -1 for until unloaded)."""
        method, path, body = self._call("load", model, keep_alive)
        payload = await self._json(method, path, body, timeout_s=max(self.options.timeout_s, SLOW_CALL_TIMEOUT_S))
        expect_done(payload, self.name, "load")

    async def unload(self, model: str) -> None:
        """Free the model's memory now (keep_alive 0; Ollama answers done_reason "unload")."""
        method, path, body = self._call("unload", model)
        expect_done(await self._json(method, path, body), self.name, "unload")
