"""An AUTOMATIC1111 /sdapi/v1 emulator: options, checkpoints, samplers, memory, txt2img with live progress."""

from __future__ import annotations

import asyncio
import base64
import json
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from providers.emulators.faults import FaultPlan, control_faults, cut_response
from providers.emulators.png import MAX_SIDE, gradient_png
from providers.emulators.text import Pace

STEP_SECONDS = 0.02
"""Time per sampling step unless a Pace says otherwise (its tokens_per_s counts steps)."""
HOLD_POLL_S = 0.01

CHECKPOINTS: tuple[tuple[str, str], ...] = (
    ("v1-5-pruned-emaonly.safetensors", "6ce0161689"),
    ("sd_xl_base_1.0.safetensors", "31e35c80fc"),
    ("dreamshaper_8.safetensors", "879db523c3"),
)
SAMPLERS = ("DPM++ 2M", "DPM++ SDE", "DPM++ 2M SDE", "Euler a", "Euler", "LMS", "Heun", "DDIM", "UniPC")
GIB = 1024**3
VRAM_TOTAL = 24 * GIB
VRAM_IDLE = 3 * GIB
VRAM_SAMPLING = 7 * GIB

Handler = Callable[[Request], Awaitable[Response]]


def _model(filename: str, short_hash: str) -> dict[str, Any]:
    name = filename.rsplit(".", 1)[0]
    return {"title": f"{filename} [{short_hash}]", "model_name": name, "hash": short_hash,
            "sha256": (short_hash * 7)[:64], "filename": f"/models/Stable-diffusion/{filename}", "config": None}


MODELS = tuple(_model(filename, short_hash) for filename, short_hash in CHECKPOINTS)


def error_response(status: int, detail: str, *, error: str = "HTTPException", errors: str | None = None,
                   headers: dict[str, str] | None = None) -> JSONResponse:
    """The webui's error envelope (modules/api/api.py handle_exception)."""
    errors = errors if errors is not None else f"{status}: {detail}"
    body = {"error": error, "detail": detail, "body": "", "errors": errors}
    return JSONResponse(body, status_code=status, headers=headers)


@dataclass
class Job:
    steps: int
    started: float = field(default_factory=time.monotonic)
    step: int = 0
    interrupted: bool = False


@dataclass
class WebUI:
    """The server's mutable state. Jobs run one at a time, like the webui's queue lock."""

    rng: random.Random
    checkpoint: dict[str, Any] = field(default_factory=lambda: MODELS[0])
    options: dict[str, Any] = field(default_factory=dict)
    job: Job | None = None
    job_count: int = 0
    job_timestamp: str = "0"
    hold_jobs: bool = False
    """While set, a txt2img job stops halfway through its steps and waits to be let go (or interrupted): a test
    can watch its progress or act on it without racing the job's end, however slow the machine."""
    job_s: float | None = None
    """While set, each job's sampling takes this long in all, spread over its steps: a slow server."""
    waiting: int = 0
    """txt2img calls waiting for the job lock: the webui's queue."""
    outcomes: list[str] = field(default_factory=list)
    """How each job ended, in order: "done" or "interrupted"."""
    checkpoint_dir: Path | None = None
    lora_dir: Path | None = None
    """Folders a test points at: like the webui's models folders, read again only on refresh-checkpoints /
    refresh-loras, and listed after the built-in checkpoints."""
    found_checkpoints: tuple[dict[str, Any], ...] = ()
    found_loras: tuple[dict[str, Any], ...] = ()
    _lock: asyncio.Lock | None = None
    _loop: asyncio.AbstractEventLoop | None = None

    def resolve(self, name: str) -> dict[str, Any] | None:
        """A checkpoint by title, file name or model name, as get_closet_checkpoint_match allows."""
        known = (*MODELS, *self.found_checkpoints)
        return next((m for m in known if name in (m["title"], m["model_name"], m["filename"].rsplit("/", 1)[-1])),
                    None)

    def lock(self) -> asyncio.Lock:
        """The job lock of the running loop (the server gets a new loop after refuse/accept)."""
        loop = asyncio.get_running_loop()
        if self._lock is None or self._loop is not loop:
            self._lock, self._loop, self.job = asyncio.Lock(), loop, None
        return self._lock


def build(*, plan: FaultPlan, pace: Pace, seed: int, flavour: str,  # noqa: ARG001
          api_auth: str | None = None) -> Starlette:
    """The emulator app. `api_auth` "user:pass" turns on HTTP Basic for every route, like --api-auth."""
    webui = WebUI(rng=random.Random(seed))
    step_s = 1.0 / pace.tokens_per_s if pace.tokens_per_s else STEP_SECONDS
    expected_auth = "Basic " + base64.b64encode(api_auth.encode()).decode() if api_auth else None

    def guarded(handler: Handler) -> Handler:
        async def endpoint(request: Request) -> Response:
            started = time.perf_counter()
            faults = plan.for_request(request)
            await faults.before_response()
            if (fault := faults.status_fault()) is not None and fault.status is not None:
                return error_response(fault.status, f"emulated fault {fault.status}",
                                      headers=faults.retry_after_headers())
            if expected_auth and request.headers.get("authorization") != expected_auth:
                return error_response(401, "Incorrect username or password", headers={"WWW-Authenticate": "Basic"})
            response = await handler(request)
            if faults.has("cut"):
                return cut_response(bytes(response.body))
            if faults.has("malformed"):
                return Response(b'{"images": ["iVBOR', status_code=response.status_code, media_type="application/json")
            if faults.has("truncate"):
                return Response(bytes(response.body)[: max(1, len(response.body) // 2)], media_type="application/json")
            response.headers["X-Process-Time"] = f"{time.perf_counter() - started:.4f}"
            return response

        return endpoint

    async def options(request: Request) -> Response:
        if request.method == "POST":
            payload = await _json_object(request)
            if payload is None:
                return error_response(422, "body must be a JSON object")
            if "sd_model_checkpoint" in payload:
                name = str(payload["sd_model_checkpoint"])
                chosen = webui.resolve(name)
                if chosen is None:
                    return error_response(500, "", error="RuntimeError", errors=f"model {name!r} not found")
                async with webui.lock():
                    await asyncio.sleep(pace.ttft_s or step_s * 2)  # loading weights blocks the call
                    webui.checkpoint = chosen
            webui.options.update({k: v for k, v in payload.items() if k != "sd_model_checkpoint"})
            return JSONResponse(None)
        return JSONResponse({
            "samples_format": "png", "sd_vae": "Automatic", "CLIP_stop_at_last_layers": 1,
            "sd_checkpoint_cache": 0, "show_progress_every_n_steps": 10, **webui.options,
            "sd_model_checkpoint": webui.checkpoint["title"], "sd_checkpoint_hash": webui.checkpoint["sha256"],
        })

    async def sd_models(_request: Request) -> Response:
        return JSONResponse([*MODELS, *webui.found_checkpoints])

    async def refresh_checkpoints(_request: Request) -> Response:
        webui.found_checkpoints = tuple(
            {**_model(path.name, ""), "title": path.name, "hash": None, "sha256": None, "filename": str(path)}
            for path in _model_files(webui.checkpoint_dir))
        return JSONResponse(None)

    async def refresh_loras(_request: Request) -> Response:
        webui.found_loras = tuple({"name": path.stem, "alias": path.stem, "path": str(path), "metadata": {}}
                                  for path in _model_files(webui.lora_dir))
        return JSONResponse(None)

    async def loras(_request: Request) -> Response:
        return JSONResponse(list(webui.found_loras))

    async def samplers(_request: Request) -> Response:
        aliases = {"Euler a": ["k_euler_a", "k_euler_ancestral"], "Euler": ["k_euler"], "LMS": ["k_lms"]}
        return JSONResponse([{"name": name, "aliases": aliases.get(name, []), "options": {}} for name in SAMPLERS])

    async def memory(_request: Request) -> Response:
        used = VRAM_SAMPLING if webui.job else VRAM_IDLE
        return JSONResponse({
            "ram": {"free": 48 * GIB, "used": 16 * GIB, "total": 64 * GIB},
            "cuda": {"system": {"free": VRAM_TOTAL - used, "used": used, "total": VRAM_TOTAL},
                     "active": {"current": used, "peak": VRAM_SAMPLING},
                     "allocated": {"current": used, "peak": VRAM_SAMPLING},
                     "reserved": {"current": used, "peak": VRAM_SAMPLING},
                     "inactive": {"current": 0, "peak": GIB}, "events": {"retries": 0, "oom": 0}},
        })

    async def progress(_request: Request) -> Response:
        job = webui.job
        state = {"skipped": False, "interrupted": bool(job and job.interrupted), "job": "", "job_count": 0,
                 "job_timestamp": webui.job_timestamp, "job_no": 0, "sampling_step": 0, "sampling_steps": 0}
        if job is None:
            return JSONResponse({"progress": 0.0, "eta_relative": 0.0, "state": state,
                                 "current_image": None, "textinfo": None})
        fraction = job.step / job.steps
        elapsed = time.monotonic() - job.started
        eta = elapsed / fraction - elapsed if fraction > 0 else job.steps * step_s
        state.update({"job": f"task({webui.job_count})", "job_count": 1, "sampling_step": job.step,
                      "sampling_steps": job.steps})
        return JSONResponse({"progress": round(fraction, 4), "eta_relative": round(eta, 3), "state": state,
                             "current_image": None, "textinfo": None})

    async def txt2img(request: Request) -> Response:
        payload = await _json_object(request)
        if payload is None:
            return error_response(422, "body must be a JSON object")
        width, height, steps = payload.get("width", 512), payload.get("height", 512), payload.get("steps", 20)
        if not all(isinstance(v, int) for v in (width, height, steps)) or not (
                0 < width <= MAX_SIDE and 0 < height <= MAX_SIDE and 0 < steps <= 150):
            return error_response(422, f"width/height must be 1..{MAX_SIDE} and steps 1..150")
        sampler = payload.get("sampler_name") or "Euler a"
        if sampler not in SAMPLERS:
            return error_response(404, "Sampler not found")
        override = (payload.get("override_settings") or {}).get("sd_model_checkpoint")
        model = webui.resolve(str(override)) if override else webui.checkpoint
        if model is None:
            model = webui.checkpoint  # the webui ignores an override it cannot match
        chosen_seed = payload.get("seed", -1)
        if not isinstance(chosen_seed, int):
            return error_response(422, "seed must be an integer")
        if chosen_seed < 0:
            chosen_seed = webui.rng.randrange(2**32)
        lock = webui.lock()
        webui.waiting += 1
        try:
            await lock.acquire()
        finally:
            webui.waiting -= 1
        try:
            job = Job(steps=steps)
            webui.job, webui.job_count = job, webui.job_count + 1
            webui.job_timestamp = datetime.now(UTC).strftime("%Y%m%d%H%M%S")
            if pace.ttft_s:
                await asyncio.sleep(pace.ttft_s)
            while job.step < steps and not job.interrupted:
                await asyncio.sleep(webui.job_s / steps if webui.job_s else step_s)
                job.step += 1
                # set from the test's thread, where an asyncio.Event cannot be set safely: poll it
                while webui.hold_jobs and 2 * job.step >= steps and not job.interrupted:  # noqa: ASYNC110
                    await asyncio.sleep(HOLD_POLL_S)
            webui.outcomes.append("interrupted" if job.interrupted else "done")
        finally:
            webui.job = None
            lock.release()
        png = gradient_png(width, height, chosen_seed)
        prompt = str(payload.get("prompt", ""))
        infotext = f"{prompt}\nSteps: {steps}, Sampler: {sampler}, Seed: {chosen_seed}, Size: {width}x{height}, " \
                   f"Model hash: {model['hash']}, Model: {model['model_name']}"
        info = {
            "prompt": prompt, "all_prompts": [prompt], "negative_prompt": payload.get("negative_prompt", ""),
            "seed": chosen_seed, "all_seeds": [chosen_seed], "subseed": webui.rng.randrange(2**32),
            "width": width, "height": height, "sampler_name": sampler, "cfg_scale": payload.get("cfg_scale", 7.0),
            "steps": steps, "batch_size": 1, "sd_model_name": model["model_name"], "sd_model_hash": model["hash"],
            "job_timestamp": webui.job_timestamp, "infotexts": [infotext],
        }
        return JSONResponse({"images": [base64.b64encode(png).decode()], "parameters": payload,
                             "info": json.dumps(info)})

    async def interrupt(_request: Request) -> Response:
        if webui.job is not None:
            webui.job.interrupted = True
        return JSONResponse({})

    async def ping(_request: Request) -> Response:
        return JSONResponse({})

    async def faults_route(request: Request) -> Response:
        return await control_faults(request, plan)

    api = "/sdapi/v1"
    app = Starlette(routes=[
        Route(f"{api}/options", guarded(options), methods=["GET", "POST"]),
        Route(f"{api}/sd-models", guarded(sd_models)),
        Route(f"{api}/refresh-checkpoints", guarded(refresh_checkpoints), methods=["POST"]),
        Route(f"{api}/loras", guarded(loras)),
        Route(f"{api}/refresh-loras", guarded(refresh_loras), methods=["POST"]),
        Route(f"{api}/samplers", guarded(samplers)),
        Route(f"{api}/memory", guarded(memory)),
        Route(f"{api}/progress", guarded(progress)),
        Route(f"{api}/txt2img", guarded(txt2img), methods=["POST"]),
        Route(f"{api}/interrupt", guarded(interrupt), methods=["POST"]),
        Route(f"{api}/skip", guarded(interrupt), methods=["POST"]),
        Route("/internal/ping", guarded(ping)),
        Route("/_emulator/faults", faults_route, methods=["GET", "POST"]),
    ])
    app.state.webui = webui
    return app


def _model_files(folder: Path | None) -> list[Path]:
    """The model files in `folder`, as the webui's scan finds them (a .part download is not one)."""
    if folder is None or not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if p.suffix in (".safetensors", ".ckpt", ".pt") and p.is_file())


async def _json_object(request: Request) -> dict[str, Any] | None:
    try:
        payload = json.loads(await request.body() or b"{}")
    except ValueError:
        return None
    return payload if isinstance(payload, dict) else None
