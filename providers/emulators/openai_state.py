"""Live state of the OpenAI-compatible emulator: its catalog, in-flight requests, counters for /metrics,
and each flavour's error envelopes (OpenAI, vLLM, llama.cpp)."""

from __future__ import annotations

import itertools
import time
from dataclasses import dataclass, field
from typing import Any

from starlette.responses import JSONResponse

VLLM_MAX_NUM_SEQS = 8
"""Requests vLLM runs at once; the rest wait (num_requests_waiting)."""
VLLM_KV_CAPACITY_TOKENS = 65_536
LLAMACPP_SLOTS = 4
TTFT_BUCKETS = (0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0,
                20.0, 40.0, 80.0)
"""vLLM's time_to_first_token_seconds bucket bounds."""
CREATED = 1_735_142_223


@dataclass
class ModelSpec:
    """One model the emulator serves; `loaded` changes in llama.cpp router mode."""

    id: str
    kind: str = "chat"  # chat | embed | image
    context: int = 8192
    owned_by: str = "system"
    loaded: bool = True
    parent: str | None = None
    n_ctx_train: int | None = None
    ftype: str = "Q4_K - Medium"
    """llama.cpp's name for the weights' type (meta.ftype, /props model_ftype)."""


_CATALOGS: dict[str, tuple[ModelSpec, ...]] = {
    "openai": (
        ModelSpec("gpt-4o-mini", context=128_000), ModelSpec("gpt-4o", context=128_000),
        ModelSpec("text-embedding-3-small", kind="embed", context=8191),
        ModelSpec("gpt-image-1", kind="image"), ModelSpec("dall-e-3", kind="image"),
        ModelSpec("dall-e-2", kind="image"),
    ),
    "vllm": (
        ModelSpec("meta-llama/Llama-3.1-8B-Instruct", context=8192, owned_by="vllm"),
        ModelSpec("sql-lora", context=8192, owned_by="vllm", parent="meta-llama/Llama-3.1-8B-Instruct"),
    ),
    "llamacpp": (
        ModelSpec("llama-3.2-3b-instruct-q4_k_m", context=4096, owned_by="llamacpp", n_ctx_train=131_072),
    ),
    "llamacpp_router": (
        ModelSpec("qwen2.5-7b-instruct-q4_k_m", context=4096, owned_by="llamacpp", n_ctx_train=32_768),
        ModelSpec("llama-3.2-3b-instruct-q4_k_m", context=4096, owned_by="llamacpp", loaded=False,
                  n_ctx_train=131_072),
        ModelSpec("nomic-embed-text-v1.5", kind="embed", context=2048, owned_by="llamacpp", loaded=False,
                  n_ctx_train=2048, ftype="F16"),
    ),
    # llama-cpp-python's `python -m llama_cpp.server` (its default n_ctx is 2048).
    "llama_cpp_python": (ModelSpec("tiny-llama", context=2048, owned_by="me"),),
}

# status → (message, type, code) per error family
_ERRORS: dict[str, dict[int, tuple[str, str, str | None]]] = {
    "openai": {
        400: ("Invalid request.", "invalid_request_error", None),
        401: ("Incorrect API key provided. You can find your API key at https://platform.openai.com/account/api-keys.",
              "invalid_request_error", "invalid_api_key"),
        402: ("You exceeded your current quota, please check your plan and billing details.",
              "insufficient_quota", "insufficient_quota"),
        404: ("The model does not exist or you do not have access to it.", "invalid_request_error",
              "model_not_found"),
        429: ("Rate limit reached for requests per min (RPM). Please try again later.", "requests",
              "rate_limit_exceeded"),
        500: ("The server had an error while processing your request. Sorry about that!", "server_error", None),
        503: ("The engine is currently overloaded, please try again later.", "server_error", None),
        529: ("Overloaded", "overloaded_error", None),
    },
    "vllm": {
        400: ("Bad request.", "BadRequestError", None), 402: ("Payment required.", "PaymentRequiredError", None),
        404: ("The model does not exist.", "NotFoundError", None),
        429: ("Too many requests.", "RateLimitError", None),
        500: ("Internal server error.", "InternalServerError", None),
        503: ("The engine is overloaded; try again later.", "ServiceUnavailableError", None),
        529: ("Overloaded.", "ServiceUnavailableError", None),
    },
    "llamacpp": {
        400: ("Invalid request", "invalid_request_error", None), 401: ("Invalid API Key", "authentication_error", None),
        402: ("Payment required", "payment_required_error", None), 404: ("Model not found", "not_found_error", None),
        429: ("Too many requests", "rate_limit_error", None), 500: ("Internal server error", "server_error", None),
        # What llama-server answers on every route while its model loads.
        503: ("Loading model", "unavailable_error", None), 529: ("Overloaded", "unavailable_error", None),
    },
}


def error_family(flavour: str) -> str:
    """Which error envelope a flavour uses (llama.cpp's router mode shares llama.cpp's; llama-cpp-python answers
    in OpenAI's)."""
    if flavour == "llama_cpp_python":
        return "openai"
    return "llamacpp" if flavour.startswith("llamacpp") else flavour


def error_response(flavour: str, status: int, message: str | None = None,
                   headers: dict[str, str] | None = None) -> JSONResponse:
    """`status` in the flavour's own error envelope."""
    family = error_family(flavour)
    if family == "vllm" and status == 401:
        # vLLM's --api-key middleware answers with this bare object.
        return JSONResponse({"error": "Unauthorized"}, status_code=401, headers=headers)
    default, error_type, code = _ERRORS[family].get(status, ("Error", "server_error", None))
    text = message or default
    error: dict[str, Any]
    if family == "openai":
        error = {"message": text, "type": error_type, "param": None, "code": code}
    elif family == "vllm":
        error = {"message": text, "type": error_type, "param": None, "code": status}
    else:
        error = {"code": status, "message": text, "type": error_type}
    return JSONResponse({"error": error}, status_code=status, headers=headers)


def context_error(flavour: str, model: ModelSpec, n_prompt: int, max_tokens: int | None) -> JSONResponse:
    """The flavour's own "prompt too long" reply (PROTOCOLS.md §0.3)."""
    family = error_family(flavour)
    ctx = model.context
    if family == "llamacpp":
        message = f"request ({n_prompt} tokens) exceeds the available context size ({ctx} tokens), try increasing it"
        return JSONResponse({"error": {"code": 400, "message": message, "type": "exceed_context_size_error",
                                       "n_prompt_tokens": n_prompt, "n_ctx": ctx}}, status_code=400)
    if family == "vllm":
        completion = max_tokens or 0
        message = (f"This model's maximum context length is {ctx} tokens. However, you requested "
                   f"{n_prompt + completion} tokens ({n_prompt} in the messages, {completion} in the completion). "
                   "Please reduce the length of the messages or completion.")
        return JSONResponse({"error": {"message": message, "type": "BadRequestError", "param": None, "code": 400}},
                            status_code=400)
    message = (f"This model's maximum context length is {ctx} tokens. However, your messages resulted in "
               f"{n_prompt} tokens. Please reduce the length of the messages.")
    return JSONResponse({"error": {"message": message, "type": "invalid_request_error", "param": "messages",
                                   "code": "context_length_exceeded"}}, status_code=400)


@dataclass
class InFlight:
    """One request being answered: what /metrics and /slots report while it runs."""

    id: str
    n_prompt: int
    state: ServerState
    id_task: int = 0
    params: dict[str, Any] = field(default_factory=dict)
    """The generation settings llama-server's /slots shows for the task."""
    slot: int | None = None
    """The llama.cpp slot running it; None while all slots are taken (the request is deferred)."""
    started: float = field(default_factory=time.perf_counter)
    first_token_at: float | None = None
    n_generated: int = 0
    last_token_at: float | None = None

    def emitted(self) -> None:
        """Called once per token sent."""
        now = time.perf_counter()
        if self.first_token_at is None:
            self.first_token_at = now
            self.state.observe_ttft(now - self.started)
        self.n_generated += 1
        self.last_token_at = now
        self.state.observe_decode(self.n_prompt + self.n_generated)

    def usage(self) -> dict[str, int]:
        return {"prompt_tokens": self.n_prompt, "completion_tokens": self.n_generated,
                "total_tokens": self.n_prompt + self.n_generated}

    def timings(self) -> dict[str, float | int]:
        """llama.cpp's `timings` object, measured."""
        prompt_ms = max(0.001, ((self.first_token_at or time.perf_counter()) - self.started) * 1000.0)
        predicted_ms = max(0.001, ((self.last_token_at or time.perf_counter()) - (self.first_token_at or self.started))
                           * 1000.0)
        return {
            "cache_n": 0, "prompt_n": self.n_prompt, "prompt_ms": prompt_ms,
            "prompt_per_token_ms": prompt_ms / max(1, self.n_prompt),
            "prompt_per_second": self.n_prompt / prompt_ms * 1000.0,
            "predicted_n": self.n_generated, "predicted_ms": predicted_ms,
            "predicted_per_token_ms": predicted_ms / max(1, self.n_generated),
            "predicted_per_second": self.n_generated / predicted_ms * 1000.0,
        }


@dataclass
class ServerState:
    """Everything the emulator remembers between requests (one event loop, so no locks)."""

    flavour: str
    models: dict[str, ModelSpec]
    fingerprint: str
    created: int = CREATED
    inflight: dict[str, InFlight] = field(default_factory=dict)
    ttft_counts: list[int] = field(default_factory=lambda: [0] * (len(TTFT_BUCKETS) + 1))
    ttft_sum: float = 0.0
    finished: int = 0
    prompt_tokens_total: int = 0
    generation_tokens_total: int = 0
    prompt_seconds_total: float = 0.0
    generation_seconds_total: float = 0.0
    tokenize_calls: int = 0
    """POSTs to a tokenize route that were answered with a count."""
    n_decode_total: int = 0
    n_busy_slots_total: int = 0
    """Busy slots summed over every decode (token), for llama.cpp's n_busy_slots_per_decode."""
    n_tokens_max: int = 0
    """The longest sequence (prompt + generated) seen."""
    slot_tasks: dict[int, InFlight] = field(default_factory=dict)
    """The task each llama.cpp slot runs or last ran: llama-server's /slots keeps showing it after it ends."""
    _ids: itertools.count[int] = field(default_factory=itertools.count)
    _task_ids: itertools.count[int] = field(default_factory=itertools.count)

    def begin(self, n_prompt: int, params: dict[str, Any] | None = None) -> InFlight:
        request = InFlight(f"chatcmpl-emu{next(self._ids):08d}", n_prompt, self, id_task=next(self._task_ids),
                           params=params or {})
        self.inflight[request.id] = request
        self._take_slot(request)
        return request

    def _take_slot(self, request: InFlight) -> None:
        """Give the request the lowest free slot, if any is free."""
        held = {r.slot for r in self.inflight.values() if r.slot is not None}
        free = next((index for index in range(LLAMACPP_SLOTS) if index not in held), None)
        if free is not None:
            request.slot = free
            self.slot_tasks[free] = request

    def end(self, request: InFlight) -> None:
        self.inflight.pop(request.id, None)
        if request.slot is not None:  # the slot goes to the oldest deferred request
            waiting = next((r for r in self.inflight.values() if r.slot is None), None)
            if waiting is not None:
                self._take_slot(waiting)
        self.finished += 1
        self.prompt_tokens_total += request.n_prompt
        self.generation_tokens_total += request.n_generated
        timings = request.timings()
        self.prompt_seconds_total += float(timings["prompt_ms"]) / 1000.0
        self.generation_seconds_total += float(timings["predicted_ms"]) / 1000.0

    def observe_decode(self, n_tokens: int) -> None:
        self.n_decode_total += 1
        self.n_busy_slots_total += sum(1 for r in self.inflight.values() if r.slot is not None)
        self.n_tokens_max = max(self.n_tokens_max, n_tokens)

    def observe_ttft(self, seconds: float) -> None:
        self.ttft_sum += seconds
        index = next((i for i, bound in enumerate(TTFT_BUCKETS) if seconds <= bound), len(TTFT_BUCKETS))
        self.ttft_counts[index] += 1

    def resolve(self, name: Any, kind: str) -> ModelSpec | JSONResponse:
        """The model a request names, or the flavour's 404 / 400 reply."""
        if self.flavour in ("llamacpp", "llama_cpp_python"):
            return next(iter(self.models.values()))  # a single-model server answers with what it has
        model = self.models.get(name) if isinstance(name, str) else None
        if model is None:
            return error_response(self.flavour, 404, f"The model `{name}` does not exist.")
        if (kind == "image") != (model.kind == "image"):
            return error_response(self.flavour, 400, f"The model `{name}` does not support this endpoint.")
        model.loaded = True  # router mode loads a model on its first request
        return model

    def over_context(self, model: ModelSpec, n_prompt: int, max_tokens: int | None) -> bool:
        # vLLM counts the completion budget against the window too.
        requested = n_prompt + ((max_tokens or 0) if self.flavour == "vllm" else 0)
        return requested > model.context

    def active_model(self) -> ModelSpec:
        """The model /props and /slots describe: the first loaded one."""
        return next((m for m in self.models.values() if m.loaded), next(iter(self.models.values())))

    def busy(self) -> tuple[int, int]:
        """(running, waiting) given the server's parallelism."""
        parallel = VLLM_MAX_NUM_SEQS if self.flavour == "vllm" else LLAMACPP_SLOTS
        count = len(self.inflight)
        return min(count, parallel), max(0, count - parallel)

    def models_listing(self) -> dict[str, Any]:
        return {"object": "list", "data": [self._model_item(m) for m in self.models.values()],
                **({"models": [self._ollama_item(m) for m in self.models.values()]}
                   if self.flavour == "llamacpp" else {})}

    def _model_item(self, model: ModelSpec) -> dict[str, Any]:
        if self.flavour == "llama_cpp_python":  # the whole item, as the recorded fixture has it
            return {"id": model.id, "object": "model", "owned_by": model.owned_by, "permissions": []}
        item: dict[str, Any] = {"id": model.id, "object": "model", "created": self.created,
                                "owned_by": model.owned_by}
        if self.flavour == "vllm":
            # A LoRA adapter's root is its path and its parent the base model (vLLM's ModelCard).
            item.update(root=f"/adapters/{model.id}" if model.parent else model.id, parent=model.parent,
                        max_model_len=model.context,
                        permission=[{"id": "modelperm-emulated", "object": "model_permission",
                                     "created": self.created, "allow_sampling": True, "allow_view": True,
                                     "organization": "*", "is_blocking": False}])
        elif self.flavour.startswith("llamacpp"):
            item.update(aliases=[model.id], tags=[])
            if model.loaded:
                item["meta"] = {"vocab_type": 2, "n_vocab": 128_256, "n_ctx": model.context,
                                "n_ctx_train": model.n_ctx_train, "n_embd": 3072, "n_params": 3_212_749_824,
                                "size": 2_019_377_152, "ftype": model.ftype}
            if self.flavour == "llamacpp_router":
                item["status"] = {"value": "loaded" if model.loaded else "unloaded",
                                  "args": ["llama-server", "--ctx-size", str(model.context)]}
        return item

    def _ollama_item(self, model: ModelSpec) -> dict[str, Any]:
        return {"name": model.id, "model": model.id, "modified_at": "", "size": "", "digest": "", "type": "model",
                "description": "", "tags": [""], "capabilities": ["completion"], "parameters": "",
                "details": {"parent_model": "", "format": "gguf", "family": "", "families": [""],
                            "parameter_size": "", "quantization_level": ""}}


def new_state(flavour: str) -> ServerState:
    """Fresh state with the flavour's catalog; ValueError for a flavour this emulator does not speak."""
    if flavour not in _CATALOGS:
        raise ValueError(f"unknown OpenAI-compatible flavour {flavour!r}; known: {', '.join(sorted(_CATALOGS))}")
    # OpenAI fingerprints its backend config; llama-server sends its build instead.
    fingerprint = "fp_e4fa3702df" if flavour == "openai" else "b6123-e3a1f00"
    return ServerState(flavour, {m.id: ModelSpec(**vars(m)) for m in _CATALOGS[flavour]}, fingerprint=fingerprint)
