"""Ollama wire JSON → llmdeck types, in one place: version, tags, ps, show, chat lines, pull progress, embeddings."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from providers.base import ChatChunk, ChatResult, ModelInfo, ModelKind, PullProgress, ServerTimings, Usage
from providers.errors import ProtocolError
from providers.http import expect_dict
from providers.reply_numbers import token_count

_EMBEDDING_FAMILIES = ("bert", "nomic-bert")
"""Guessed: families that only embed, for servers whose /api/tags has no `capabilities` (documented as optional)."""


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _models(payload: Any, provider: str | None, what: str) -> list[dict[str, Any]]:
    models = expect_dict(payload, provider, what).get("models")
    if models is None:
        return []
    if not isinstance(models, list):
        raise ProtocolError(f"{what}: `models` is not a list", provider=provider)
    return [m for m in models if isinstance(m, dict) and _str(m.get("name") or m.get("model"))]


def _name(entry: dict[str, Any]) -> str:
    return str(entry.get("name") or entry.get("model"))


@dataclass(frozen=True, slots=True)
class ModelDetails:
    """What `/api/show` says about one model, for the details view."""

    name: str
    modelfile: str = ""
    parameters: str = ""
    template: str = ""
    context_length: int | None = None
    """The trained context window, `model_info["<arch>.context_length"]`."""
    capabilities: tuple[str, ...] = ()
    architecture: str | None = None
    family: str | None = None
    parameter_size: str | None = None
    quantization: str | None = None
    model_info: Mapping[str, str] = field(default_factory=dict)
    """The scalar entries of `model_info`, as text (token tables and other lists are left out)."""

    @property
    def kind(self) -> ModelKind:
        return "embed" if "embedding" in self.capabilities and "completion" not in self.capabilities else "chat"


@dataclass(frozen=True, slots=True)
class RunningModel:
    """One entry of `/api/ps`."""

    name: str
    size_bytes: int | None
    size_vram_bytes: int | None
    expires_at: str | None
    context_length: int | None


@dataclass(frozen=True, slots=True)
class TagEntry:
    """One entry of `/api/tags`; the digest keys the cache of `/api/show` answers."""

    info: ModelInfo
    digest: str


def parse_version(payload: Any, provider: str | None) -> str | None:
    return _str(expect_dict(payload, provider, "/api/version").get("version"))


def parse_tags(payload: Any, provider: str) -> list[TagEntry]:
    entries = []
    for entry in _models(payload, provider, "/api/tags"):
        details = _dict(entry.get("details"))
        family = _str(details.get("family"))
        capabilities = _list(entry.get("capabilities"))
        embeds = "embedding" in capabilities or (not capabilities and family in _EMBEDDING_FAMILIES)
        info = ModelInfo(
            provider=provider, name=_name(entry), kind="embed" if embeds else "chat",
            size_bytes=_int(entry.get("size")), quantization=_str(details.get("quantization_level")), family=family,
            parameter_size=_str(details.get("parameter_size")),
        )
        entries.append(TagEntry(info, str(entry.get("digest") or "")))
    return entries


def parse_ps(payload: Any, provider: str | None) -> list[RunningModel]:
    return [
        RunningModel(_name(entry), _int(entry.get("size")), _int(entry.get("size_vram")),
                     _str(entry.get("expires_at")), _int(entry.get("context_length")))
        for entry in _models(payload, provider, "/api/ps")
    ]


def merge_catalog(tags: list[TagEntry], running: list[RunningModel], details: Mapping[str, ModelDetails],
                  provider: str) -> list[ModelInfo]:
    """Installed models with their loaded state; `details` (by digest) adds the context window and kind.

    A model that runs without being installed (a cloud model) is listed too.
    """
    by_name = {model.name: model for model in running}
    catalog = []
    for entry in tags:
        info = entry.info
        known = details.get(entry.digest)
        if known is not None:
            info = replace(info, context_length=known.context_length, kind=known.kind)
        live = by_name.pop(info.name, None)
        if live is not None:
            info = replace(info, loaded=True, size_vram_bytes=live.size_vram_bytes, expires_at=live.expires_at,
                           context_length=info.context_length or live.context_length)
        catalog.append(info)
    catalog += [
        ModelInfo(provider=provider, name=live.name, size_bytes=live.size_bytes, loaded=True,
                  size_vram_bytes=live.size_vram_bytes, expires_at=live.expires_at, context_length=live.context_length)
        for live in by_name.values()
    ]
    return catalog


def parse_show(name: str, payload: Any, provider: str | None) -> ModelDetails:
    body = expect_dict(payload, provider, "/api/show")
    info = _dict(body.get("model_info"))
    details = _dict(body.get("details"))
    architecture = _str(info.get("general.architecture"))
    context = _int(info.get(f"{architecture}.context_length")) if architecture else None
    if context is None:  # an unusual architecture key: any `*.context_length` will do (guessed fallback)
        context = next((_int(v) for k, v in info.items() if k.endswith(".context_length") and _int(v)), None)
    capabilities = _list(body.get("capabilities"))
    return ModelDetails(
        name=name, modelfile=str(body.get("modelfile") or ""), parameters=str(body.get("parameters") or ""),
        template=str(body.get("template") or ""), context_length=context,
        capabilities=tuple(str(c) for c in capabilities), architecture=architecture,
        family=_str(details.get("family")), parameter_size=_str(details.get("parameter_size")),
        quantization=_str(details.get("quantization_level")),
        model_info={k: str(v) for k, v in info.items() if isinstance(v, str | int | float | bool)},
    )


def _final_figures(line: dict[str, Any]) -> tuple[str, Usage, ServerTimings]:
    prompt = token_count(line.get("prompt_eval_count"), "prompt_eval_count")
    completion = token_count(line.get("eval_count"), "eval_count")
    prompt_ns = _int(line.get("prompt_eval_duration"))
    completion_ns = _int(line.get("eval_duration"))
    timings = ServerTimings(
        prompt_tokens=prompt, prompt_ms=prompt_ns / 1e6 if prompt_ns is not None else None,
        completion_tokens=completion, completion_ms=completion_ns / 1e6 if completion_ns is not None else None,
    )
    # done_reason is documented on the final line; "stop" when absent is a guess for older servers.
    return str(line.get("done_reason") or "stop"), Usage(prompt or 0, completion or 0), timings


def _text_of(line: dict[str, Any]) -> str:
    message = line.get("message")
    if isinstance(message, dict):
        content = message.get("content")
        return content if isinstance(content, str) else ""
    response = line.get("response")  # /api/generate
    return response if isinstance(response, str) else ""


def chat_chunk(line: dict[str, Any]) -> tuple[ChatChunk, bool]:
    """One NDJSON line of `/api/chat` → a chunk, and whether it was the closing `done: true` line."""
    if line.get("done") is not True:
        return ChatChunk(text=_text_of(line)), False
    finish, usage, timings = _final_figures(line)
    return ChatChunk(text=_text_of(line), finish_reason=finish, usage=usage, timings=timings), True


def chat_result(payload: Any, model: str, total_ms: float, provider: str | None) -> ChatResult:
    """The single object of a `stream: false` chat."""
    body = expect_dict(payload, provider, "/api/chat")
    if body.get("done") is not True:
        raise ProtocolError("chat reply without done: true", provider=provider)
    finish, usage, timings = _final_figures(body)
    return ChatResult(text=_text_of(body), model=_str(body.get("model")) or model, finish_reason=finish,
                      usage=usage, timings=timings, total_ms=total_ms)


def expect_done(payload: Any, provider: str | None, what: str) -> str | None:
    """The done_reason of a load/unload reply; ProtocolError unless it says done."""
    body = expect_dict(payload, provider, what)
    if body.get("done") is not True:
        raise ProtocolError(f"{what}: reply without done: true", provider=provider)
    return _str(body.get("done_reason"))


class PullTally:
    """Turns per-layer pull lines into one overall progress: bytes completed over bytes announced so far.

    Layers are announced one after another, so a newly announced layer could pull the ratio back; the fraction
    reported never goes down (it holds until the bytes catch up) so a progress bar only moves forward.
    """

    def __init__(self) -> None:
        self._layers: dict[str, tuple[int, int]] = {}
        self._fraction: float | None = None

    def update(self, line: dict[str, Any]) -> PullProgress:
        status = str(line.get("status") or "")
        digest, total = _str(line.get("digest")), _int(line.get("total"))
        if digest is not None and total:
            before = self._layers.get(digest, (total, 0))[1]
            self._layers[digest] = (total, min(total, max(before, _int(line.get("completed")) or 0)))
        total_bytes = sum(t for t, _ in self._layers.values())
        completed_bytes = sum(c for _, c in self._layers.values())
        done = status == "success"
        if done:
            self._fraction = 1.0
        elif total_bytes:
            self._fraction = max(self._fraction or 0.0, completed_bytes / total_bytes)
        return PullProgress(status=status, fraction=self._fraction, completed_bytes=completed_bytes,
                            total_bytes=total_bytes, done=done)


def parse_embeddings(payload: Any, expected: int, provider: str | None) -> list[list[float]]:
    vectors = expect_dict(payload, provider, "/api/embed").get("embeddings")
    if not isinstance(vectors, list) or len(vectors) != expected or not all(
        isinstance(v, list) and all(isinstance(x, int | float) for x in v) for v in vectors
    ):
        raise ProtocolError(f"/api/embed: expected {expected} embeddings", provider=provider)
    return [[float(x) for x in v] for v in vectors]
