"""A Text Generation Inference emulator (/health, /info, /generate, /generate_stream) that also serves the
Hugging Face Hub's /api/models search and /tree file listing, with Link-header paging and faults.

Shapes from TGI's source and the Hub's docs as PROTOCOLS.md §6 cites them; neither has a recorded transcript.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import AsyncIterator
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from providers.emulators.faults import FaultPlan, RequestFaults, control_faults
from providers.emulators.link_paging import link_page
from providers.emulators.text import Pace, count_tokens, fake_tokens

MODEL_ID = "TinyLlama/TinyLlama-1.1B-Chat-v1.0"
MAX_INPUT_TOKENS = 448
MAX_TOTAL_TOKENS = 512
MAX_STOP_SEQUENCES = 4
ANSWER_TOKENS = 16
"""Text tokens before the end-of-sequence token, when max_new_tokens allows."""
TREE_PAGE_SIZE = 5
"""Files per /tree page: small, so a repository with many quantizations spans pages as large ones do."""

MALFORMED = b'{"generated_text": "unterminated'
"""The body the malformed fault sends instead of a whole JSON reply."""

INFO = {
    "model_id": MODEL_ID, "model_sha": "fe8a4ea1ffedaf415f4da2f062534de366a451e6",
    "model_pipeline_tag": "text-generation", "max_concurrent_requests": 128, "max_best_of": 2,
    "max_stop_sequences": MAX_STOP_SEQUENCES, "max_input_tokens": MAX_INPUT_TOKENS,
    "max_total_tokens": MAX_TOTAL_TOKENS,
    "max_client_batch_size": 4, "validation_workers": 2, "router": "text-generation-router", "version": "3.3.6",
    "sha": "emulated", "docker_label": None,
}

_STATUS_ERRORS: dict[int, tuple[str, str]] = {
    401: ("Unauthorized", "authentication"),
    402: ("Payment required: this endpoint's credits are exhausted", "payment_required"),
    429: ("Model is overloaded", "overloaded"),
    500: ("Request failed during generation: incomplete generation", "incomplete_generation"),
    503: ("unhealthy", "healthcheck"),
    529: ("Model is overloaded", "overloaded"),
}

_QUANTS = (("Q2_K", 2.96), ("Q3_K_M", 3.91), ("Q4_K_M", 4.85), ("Q5_K_M", 5.69), ("Q6_K", 6.56), ("Q8_0", 8.5),
           ("F16", 16.0))
"""Quantizations and their bits per weight, for plausible file sizes."""
HUB_REPOS: tuple[tuple[str, int, int, float, bool], ...] = (
    # id, downloads, likes, parameters, is a GGUF repository
    ("meta-llama/Llama-3.2-3B-Instruct", 2_100_000, 1_500, 3.2e9, False),
    ("Qwen/Qwen2.5-7B-Instruct", 1_500_000, 700, 7.6e9, False),
    ("TinyLlama/TinyLlama-1.1B-Chat-v1.0", 900_000, 1_100, 1.1e9, False),
    ("bartowski/Llama-3.2-3B-Instruct-GGUF", 412_000, 160, 3.2e9, True),
    ("Qwen/Qwen2.5-7B-Instruct-GGUF", 298_000, 310, 7.6e9, True),
    ("TheBloke/Mistral-7B-Instruct-v0.2-GGUF", 251_000, 420, 7.2e9, True),
    ("unsloth/gemma-3-4b-it-GGUF", 187_000, 95, 4.3e9, True),
    ("lmstudio-community/Meta-Llama-3.1-8B-Instruct-GGUF", 150_000, 80, 8.0e9, True),
    ("TheBloke/TinyLlama-1.1B-Chat-v1.0-GGUF", 98_000, 120, 1.1e9, True),
    ("bartowski/Phi-3.5-mini-instruct-GGUF", 76_000, 50, 3.8e9, True),
)


def tgi_error(status: int, message: str | None = None, error_type: str | None = None,
              headers: dict[str, str] | None = None) -> JSONResponse:
    """TGI's error envelope {"error", "error_type"}; the Hub's is the same minus nothing it needs."""
    default_message, default_type = _STATUS_ERRORS.get(status, ("error", "validation"))
    return JSONResponse({"error": message or default_message, "error_type": error_type or default_type},
                        status_code=status, headers=headers)


def _digest(text: str, size: int) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:size]


def hub_model(repo_id: str, downloads: int, likes: int, gguf: bool) -> dict[str, Any]:
    tags = ["gguf", "text-generation", "endpoints_compatible"] if gguf else ["transformers", "safetensors",
                                                                             "text-generation", "conversational"]
    return {"_id": _digest(repo_id, 24), "id": repo_id, "modelId": repo_id, "likes": likes, "downloads": downloads,
            "trendingScore": likes // 10, "private": False, "gated": "manual" if repo_id.startswith("meta") else False,
            "pipeline_tag": "text-generation", "library_name": "gguf" if gguf else "transformers", "tags": tags,
            "createdAt": "2024-09-25T00:00:00.000Z"}


def hub_files(repo_id: str, parameters: float, gguf: bool) -> list[dict[str, Any]]:
    """The /tree entries of one emulated repository: small text files plus LFS weights."""
    def lfs_file(path: str, size: int) -> dict[str, Any]:
        return {"type": "file", "oid": _digest(path, 40), "size": size, "path": path,
                "lfs": {"oid": _digest(repo_id + path, 64), "size": size, "pointerSize": 135}}

    entries = [{"type": "file", "oid": _digest(".gitattributes", 40), "size": 1_519, "path": ".gitattributes"},
               {"type": "file", "oid": _digest(repo_id, 40), "size": 4_096, "path": "README.md"}]
    name = repo_id.split("/", 1)[1].removesuffix("-GGUF")
    if not gguf:
        entries.append({"type": "file", "oid": _digest("config.json", 40), "size": 878, "path": "config.json"})
        return [*entries, lfs_file("model.safetensors", int(parameters * 2))]
    # TheBloke names files "name.Q4_K_M.gguf"; most others "Name-Q4_K_M.gguf".
    style = "{lower}.{quant}.gguf" if repo_id.startswith("TheBloke/") else "{name}-{quant}.gguf"
    return entries + [
        lfs_file(style.format(lower=name.lower(), name=name, quant=quant), int(parameters * bits / 8))
        for quant, bits in _QUANTS
    ]


def _paged(request: Request, items: list[Any], default_limit: int) -> Response:
    return link_page(request, items, default_limit, lambda: tgi_error(400, "Invalid limit or cursor", "validation"))


def build(*, plan: FaultPlan, pace: Pace, seed: int, flavour: str) -> Starlette:  # noqa: ARG001
    """The emulator app; `flavour` is always "tgi"."""

    async def early(request: Request) -> tuple[RequestFaults, Response | None]:
        faults = plan.for_request(request)
        await faults.before_response()
        if (fault := faults.status_fault()) is not None and fault.status is not None:
            return faults, tgi_error(fault.status, headers=faults.retry_after_headers())
        return faults, None

    async def health(request: Request) -> Response:
        _, failed = await early(request)
        return failed or Response(b"", status_code=200)

    async def info(request: Request) -> Response:
        faults, failed = await early(request)
        return failed or faults.json_reply(INFO, malformed=MALFORMED)

    async def generate(request: Request) -> Response:
        faults, failed = await early(request)
        if failed is not None:
            return failed
        try:
            body = json.loads(await request.body())
        except ValueError:
            return tgi_error(422, "Failed to deserialize the JSON body into the target type", "validation")
        checked = _validate(body, faults)
        if isinstance(checked, Response):
            return checked
        prompt, n_prompt, max_new, run_seed = checked
        n_text = min(ANSWER_TOKENS, max_new)
        eos = n_text < max_new
        tokens = fake_tokens(prompt, run_seed, n_text)
        reason = "eos_token" if eos else "length"
        generated = n_text + 1 if eos else n_text
        details = {"finish_reason": reason, "generated_tokens": generated, "seed": run_seed}
        if request.url.path == "/generate":
            result: dict[str, Any] = {"generated_text": "".join(tokens)}
            if body.get("parameters", {}).get("details"):
                result["details"] = {**details, "prefill": [], "tokens": [
                    {"id": 1000 + i, "text": t, "logprob": -0.5, "special": False} for i, t in enumerate(tokens)]}
            return faults.json_reply(result, malformed=MALFORMED)
        events = _events(tokens, eos, {**details, "input_length": n_prompt})
        body_events, final = events[:-1], events[-1].encode()

        async def relay() -> AsyncIterator[bytes]:
            async for _, event in pace.paced(body_events):
                yield event.encode()

        malformed = b'data:{"index":4,"token":{"id":\n\n'
        return StreamingResponse(faults.shape_stream(relay(), [final], malformed), media_type="text/event-stream",
                                 headers={"cache-control": "no-cache"})

    async def search_models(request: Request) -> Response:
        _, failed = await early(request)
        if failed is not None:
            return failed
        query = request.query_params
        search, tag, author = query.get("search", "").lower(), query.get("filter"), query.get("author")
        items = [hub_model(repo, downloads, likes, gguf) for repo, downloads, likes, _, gguf in HUB_REPOS]
        items = [m for m in items if search in m["id"].lower() and (not tag or tag in m["tags"])
                 and (not author or m["id"].startswith(author + "/"))]
        key = query.get("sort", "downloads")
        if key in ("downloads", "likes", "trendingScore"):
            items.sort(key=lambda m: (m[key], m["id"]), reverse=query.get("direction", "-1") == "-1")
        return _paged(request, items, default_limit=1000)

    async def repo_tree(request: Request) -> Response:
        _, failed = await early(request)
        if failed is not None:
            return failed
        repo = next((r for r in HUB_REPOS if r[0] == request.path_params["repo_id"]), None)
        if repo is None:
            return JSONResponse({"error": "Repository not found"}, status_code=404)
        return _paged(request, hub_files(repo[0], repo[3], repo[4]), default_limit=TREE_PAGE_SIZE)

    async def faults_route(request: Request) -> Response:
        return await control_faults(request, plan)

    return Starlette(routes=[
        Route("/health", health, methods=["GET"]),
        Route("/ping", health, methods=["GET"]),
        Route("/info", info, methods=["GET"]),
        Route("/generate", generate, methods=["POST"]),
        Route("/generate_stream", generate, methods=["POST"]),
        Route("/api/models", search_models, methods=["GET"]),
        Route("/api/models/{repo_id:path}/tree/{revision}", repo_tree, methods=["GET"]),
        Route("/_emulator/faults", faults_route, methods=["GET", "POST"]),
    ])


def _validate(body: Any, faults: RequestFaults) -> Response | tuple[str, int, int, int]:
    """TGI's input validation: (prompt, prompt tokens, max_new_tokens, seed) or its 422 reply."""
    if not isinstance(body, dict) or not isinstance(body.get("inputs"), str) or not body["inputs"]:
        return tgi_error(422, "Input validation error: `inputs` cannot be empty", "validation")
    params = body.get("parameters") or {}
    temperature, top_p, stop = params.get("temperature"), params.get("top_p"), params.get("stop") or []
    if temperature is not None and temperature <= 0:
        return tgi_error(422, "Input validation error: `temperature` must be strictly positive", "validation")
    if top_p is not None and not 0 < top_p < 1:
        return tgi_error(422, "Input validation error: `top_p` must be > 0.0 and < 1.0", "validation")
    if len(stop) > MAX_STOP_SEQUENCES:
        return tgi_error(422, f"Input validation error: `stop` supports up to 4 stop sequences. Given: {len(stop)}",
                         "validation")
    prompt = body["inputs"]
    n_prompt = count_tokens(prompt)
    max_new = int(params.get("max_new_tokens") or MAX_TOTAL_TOKENS - n_prompt)
    if n_prompt > MAX_INPUT_TOKENS and not faults.has("context"):
        return tgi_error(422, f"Input validation error: `inputs` must have less than {MAX_INPUT_TOKENS} tokens. "
                              f"Given: {n_prompt}", "validation")
    if faults.has("context") or n_prompt + max_new > MAX_TOTAL_TOKENS:
        n_prompt = max(n_prompt, MAX_TOTAL_TOKENS)
        return tgi_error(422, f"Input validation error: `inputs` tokens + `max_new_tokens` must be <= "
                              f"{MAX_TOTAL_TOKENS}. Given: {n_prompt} `inputs` tokens and {max_new} "
                              "`max_new_tokens`", "validation")
    seed = params.get("seed")
    return prompt, n_prompt, max_new, seed if isinstance(seed, int) else 0


def _events(tokens: list[str], eos: bool, details: dict[str, Any]) -> list[str]:
    """The stream's `data:` events; the last carries generated_text and details (TGI sends no [DONE])."""
    items = [{"id": 1000 + i, "text": t, "logprob": -0.5, "special": False} for i, t in enumerate(tokens)]
    if eos:
        items.append({"id": 2, "text": "</s>", "logprob": -0.1, "special": True})
    events = []
    for index, token in enumerate(items, start=1):
        last = index == len(items)
        event = {"index": index, "token": token, "top_tokens": None,
                 "generated_text": "".join(tokens) if last else None, "details": details if last else None}
        events.append("data:" + json.dumps(event, separators=(",", ":")) + "\n\n")
    return events
