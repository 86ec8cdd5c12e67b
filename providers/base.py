"""The provider protocol and the value types that cross it: health, models, chat, pulls, images."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Literal

import httpx

from providers.errors import UnsupportedError, redact
from providers.reply_numbers import check_tokens

HealthStatus = Literal["up", "degraded", "down", "unauthorized", "unknown"]
ModelKind = Literal["chat", "embed", "image", "collection", "workflow"]
"""What a catalog entry is: a model, or what a service serves (a vector collection, an n8n workflow)."""
Role = Literal["system", "user", "assistant"]


@dataclass(frozen=True, slots=True)
class Capabilities:
    """What a backend can do; the UI and router ask this, never isinstance."""

    chat: bool = False
    embed: bool = False
    images: bool = False
    pull: bool = False
    delete: bool = False
    unload: bool = False
    load: bool = False
    restart: bool = False
    metrics: bool = False
    copy: bool = False
    switch_checkpoint: bool = False


@dataclass(frozen=True, slots=True)
class Health:
    """One probe of a provider."""

    status: HealthStatus
    latency_ms: float | None = None
    version: str | None = None
    models_loaded: tuple[str, ...] = ()
    detail: str = ""
    vram_used_bytes: int | None = None
    vram_total_bytes: int | None = None
    metrics: Mapping[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        # Details and versions are backend text (error bodies, status fields): a probe may echo the key it was sent.
        object.__setattr__(self, "detail", redact(self.detail))
        if self.version is not None:
            object.__setattr__(self, "version", redact(self.version))


@dataclass(frozen=True, slots=True)
class ModelInfo:
    """One entry of the catalog. None means the backend does not say."""

    provider: str
    name: str
    kind: ModelKind = "chat"
    size_bytes: int | None = None
    quantization: str | None = None
    family: str | None = None
    parameter_size: str | None = None
    context_length: int | None = None
    loaded: bool = False
    size_vram_bytes: int | None = None
    expires_at: str | None = None


@dataclass(frozen=True, slots=True)
class Message:
    role: Role
    content: str


@dataclass(frozen=True, slots=True)
class ChatRequest:
    """A provider-neutral chat call. `assistant_prefix` continues a partial answer (continue_on_failover)."""

    model: str
    messages: tuple[Message, ...]
    max_tokens: int | None = None
    temperature: float | None = None
    top_p: float | None = None
    seed: int | None = None
    stop: tuple[str, ...] = ()
    assistant_prefix: str = ""


@dataclass(frozen=True, slots=True)
class Usage:
    """Tokens of one reply; each count is a whole number in 0..MAX_TOKENS (else ProtocolError at construction),
    so no reply can overflow the ledger or pay back a budget."""

    prompt_tokens: int = 0
    completion_tokens: int = 0
    estimated: bool = False
    """Counted by llmdeck (the server's tokenizer or characters/4) because the server sent no usage."""

    def __post_init__(self) -> None:
        check_tokens(self.prompt_tokens, "prompt token count")
        check_tokens(self.completion_tokens, "completion token count")

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens


@dataclass(frozen=True, slots=True)
class ServerTimings:
    """What the server itself measured (Ollama eval_* in ns, llama.cpp `timings` in ms), in ms."""

    prompt_tokens: int | None = None
    prompt_ms: float | None = None
    completion_tokens: int | None = None
    completion_ms: float | None = None

    @property
    def tokens_per_s(self) -> float | None:
        if self.completion_tokens and self.completion_ms:
            return self.completion_tokens / self.completion_ms * 1000.0
        return None


@dataclass(frozen=True, slots=True)
class ChatChunk:
    """One piece of a chat stream: a text delta, and on the last pieces the finish reason, usage, timings."""

    text: str = ""
    finish_reason: str | None = None
    usage: Usage | None = None
    timings: ServerTimings | None = None


@dataclass(frozen=True, slots=True)
class ChatResult:
    """A whole answer, as collected from a stream or a non-streaming call."""

    text: str
    model: str
    finish_reason: str | None = None
    usage: Usage | None = None
    timings: ServerTimings | None = None
    ttft_ms: float | None = None
    total_ms: float | None = None


@dataclass(frozen=True, slots=True)
class PullProgress:
    """Progress of a model pull; `fraction` is overall across layers, None while unknown."""

    status: str
    fraction: float | None = None
    completed_bytes: int = 0
    total_bytes: int = 0
    done: bool = False


@dataclass(frozen=True, slots=True)
class ImageRequest:
    prompt: str
    negative: str = ""
    width: int = 512
    height: int = 512
    steps: int = 20
    seed: int = -1
    sampler: str | None = None
    cfg_scale: float = 7.0
    model: str | None = None


@dataclass(frozen=True, slots=True)
class ImageProgress:
    fraction: float
    step: int | None = None
    steps: int | None = None
    eta_s: float | None = None


@dataclass(frozen=True, slots=True)
class ImageResult:
    """A generated PNG with what the backend reported about it."""

    png: bytes
    seed: int | None
    model: str | None
    width: int
    height: int
    info: Mapping[str, object] = field(default_factory=dict)


ProgressCallback = Callable[[ImageProgress], Awaitable[None] | None]
KeySource = Callable[[], str | None]


@dataclass(frozen=True, slots=True)
class AdapterOptions:
    """How to reach one provider. `api_key` is a callable so keys are resolved at use time, not load time."""

    name: str
    base_url: str
    kind: str
    api_key: KeySource | None = None
    timeout_s: float = 30.0
    connect_timeout_s: float = 5.0
    headers: Mapping[str, str] = field(default_factory=dict)
    image_timeout_s: float = 600.0
    """Image jobs: the whole job may take this long (timeout_s bounds each read only)."""
    image_idle_s: float = 120.0
    """Image jobs: no progress for this long means stalled."""
    tenant: str = "default_tenant"
    database: str = "default_database"
    """Chroma: where collections are listed."""
    config_dir: str | None = None
    """Reticulum: `rnstatus --config DIR`."""


class Adapter:
    """Base of every adapter. Subclasses override what their backend supports and set `capabilities`.

    Adapters speak one wire protocol, raise only `providers.errors`, and never retry: the router does.
    """

    capabilities: Capabilities = Capabilities()

    def __init__(self, options: AdapterOptions, client: httpx.AsyncClient) -> None:
        self.options = options
        self.client = client
        self.name = options.name
        self.kind = options.kind
        self.base_url = options.base_url.rstrip("/")

    def key(self) -> str | None:
        """The API key, resolved now."""
        return self.options.api_key() if self.options.api_key else None

    def url(self, path: str) -> str:
        return f"{self.base_url}{path}"

    def timeout(self, read_s: float | None = None) -> httpx.Timeout:
        """The provider's timeouts for one call: `read_s` (default timeout_s) per read, connect_timeout_s to connect."""
        return httpx.Timeout(read_s if read_s is not None else self.options.timeout_s,
                             connect=self.options.connect_timeout_s)

    def _unsupported(self, what: str) -> UnsupportedError:
        return UnsupportedError(f"{self.kind} does not support {what}", provider=self.name)

    async def health(self) -> Health:
        """One probe of the backend: the Health its answers describe, or the ProviderError of the call that failed.

        An adapter neither maps errors to statuses nor times itself: callers go through
        `providers.health_policy.probe_health`, which bounds and times the probe and judges a raised error by one
        table. A verdict only this kind can read from an answer (a model still loading, a dead engine) is
        returned as a Health."""
        raise self._unsupported("health")

    async def list_models(self) -> list[ModelInfo]:
        raise self._unsupported("listing models")

    def chat_stream(self, request: ChatRequest) -> AsyncIterator[ChatChunk]:
        """Stream a chat answer. Closing the iterator (aclose) closes the HTTP stream."""
        raise self._unsupported("chat")

    async def chat(self, request: ChatRequest) -> ChatResult:
        """Non-streaming chat. Default: collect the stream."""
        return await collect_chat(self.chat_stream(request), request.model)

    async def embed(self, model: str, inputs: list[str]) -> list[list[float]]:
        raise self._unsupported("embeddings")

    async def count_tokens(self, model: str, texts: list[str]) -> list[int] | None:
        """The server's own token count of each text, or None when it has no way to count. Asked only for a
        reply that came without usage; the caller bounds the time it may take."""
        return None

    def pull(self, model: str) -> AsyncIterator[PullProgress]:
        raise self._unsupported("pull")

    async def delete(self, model: str) -> None:
        raise self._unsupported("delete")

    async def load(self, model: str) -> None:
        raise self._unsupported("load")

    async def unload(self, model: str) -> None:
        raise self._unsupported("unload")

    async def generate_image(self, request: ImageRequest,
                             on_progress: ProgressCallback | None = None) -> ImageResult:
        raise self._unsupported("images")

    async def interrupt(self) -> None:
        raise self._unsupported("interrupt")

    def describe_call(self, operation: str, model: str | None = None) -> str:
        """The exact call an operation will make, shown before a destructive action."""
        return f"{operation} {self.base_url} {model or ''}".strip()


async def collect_chat(stream: AsyncIterator[ChatChunk], model: str) -> ChatResult:
    """Drain a chat stream into one result, measuring TTFT and total time."""
    started = time.perf_counter()
    parts: list[str] = []
    ttft_ms: float | None = None
    finish: str | None = None
    usage: Usage | None = None
    timings: ServerTimings | None = None
    async with closing_stream(stream):
        async for chunk in stream:
            if chunk.text:
                if ttft_ms is None:
                    ttft_ms = (time.perf_counter() - started) * 1000.0
                parts.append(chunk.text)
            finish = chunk.finish_reason or finish
            usage = chunk.usage or usage
            timings = chunk.timings or timings
    return ChatResult(
        text="".join(parts), model=model, finish_reason=finish, usage=usage, timings=timings,
        ttft_ms=ttft_ms, total_ms=(time.perf_counter() - started) * 1000.0,
    )


@asynccontextmanager
async def closing_stream(stream: AsyncIterator[object]) -> AsyncIterator[None]:
    """Close an async generator on exit (its `finally` blocks close the HTTP stream), however the block ends."""
    try:
        yield
    finally:
        aclose = getattr(stream, "aclose", None)
        if aclose is not None:
            await aclose()
