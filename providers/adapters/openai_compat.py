"""One adapter for every OpenAI-compatible server; the differences between them are data (openai_flavours)."""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import AsyncIterator, Mapping
from dataclasses import replace
from typing import Any

import httpx

from providers.adapters import openai_health, openai_tokenize
from providers.adapters.image_job import JobClock
from providers.adapters.openai_flavours import TokenizeRoute, flavour_for, server_root
from providers.adapters.openai_parse import (
    DONE,
    chat_body,
    chunk_from_event,
    embeddings_from,
    image_from,
    lmstudio_instances,
    models_from_list,
    no_done_error,
    openrouter_prices,
    props_context,
    result_from_completion,
)
from providers.base import (
    Adapter,
    AdapterOptions,
    ChatChunk,
    ChatRequest,
    ChatResult,
    Health,
    ImageProgress,
    ImageRequest,
    ImageResult,
    ModelInfo,
    ProgressCallback,
)
from providers.bounded_body import iter_text
from providers.errors import BadRequestError, ProviderTimeoutError, UnsupportedError
from providers.http import SSEParser, broken_after_text, check_event_stream, open_stream, request_json, send


class OpenAICompatAdapter(Adapter):
    """OpenAI, vLLM, llama.cpp, LM Studio, LocalAI, text-generation-webui, OpenRouter, DeepSeek, Open WebUI,
    LiteLLM, Portkey and the Hugging Face router: one wire protocol, per-flavour extras from the table."""

    def __init__(self, options: AdapterOptions, client: httpx.AsyncClient) -> None:
        super().__init__(options, client)
        self.flavour = flavour_for(options.kind)
        self.capabilities = self.flavour.capabilities
        self.root = server_root(options.base_url or self.flavour.default_base_url or "", self.flavour)
        self._prices: dict[str, tuple[float, float]] = {}
        self.tokenize_routes: tuple[TokenizeRoute, ...] = self.flavour.tokenize
        """The tokenize routes still worth trying; one the server answered 404 is dropped (openai_tokenize)."""

    # ------------------------------------------------------------ plumbing

    def api_url(self, path: str) -> str:
        """A URL under the OpenAI routes (…/v1 for most flavours)."""
        return f"{self.root}{self.flavour.api_prefix}{path}"

    def root_url(self, path: str) -> str:
        """A URL relative to the server root (/health, /metrics, /props, /api/v0/models …)."""
        return f"{self.root}{path}"

    def headers(self, *, stream: bool = False) -> dict[str, str]:
        """Flavour defaults, the configured extra headers (Portkey's x-portkey-*), then the Bearer key."""
        headers = {**self.flavour.headers, **self.options.headers}
        key = self.key()
        if key:
            headers["Authorization"] = f"Bearer {key}"
        if stream:
            headers["Accept"] = "text/event-stream"
        return headers

    async def get_json(self, url: str, *, params: Mapping[str, str] | None = None) -> Any:
        """GET a JSON body with this provider's headers; failures raise the mapped error."""
        return await request_json(self.client, "GET", url, provider=self.name, headers=self.headers(),
                                  params=params, timeout_s=self.timeout())

    async def get_text(self, url: str) -> str:
        """GET a text body (Prometheus metrics, liveness strings); failures raise the mapped error."""
        response = await send(self.client, "GET", url, provider=self.name, headers=self.headers(),
                              timeout_s=self.timeout())
        return response.text

    async def post_json(self, url: str, body: Mapping[str, Any]) -> Any:
        """POST JSON, return the parsed reply (None for an empty body); failures raise the mapped error."""
        return await request_json(self.client, "POST", url, provider=self.name, headers=self.headers(),
                                  json_body=body, timeout_s=self.timeout(), allow_empty=True)

    # ------------------------------------------------------------ chat

    def chat_stream(self, request: ChatRequest) -> AsyncIterator[ChatChunk]:
        """Stream /chat/completions; a failure after text becomes StreamBrokenError with the partial text."""
        return self._chat_chunks(request)

    async def _chat_chunks(self, request: ChatRequest) -> AsyncIterator[ChatChunk]:
        # SSE parsing, chunk decoding and guard_text_stream's rule in one generator: this runs once per token,
        # and every generator layer a chunk passes through costs a few microseconds.
        provider = self.name
        parts: list[str] = []
        with broken_after_text(parts, provider):
            body = chat_body(request, self.flavour, stream=True)
            async with open_stream(self.client, "POST", self.api_url("/chat/completions"), provider=provider,
                                   headers=self.headers(stream=True), json_body=body,
                                   timeout_s=self.timeout()) as response:
                check_event_stream(response, provider)
                parser = SSEParser(provider)
                done = False
                async for piece in iter_text(response, provider):  # open_stream maps transport errors
                    for event in parser.feed(piece):
                        if done:
                            continue  # nothing follows [DONE]: read on so the connection can be reused
                        chunk = chunk_from_event(event, provider)
                        if isinstance(chunk, ChatChunk):
                            if chunk.text:
                                parts.append(chunk.text)
                            yield chunk
                        elif chunk == DONE:
                            done = True
                if not done:
                    raise no_done_error(provider)

    async def chat(self, request: ChatRequest) -> ChatResult:
        """One non-streaming /chat/completions call."""
        started = time.perf_counter()
        reply = await self.post_json(self.api_url("/chat/completions"),
                                     chat_body(request, self.flavour, stream=False))
        result = result_from_completion(reply, request.model, self.name)
        return replace(result, total_ms=(time.perf_counter() - started) * 1000.0)

    async def count_tokens(self, model: str, texts: list[str]) -> list[int] | None:
        """The server's tokenizer count of each text (llama-server, llama-cpp-python, vLLM), None without one."""
        return await openai_tokenize.count_tokens(self, model, texts)

    # ------------------------------------------------------------ embeddings and images

    async def embed(self, model: str, inputs: list[str]) -> list[list[float]]:
        """One vector per input, in input order."""
        if not self.capabilities.embed:
            raise self._unsupported("embeddings")
        if not inputs:
            return []
        reply = await self.post_json(self.api_url("/embeddings"),
                                     {"model": model, "input": inputs, "encoding_format": "float"})
        return embeddings_from(reply, len(inputs), self.name)

    async def generate_image(self, request: ImageRequest,
                             on_progress: ProgressCallback | None = None) -> ImageResult:
        """/images/generations with b64_json; the reply must be a PNG."""
        if not self.capabilities.images:
            raise self._unsupported("images")
        model = request.model or self.flavour.default_image_model
        body: dict[str, Any] = {"prompt": request.prompt, "n": 1, "size": f"{request.width}x{request.height}"}
        if model:
            body["model"] = model
        if not (model or "").startswith("gpt-image"):
            # GPT-image models always answer b64_json and reject the field; the others default to URLs.
            body["response_format"] = "b64_json"
        await _report(on_progress, ImageProgress(fraction=0.0))
        # One POST, answered only when the image is done: its read may take the whole job (image_timeout_s), not
        # the per-read timeout_s. No progress to watch for a stall, no interrupt: closing the request is all.
        clock = JobClock(self.options, self.name)
        async with clock.limits(watch_idle=False):
            try:
                reply = await request_json(self.client, "POST", self.api_url("/images/generations"),
                                           provider=self.name, headers=self.headers(), json_body=body,
                                           timeout_s=self.timeout(self.options.image_timeout_s), allow_empty=True)
            except ProviderTimeoutError as exc:
                if exc.phase == "read":  # the same limit as the whole job's, reached by the read first
                    raise clock.timed_out() from None
                raise
        png, width, height, info = image_from(reply, self.name)
        await _report(on_progress, ImageProgress(fraction=1.0))
        return ImageResult(png=png, seed=None, model=model, width=width, height=height, info=info)

    # ------------------------------------------------------------ catalog

    async def list_models(self) -> list[ModelInfo]:
        """The model list, with context lengths and loaded state where the flavour says them."""
        catalog = self.flavour.catalog
        resident = self.flavour.models_resident
        if catalog == "llamacpp":
            listing, props = await asyncio.gather(self.get_json(self.api_url("/models")),
                                                  openai_health.optional(self.get_json, self.root_url("/props")))
            return models_from_list(listing, self.name, resident=resident, n_ctx=props_context(props))
        if catalog == "lmstudio":
            try:
                return models_from_list(await self.get_json(self.root_url("/api/v0/models")), self.name,
                                        resident=resident)
            except BadRequestError as exc:
                if exc.status != 404:
                    raise  # older LM Studio without REST v0: fall through to /v1/models
        listing = await self.get_json(self.api_url("/models"))
        if catalog == "openrouter":
            self._prices = openrouter_prices(listing)
        return models_from_list(listing, self.name, resident=resident)

    def prices(self) -> dict[str, tuple[float, float]]:
        """{model: (input USD per token, output USD per token)} learned by the last list_models (OpenRouter)."""
        return dict(self._prices)

    async def health(self) -> Health:
        """The flavour's probe (openai_health); a failed call raises."""
        return await openai_health.probe(self)

    # ------------------------------------------------------------ load / unload

    async def load(self, model: str) -> None:
        """llama.cpp router mode POST /models/load, or LM Studio POST /api/v1/models/load."""
        if self.kind == "llamacpp":
            await self._router_call("/models/load", model)
        elif self.kind == "lmstudio":
            await self.post_json(self.root_url("/api/v1/models/load"), {"model": model})
        else:
            raise self._unsupported("load")

    async def unload(self, model: str) -> None:
        """llama.cpp router mode POST /models/unload, or LM Studio unload of each loaded instance."""
        if self.kind == "llamacpp":
            await self._router_call("/models/unload", model)
        elif self.kind == "lmstudio":
            listing = await self.get_json(self.root_url("/api/v1/models"))
            for instance in lmstudio_instances(listing, model) or [model]:
                await self.post_json(self.root_url("/api/v1/models/unload"), {"instance_id": instance})
        else:
            raise self._unsupported("unload")

    async def _router_call(self, path: str, model: str) -> None:
        try:
            await self.post_json(self.root_url(path), {"model": model})
        except BadRequestError as exc:
            if exc.status in (404, 405, 501):
                raise UnsupportedError(f"llama-server is not in router mode (no {path})",
                                       status=exc.status, provider=self.name) from exc
            raise

    def describe_call(self, operation: str, model: str | None = None) -> str:
        """The exact request load/unload will send, for the confirmation prompt."""
        paths = {"llamacpp": {"load": "/models/load", "unload": "/models/unload"},
                 "lmstudio": {"load": "/api/v1/models/load", "unload": "/api/v1/models/unload"}}
        path = paths.get(self.kind, {}).get(operation)
        if path is None:
            return super().describe_call(operation, model)
        return f"POST {self.root_url(path)} {model or ''}".strip()


async def _report(callback: ProgressCallback | None, progress: ImageProgress) -> None:
    if callback is None:
        return
    outcome = callback(progress)
    if inspect.isawaitable(outcome):
        await outcome

