"""What the Ollama emulator says: request reading, JSON replies with body faults, answers, timings, embeddings."""

from __future__ import annotations

import hashlib
import json
import random
import time
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from providers.emulators.faults import RequestFaults, cut_response
from providers.emulators.ollama_state import InstalledModel, now, parse_keep_alive, rfc3339
from providers.emulators.text import fake_tokens

NDJSON = "application/x-ndjson"
DEFAULT_NUM_PREDICT = 24
"""Tokens in an answer when the request does not ask for fewer."""
CONTEXT_ERROR = "input length exceeds the context length"
MALFORMED_LINE = b'{"model":"emulator","created_at":"2025-01-01T00:00:00Z","message":{"role":"assistant","conte\n'
JSON_TYPE = "application/json; charset=utf-8"


class OllamaReplyError(Exception):
    """An error reply in Ollama's `{"error": "..."}` envelope, raised from inside a handler."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def ndjson_line(payload: dict[str, Any]) -> bytes:
    return json.dumps(payload, separators=(",", ":")).encode() + b"\n"


def json_reply(payload: dict[str, Any] | None, faults: RequestFaults) -> Response:
    """A whole JSON body (None: Ollama's empty 200), broken as the body faults ask."""
    body = b"" if payload is None else json.dumps(payload).encode()
    if faults.has("cut") and body:
        return cut_response(body)
    if faults.has("malformed"):
        return Response(b'{"error": "half an obj', media_type=JSON_TYPE)
    if faults.has("truncate") and body:
        return Response(body[: len(body) // 2], media_type=JSON_TYPE)
    return Response(body, media_type=JSON_TYPE if body else None)


async def read_body(request: Request) -> dict[str, Any]:
    raw = await request.body()
    if not raw.strip():
        return {}
    try:
        data = json.loads(raw)
    except ValueError:
        raise OllamaReplyError(400, "invalid character in request body: not valid JSON") from None
    if not isinstance(data, dict):
        raise OllamaReplyError(400, "json: cannot unmarshal request body into Go value of type api.Request")
    return data


def model_name(body: dict[str, Any]) -> str:
    """The model a request names (`model`, or the deprecated `name`)."""
    name = body.get("model") or body.get("name")
    if not isinstance(name, str) or not name.strip():
        raise OllamaReplyError(400, "model is required")
    return name


def keep_alive(body: dict[str, Any]) -> timedelta | None:
    try:
        return parse_keep_alive(body.get("keep_alive"))
    except ValueError as exc:
        raise OllamaReplyError(400, str(exc)) from None


def options_of(body: dict[str, Any]) -> dict[str, Any]:
    options = body.get("options")
    return options if isinstance(options, dict) else {}


def answer_tokens(text: str, options: dict[str, Any], seed: int) -> tuple[list[str], str]:
    """Deterministic tokens for a prompt and the done_reason, cut by num_predict and stop strings as Ollama does."""
    if isinstance(options.get("seed"), int):
        seed = options["seed"]
    tokens = fake_tokens(text, seed, DEFAULT_NUM_PREDICT)
    reason = "stop"
    limit = options.get("num_predict")
    if isinstance(limit, int) and 0 <= limit < len(tokens):
        tokens, reason = tokens[:limit], "length"
    answer = "".join(tokens)
    stops = [s for s in options.get("stop") or [] if isinstance(s, str) and s and s in answer]
    if not stops:
        return tokens, reason
    cut_at = min(answer.find(s) for s in stops)
    kept: list[str] = []
    used = 0
    for token in tokens:
        if used + len(token) > cut_at:
            kept.append(token[: cut_at - used])
            break
        kept.append(token)
        used += len(token)
    return [t for t in kept if t], "stop"


def idle_reply(request_model: str, key: str, done_reason: str) -> dict[str, Any]:
    """The one-object reply to a load or unload call (no prompt, or no messages)."""
    reply: dict[str, Any] = {"model": request_model, "created_at": rfc3339(now())}
    reply |= {"message": {"role": "assistant", "content": ""}} if key == "message" else {"response": ""}
    return reply | {"done": True, "done_reason": done_reason}


@dataclass
class Generation:
    """One answer being produced; the body counts what it sent and the final `done` line reports it.

    `key` is "message" for /api/chat and "response" for /api/generate.
    """

    request_model: str
    model: InstalledModel
    key: str
    tokens: list[str]
    done_reason: str
    prompt_tokens: int
    load_s: float
    started: float
    emitted: int = 0
    first_token_at: float | None = None

    def piece(self, token: str) -> dict[str, Any]:
        content: Any = {"role": "assistant", "content": token} if self.key == "message" else token
        return {"model": self.request_model, "created_at": rfc3339(now()), self.key: content, "done": False}

    def final(self, text: str = "") -> dict[str, Any]:
        """The closing object with Ollama's nanosecond timings; `text` is the whole answer when not streaming."""
        spec = self.model.spec
        prompt_ns = int(self.prompt_tokens / (spec.tokens_per_s * 20) * 1e9)
        eval_ns = int(self.emitted / spec.tokens_per_s * 1e9)
        if self.first_token_at is not None:
            eval_ns = max(eval_ns, int((time.perf_counter() - self.first_token_at) * 1e9))
        load_ns = int(self.load_s * 1e9) or 1_000_000
        wall_ns = int((time.perf_counter() - self.started) * 1e9)
        payload = idle_reply(self.request_model, self.key, self.done_reason)
        if self.key == "message":
            payload["message"]["content"] = text
        else:
            payload["response"] = text
            payload["context"] = [int(hashlib.sha256(t.encode()).hexdigest()[:4], 16) for t in self.tokens]
        return payload | {
            "total_duration": max(wall_ns, load_ns + prompt_ns + eval_ns), "load_duration": load_ns,
            "prompt_eval_count": self.prompt_tokens, "prompt_eval_duration": prompt_ns,
            "eval_count": self.emitted, "eval_duration": eval_ns,
        }


def embedding(model: InstalledModel, text: str, seed: int) -> list[float]:
    """A unit vector of the model's width that depends only on the model, the text and the seed."""
    digest = hashlib.sha256(f"{seed}:{model.digest}:{text}".encode()).digest()
    rng = random.Random(int.from_bytes(digest[:8], "big"))
    values = [rng.gauss(0.0, 1.0) for _ in range(model.spec.embedding_length)]
    norm = sum(v * v for v in values) ** 0.5 or 1.0
    return [round(v / norm, 7) for v in values]
