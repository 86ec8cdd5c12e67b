"""AUTOMATIC1111 stable-diffusion-webui adapter: checkpoints, txt2img with live progress, interrupt."""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import inspect
import struct
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from providers.adapters.image_job import STOP_READ_S, JobClock, stop_on_server
from providers.base import (
    Adapter,
    Capabilities,
    Health,
    ImageProgress,
    ImageRequest,
    ImageResult,
    ModelInfo,
    ProgressCallback,
)
from providers.errors import (
    BadRequestError,
    ProtocolError,
    ProviderError,
    ServerError,
)
from providers.http import MAX_BODY_BYTES, MAX_LISTING_BYTES, error_from_status, expect_dict, fetch, parse_json, send

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
PNG_END = b"\x00\x00\x00\x00IEND\xaeB`\x82"
"""Every whole PNG ends with this empty IEND chunk; without it the image was cut short."""
HEALTH_TIMEOUT_S = 10.0


def png_dimensions(data: bytes, provider: str | None) -> tuple[int, int]:
    """(width, height) read from a PNG's IHDR chunk; ProtocolError when `data` is not a whole PNG."""
    if len(data) < 24 or not data.startswith(PNG_SIGNATURE) or data[12:16] != b"IHDR":
        raise ProtocolError(f"image is not a PNG (starts {data[:8]!r})", provider=provider)
    if not data.endswith(PNG_END):
        raise ProtocolError(f"PNG is truncated ({len(data)} bytes, no IEND chunk)", provider=provider)
    width, height = struct.unpack(">II", data[16:24])
    return int(width), int(height)


@dataclass(slots=True)
class _Txt2Img:
    """How far one txt2img call got: while it is sent and unanswered, the job may be running on the server."""

    sent: bool = False
    answered: bool = False


class ProgressRelay:
    """Forwards progress to the caller's callback, only ever forwards (never backwards), sync or async."""

    def __init__(self, callback: ProgressCallback | None) -> None:
        self.callback = callback
        self.fraction = -1.0

    async def offer(self, progress: ImageProgress) -> None:
        if self.callback is None or progress.fraction <= self.fraction:
            return
        self.fraction = progress.fraction
        outcome = self.callback(progress)
        if inspect.isawaitable(outcome):
            await outcome


class A1111Adapter(Adapter):
    """Speaks the /sdapi/v1 API of stable-diffusion-webui (launched with --api)."""

    capabilities = Capabilities(images=True, switch_checkpoint=True)

    progress_interval_s: float = 0.2
    """How often a running txt2img is polled for progress."""

    def _headers(self) -> dict[str, str]:
        headers = dict(self.options.headers)
        key = self.key()
        if key and ":" in key:  # --api-auth user:pass means HTTP Basic on every /sdapi route
            headers["Authorization"] = "Basic " + base64.b64encode(key.encode()).decode()
        return headers

    async def _call(self, method: str, path: str, *, json_body: Any = None, params: Mapping[str, str] | None = None,
                    timeout_s: float | None = None) -> Any:
        """One request, its JSON answer parsed; every failure mapped to providers.errors."""
        response = await send(self.client, method, self.url(path), provider=self.name, headers=self._headers(),
                              json_body=json_body, params=params, timeout_s=self.timeout(timeout_s),
                              max_bytes=MAX_LISTING_BYTES if method == "GET" else MAX_BODY_BYTES)
        return parse_json(response.content, self.name, f"{method} {path}")

    async def health(self) -> Health:
        """The current checkpoint from /sdapi/v1/options (a failed call raises), VRAM from /memory when it answers."""
        options = expect_dict(await self._call("GET", "/sdapi/v1/options", timeout_s=HEALTH_TIMEOUT_S),
                              self.name, "options")
        checkpoint = options.get("sd_model_checkpoint")
        used = total = None
        with contextlib.suppress(ProviderError):  # memory is extra detail; the server answered, so it is up
            used, total = _vram(await self._call("GET", "/sdapi/v1/memory", timeout_s=HEALTH_TIMEOUT_S))
        return Health("up", models_loaded=(checkpoint,) if isinstance(checkpoint, str) else (),
                      vram_used_bytes=used, vram_total_bytes=total)

    async def list_models(self) -> list[ModelInfo]:
        models = await self._call("GET", "/sdapi/v1/sd-models")
        options = expect_dict(await self._call("GET", "/sdapi/v1/options"), self.name, "options")
        current = str(options.get("sd_model_checkpoint") or "")
        if not isinstance(models, list):
            raise ProtocolError("sd-models: expected a list", provider=self.name)
        infos = []
        for item in models:
            entry = expect_dict(item, self.name, "sd-models entry")
            title = str(entry.get("title") or entry.get("model_name") or "")
            loaded = bool(current) and current in (title, entry.get("model_name"), entry.get("filename"))
            infos.append(ModelInfo(provider=self.name, name=title, kind="image", loaded=loaded))
        return infos

    async def switch_checkpoint(self, title: str) -> None:
        """Load another checkpoint; the call returns once it is loaded. Unknown names raise BadRequestError."""
        try:
            await self._call("POST", "/sdapi/v1/options", json_body={"sd_model_checkpoint": title})
        except ServerError as exc:
            if "not found" in exc.message.lower():  # A1111 answers 500 for a name it does not know
                raise BadRequestError(exc.message, status=exc.status, provider=self.name) from None
            raise

    async def samplers(self) -> list[str]:
        """Names of the samplers txt2img accepts."""
        items = await self._call("GET", "/sdapi/v1/samplers")
        if not isinstance(items, list):
            raise ProtocolError("samplers: expected a list", provider=self.name)
        return [str(item["name"]) for item in items if isinstance(item, dict) and "name" in item]

    async def interrupt(self) -> None:
        """Stop the running job; its txt2img call returns early with the image so far."""
        await self._call("POST", "/sdapi/v1/interrupt")

    async def generate_image(self, request: ImageRequest,
                             on_progress: ProgressCallback | None = None) -> ImageResult:
        """The whole job is bounded by image_timeout_s and a stall by image_idle_s; however it ends short of the
        server's answer (timeout, stall, error, cancellation), the job is interrupted on the server.

        The webui's interrupt has no job id: it stops whatever runs, so it is sent only while our txt2img is
        unanswered (once the server answers, even with an error, our job is over there)."""
        relay = ProgressRelay(on_progress)
        call = _Txt2Img()
        try:
            async with JobClock(self.options, self.name).limits() as clock:
                body = await self._txt2img_watched(request, call, relay, clock)
        except (Exception, asyncio.CancelledError):
            if call.sent and not call.answered:
                await stop_on_server(self._interrupt_briefly)
            raise
        result = self._image_result(expect_dict(body, self.name, "txt2img reply"), request)
        await relay.offer(ImageProgress(1.0, step=request.steps, steps=request.steps, eta_s=0.0))
        return result

    async def _interrupt_briefly(self) -> None:
        await self._call("POST", "/sdapi/v1/interrupt", timeout_s=STOP_READ_S)

    async def _txt2img_watched(self, request: ImageRequest, call: _Txt2Img, relay: ProgressRelay,
                               clock: JobClock) -> Any:
        """txt2img with /progress polled beside it; a failing progress callback ends the job."""
        posting = asyncio.create_task(self._txt2img(request, call))
        polling = asyncio.create_task(self._poll_progress(relay, clock))
        try:
            await asyncio.wait((posting, polling), return_when=asyncio.FIRST_COMPLETED)
            if not posting.done():  # polling only ends when the caller's own progress callback failed
                polling.result()
            return posting.result()
        finally:
            for task in (posting, polling):
                task.cancel()
            await asyncio.wait((posting, polling))

    async def _txt2img(self, request: ImageRequest, call: _Txt2Img) -> Any:
        """POST txt2img. Its answer comes only when the image is done, so the read may take the whole job
        (image_timeout_s), not the per-read timeout_s."""
        call.sent = True
        response = await fetch(self.client, "POST", self.url("/sdapi/v1/txt2img"), provider=self.name,
                               headers=self._headers(), json_body=_txt2img_body(request),
                               timeout_s=self.timeout(self.options.image_timeout_s))
        call.answered = True
        if response.status_code >= 400:
            raise error_from_status(response.status_code, response.text, response.headers, self.name)
        return parse_json(response.content, self.name, "POST /sdapi/v1/txt2img")

    async def _poll_progress(self, relay: ProgressRelay, clock: JobClock) -> None:
        """Poll /progress until cancelled: any change of it moves the stall watch on (another client's job
        moving ahead of ours is not a stall), and rising progress reaches the caller."""
        seen: tuple[object, ...] | None = None
        while True:
            await asyncio.sleep(self.progress_interval_s)
            try:
                body = await self._call("GET", "/sdapi/v1/progress", params={"skip_current_image": "true"})
            except ProviderError:
                continue  # progress is advisory: the txt2img reply alone decides the outcome
            if (mark := _progress_mark(body)) != seen:
                seen = mark
                clock.moved()
            if (progress := _progress(body)) is not None:
                await relay.offer(progress)

    def _image_result(self, body: dict[str, Any], request: ImageRequest) -> ImageResult:
        """The one place a txt2img reply becomes our types."""
        images = body.get("images")
        if not isinstance(images, list) or not images or not isinstance(images[0], str):
            raise ProtocolError("txt2img reply has no images", provider=self.name)
        encoded = images[0].split(",", 1)[1] if images[0].startswith("data:") else images[0]
        try:
            png = base64.b64decode(encoded, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise ProtocolError(f"txt2img image is not base64: {exc}", provider=self.name) from None
        width, height = png_dimensions(png, self.name)
        raw_info = body.get("info")
        if isinstance(raw_info, str):
            info = expect_dict(parse_json(raw_info, self.name, "txt2img info"), self.name, "txt2img info")
        else:
            info = raw_info if isinstance(raw_info, dict) else {}
        seed = info.get("seed")
        model = info.get("sd_model_name")
        return ImageResult(png=png, seed=seed if isinstance(seed, int) else None,
                           model=model if isinstance(model, str) else request.model,
                           width=width, height=height, info=info)


def _txt2img_body(request: ImageRequest) -> dict[str, Any]:
    body: dict[str, Any] = {
        "prompt": request.prompt, "negative_prompt": request.negative, "width": request.width,
        "height": request.height, "steps": request.steps, "seed": request.seed, "cfg_scale": request.cfg_scale,
        "batch_size": 1, "n_iter": 1, "send_images": True, "save_images": False,
    }
    if request.sampler:
        body["sampler_name"] = request.sampler
    if request.model:
        # A per-request override leaves the server's selected checkpoint alone for other users.
        body["override_settings"] = {"sd_model_checkpoint": request.model}
        body["override_settings_restore_afterwards"] = True
    return body


def _progress_mark(body: Any) -> tuple[object, ...]:
    """What of /progress says the server moved: the fraction, the step, which job (eta changes while stuck)."""
    if not isinstance(body, dict):
        return ()
    raw_state = body.get("state")
    state: dict[str, Any] = raw_state if isinstance(raw_state, dict) else {}
    keys = ("job", "job_no", "job_timestamp", "sampling_step", "sampling_steps")
    return (str(body.get("progress")), *(str(state.get(key)) for key in keys))


def _progress(body: Any) -> ImageProgress | None:
    """An ImageProgress from /progress, or None while idle or unreadable."""
    if not isinstance(body, dict) or not isinstance(body.get("progress"), int | float):
        return None
    raw_state = body.get("state")
    state: dict[str, Any] = raw_state if isinstance(raw_state, dict) else {}
    step, steps = state.get("sampling_step"), state.get("sampling_steps")
    if body["progress"] <= 0 and not state.get("job_count"):
        return None
    eta = body.get("eta_relative")
    return ImageProgress(
        fraction=min(1.0, float(body["progress"])),
        step=step if isinstance(step, int) else None,
        steps=steps if isinstance(steps, int) else None,
        eta_s=float(eta) if isinstance(eta, int | float) else None,
    )


def _vram(body: Any) -> tuple[int | None, int | None]:
    """(used, total) bytes of GPU memory from /memory; (None, None) without CUDA."""
    cuda = body.get("cuda") if isinstance(body, dict) else None
    system = cuda.get("system") if isinstance(cuda, dict) else None
    if not isinstance(system, dict):
        return None, None
    used, total = system.get("used"), system.get("total")
    return (int(used) if isinstance(used, int | float) else None,
            int(total) if isinstance(total, int | float) else None)
