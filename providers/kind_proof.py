"""What proves that a server is of a given kind, for auto-discovery.

Several kinds share usual ports (8000: vLLM and Chroma; 8080: llama.cpp and LocalAI; 3000: Open WebUI and TGI), and
a health probe is made to tell an operator how a known server is doing, not what a stranger is: a Chroma answers
vLLM's `GET /health` with 404, which says nothing about what it is. So discovery asks each kind
for evidence instead: replies whose shape only that kind gives. Each piece of evidence has a strength; a 404, an
error or an unrelated body proves nothing, and several kinds answering on one port are told apart by the
strongest proof (ties go to the kind listed first, so the outcome never depends on which reply came back first).

Strengths: 3 = a field or route only this kind has (vLLM's `owned_by: vllm`, Chroma's "nanosecond heartbeat");
2 = a route typical of the kind but not unique to it (`GET /version` with a version); 1 = any OpenAI-style model
list, which every OpenAI-compatible server gives.

Evidence marked "recorded" was checked against a transcript of the stock server (../shared/fixtures) or a stock
server run here; "documented" comes from the project's own docs or source, not yet seen from a running server.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import httpx

from providers.errors import ProviderError
from providers.http import MAX_LISTING_BYTES, fetch, parse_json


@dataclass(frozen=True, slots=True)
class Reply:
    """One answer, already bounded: its status, the JSON it parsed to (None if it did not) and its text."""

    status: int
    data: Any
    text: str


@dataclass(frozen=True, slots=True)
class Evidence:
    """One request whose answer, if `holds`, proves the kind with `strength`."""

    path: str
    strength: int
    holds: Callable[[Any, str], bool]
    """Given the parsed JSON (None when not JSON) and the text of a 2xx answer."""
    says: str
    """What the proof was, for the operator: `GET /version answered a version`."""
    method: str = "GET"
    body: Any = None


def _obj(data: Any) -> dict[str, Any]:
    return data if isinstance(data, dict) else {}


def _model_items(data: Any) -> list[dict[str, Any]]:
    items = _obj(data).get("data")
    return [item for item in items if isinstance(item, dict)] if isinstance(items, list) else []


def _owned_by(owner: str) -> Callable[[Any, str], bool]:
    return lambda data, _text: any(item.get("owned_by") == owner for item in _model_items(data))


def _has_str(*keys: str) -> Callable[[Any, str], bool]:
    return lambda data, _text: all(isinstance(_obj(data).get(key), str) for key in keys)


def _openai_model_list(data: Any, _text: str) -> bool:
    items = _obj(data).get("data")
    return isinstance(items, list) and all(isinstance(item, dict) and isinstance(item.get("id"), str)
                                           for item in items) and _obj(data).get("object", "list") == "list"


OPENAI_LIST = Evidence("/v1/models", 1, _openai_model_list, "GET /v1/models answered an OpenAI model list")

EVIDENCE: dict[str, tuple[Evidence, ...]] = {
    "ollama": (
        # recorded (PROTOCOLS.md §Ollama): the root says so in plain text.
        Evidence("/", 3, lambda _d, text: "ollama is running" in text.lower(), "GET / said 'Ollama is running'"),
        Evidence("/api/tags", 2, lambda data, _t: isinstance(_obj(data).get("models"), list),
                 "GET /api/tags listed models"),
    ),
    "vllm": (
        Evidence("/v1/models", 3, _owned_by("vllm"), "GET /v1/models listed a model owned_by vllm"),
        Evidence("/version", 2, _has_str("version"), "GET /version answered a version"),
    ),
    "llamacpp": (
        # recorded: llama-server's list says owned_by llamacpp and /props carries build_info; llama-cpp-python's
        # server lists its models as owned_by "me".
        Evidence("/v1/models", 3, _owned_by("llamacpp"), "GET /v1/models listed a model owned_by llamacpp"),
        Evidence("/props", 3, lambda data, _t: "default_generation_settings" in _obj(data)
                 or isinstance(_obj(data).get("build_info"), str), "GET /props described a llama.cpp server"),
        Evidence("/v1/models", 2, _owned_by("me"), "GET /v1/models listed a llama-cpp-python model"),
    ),
    "lmstudio": (
        # documented: LM Studio's REST API v0 lists models with their load state.
        Evidence("/api/v0/models", 3, lambda data, _t: any("state" in item for item in _model_items(data)),
                 "GET /api/v0/models listed models with a load state"),
        OPENAI_LIST,
    ),
    "textgen": (
        # documented: text-generation-webui's own extension of the OpenAI API.
        Evidence("/v1/internal/model/info", 3, _has_str("model_name"),
                 "GET /v1/internal/model/info named the loaded model"),
        OPENAI_LIST,
    ),
    "openwebui": (
        # documented (Open WebUI's source): the app config names the product.
        Evidence("/api/config", 3, lambda data, _t: "open webui" in str(_obj(data).get("name", "")).lower(),
                 "GET /api/config named Open WebUI"),
    ),
    "litellm": (
        # recorded (litellm_health_readiness.json, proxy 1.106.2: status and db only); newer proxies add
        # litellm_version.
        Evidence("/health/readiness", 3, lambda data, _t: isinstance(_obj(data).get("litellm_version"), str)
                 or {"status", "db"} <= _obj(data).keys(), "GET /health/readiness answered as a LiteLLM proxy"),
        Evidence("/health/liveliness", 2, lambda _d, text: "alive" in text.lower(),
                 "GET /health/liveliness said it is alive"),
    ),
    "portkey": (
        # documented (the gateway's source): its root route greets in plain text.
        Evidence("/", 3, lambda _d, text: "ai gateway" in text.lower(), "GET / greeted as the Portkey AI Gateway"),
    ),
    "localai": (OPENAI_LIST,),
    "tgi": (
        Evidence("/info", 3, lambda data, _t: isinstance(_obj(data).get("model_id"), str)
                 and ("max_total_tokens" in _obj(data) or "max_input_tokens" in _obj(data)),
                 "GET /info described a TGI model"),
    ),
    "a1111": (
        Evidence("/sdapi/v1/options", 3, lambda data, _t: "sd_model_checkpoint" in _obj(data),
                 "GET /sdapi/v1/options named a checkpoint setting"),
    ),
    "comfyui": (
        Evidence("/system_stats", 3, lambda data, _t: isinstance(_obj(data).get("system"), dict)
                 and isinstance(_obj(data).get("devices"), list), "GET /system_stats described a ComfyUI"),
    ),
    "chroma": (
        # recorded (chroma_v2_heartbeat.json).
        Evidence("/api/v2/heartbeat", 3, lambda data, _t: "nanosecond heartbeat" in _obj(data),
                 "GET /api/v2/heartbeat gave a nanosecond heartbeat"),
    ),
    "qdrant": (
        Evidence("/", 3, lambda data, _t: "qdrant" in str(_obj(data).get("title", "")).lower(),
                 "GET / named Qdrant"),
    ),
    "milvus": (
        Evidence("/v2/vectordb/collections/list", 2, lambda data, _t: "code" in _obj(data),
                 "POST /v2/vectordb/collections/list answered with a Milvus code", method="POST", body={}),
    ),
    "n8n": (
        # recorded (n8n_healthz.json, n8n_readiness.json): weak, since many servers have a /healthz saying ok.
        Evidence("/healthz", 1, lambda data, _t: _obj(data).get("status") == "ok", "GET /healthz said ok"),
    ),
}
"""Every local kind that discovery may find, with what proves it."""


@dataclass(frozen=True, slots=True)
class Proof:
    strength: int
    says: str


NO_PROOF = Proof(0, "")


async def _ask(client: httpx.AsyncClient, base_url: str, evidence: Evidence, timeout_s: float) -> Reply | None:
    try:
        response = await fetch(client, evidence.method, base_url.rstrip("/") + evidence.path, provider=None,
                               json_body=evidence.body, timeout_s=timeout_s, max_bytes=MAX_LISTING_BYTES)
    except ProviderError:
        return None
    if response.status_code >= 300:
        return None
    data = None
    with contextlib.suppress(ProviderError):
        data = parse_json(response.content, None)
    return Reply(response.status_code, data, response.text)


async def prove(kind: str, base_url: str, client: httpx.AsyncClient, timeout_s: float) -> Proof:
    """The strongest evidence that the server at `base_url` is a `kind`, asking every route once, in parallel;
    NO_PROOF when nothing holds (or the kind has no evidence listed). Never raises."""
    evidence = EVIDENCE.get(kind, ())
    paths = sorted({(e.method, e.path) for e in evidence})
    try:
        async with asyncio.timeout(timeout_s):
            replies = await asyncio.gather(*(_ask(client, base_url, next(
                e for e in evidence if (e.method, e.path) == key), timeout_s) for key in paths))
    except TimeoutError:
        return NO_PROOF
    by_route = dict(zip(paths, replies, strict=True))
    best = NO_PROOF
    for item in evidence:
        reply = by_route[(item.method, item.path)]
        if reply is not None and item.strength > best.strength and item.holds(reply.data, reply.text):
            best = Proof(item.strength, item.says)
    return best


def strongest(proofs: Sequence[Proof]) -> int | None:
    """The index of the strongest proof, the first one on ties; None when none proves anything."""
    best: int | None = None
    for index, proof in enumerate(proofs):
        if proof.strength > 0 and (best is None or proof.strength > proofs[best].strength):
            best = index
    return best
