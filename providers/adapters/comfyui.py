"""ComfyUI adapter: system stats, checkpoints, the default graph run over /prompt + websocket, history and /view."""

from __future__ import annotations

import asyncio
import json
import random
import uuid
from dataclasses import dataclass
from typing import Any

import httpx
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus, InvalidURI

from providers.adapters.a1111 import ProgressRelay, png_dimensions
from providers.adapters.comfyui_graph import text_to_image_graph
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
    ProviderTimeoutError,
    ServerError,
    UnreachableError,
)
from providers.http import error_from_status, expect_dict, fetch, parse_json, send

HEALTH_TIMEOUT_S = 10.0
WS_MAX_FRAME_BYTES = 32 * 1024 * 1024
"""Preview frames are whole images; the websockets default (1 MiB) is too small for them."""


@dataclass(frozen=True, slots=True)
class ComfyQueue:
    """How many prompts ComfyUI is running and how many wait behind them."""

    running: int
    pending: int


@dataclass(slots=True)
class _Prompt:
    """One generate_image call's prompt: its websocket client id, and how far it got."""

    client_id: str
    prompt_id: str | None = None
    submitted: bool = False
    """POST /prompt was sent: from then on the server may hold the prompt, whether or not its id came back."""


def _queued_ids(entries: Any, prompt: _Prompt) -> list[str]:
    """Ids of our entries in a /queue list (`[number, prompt_id, graph, extra_data, outputs]`): matched by prompt
    id, or by our client id when the submit's answer never arrived."""
    found = []
    for entry in entries if isinstance(entries, list) else ():
        if not isinstance(entry, list) or len(entry) < 4 or not isinstance(entry[1], str):
            continue
        extra = entry[3] if isinstance(entry[3], dict) else {}
        if entry[1] == prompt.prompt_id or extra.get("client_id") == prompt.client_id:
            found.append(entry[1])
    return found


def checkpoint_names(object_info: Any) -> list[str]:
    """Checkpoint file names from /object_info/CheckpointLoaderSimple, in either shape of its ckpt_name input:
    the older `[[names…], {…}]` or the newer `["COMBO", {"options": [names…]}]`."""
    try:
        spec = object_info["CheckpointLoaderSimple"]["input"]["required"]["ckpt_name"]
    except (KeyError, TypeError):
        return []
    if isinstance(spec, list) and spec and isinstance(spec[0], list):
        return [str(name) for name in spec[0]]
    if isinstance(spec, list) and len(spec) > 1 and isinstance(spec[1], dict):
        return [str(name) for name in spec[1].get("options", [])]
    return []


def _validation_message(text: str) -> str:
    """A readable line from /prompt's 400 body: the error and each node's first complaint."""
    try:
        parsed = json.loads(text)
    except (ValueError, RecursionError):  # RecursionError: absurdly nested garbage
        return text[:500] or "prompt rejected"
    if not isinstance(parsed, dict):
        return text[:500]
    error = parsed.get("error")
    parts = [str(error.get("message") if isinstance(error, dict) else error or "prompt rejected")]
    node_errors = parsed.get("node_errors")
    for node_id, node in (node_errors.items() if isinstance(node_errors, dict) else ()):
        for problem in (node.get("errors") or [])[:1] if isinstance(node, dict) else ():
            if isinstance(problem, dict):
                detail = f": {problem['details']}" if problem.get("details") else ""
                parts.append(f"node {node_id} ({node.get('class_type', '?')}) {problem.get('message', '')}{detail}")
    return "; ".join(parts)[:1000]


class ComfyUIAdapter(Adapter):
    """Speaks ComfyUI's HTTP + websocket API. It never sends an Origin header: ComfyUI answers 403 when the
    Origin differs from the Host, and a console is not a browser."""

    capabilities = Capabilities(images=True)

    def _headers(self) -> dict[str, str]:
        return {name: value for name, value in self.options.headers.items() if name.lower() != "origin"}

    async def _request(self, method: str, path: str, *, json_body: Any = None,
                       params: dict[str, str] | None = None, timeout_s: float | None = None) -> httpx.Response:
        return await send(self.client, method, self.url(path), provider=self.name, headers=self._headers(),
                          json_body=json_body, params=params,
                          timeout_s=self.timeout(timeout_s))

    async def _json(self, method: str, path: str, *, json_body: Any = None, timeout_s: float | None = None) -> Any:
        response = await self._request(method, path, json_body=json_body, timeout_s=timeout_s)
        return parse_json(response.content, self.name, f"{method} {path}")

    async def health(self) -> Health:
        """Version and VRAM from /system_stats; a failed call raises."""
        stats = expect_dict(await self._json("GET", "/system_stats", timeout_s=HEALTH_TIMEOUT_S),
                            self.name, "system_stats")
        system, devices = stats.get("system"), stats.get("devices")
        version = system.get("comfyui_version") if isinstance(system, dict) else None
        device: dict[str, Any] = devices[0] if isinstance(devices, list) and devices and isinstance(
            devices[0], dict) else {}
        total, free = device.get("vram_total"), device.get("vram_free")
        used = total - free if isinstance(total, int) and isinstance(free, int) and total > 0 else None
        return Health(
            "up", version=str(version) if version else None,
            detail=str(device.get("name") or ""),
            vram_total_bytes=total if used is not None else None, vram_used_bytes=used,
        )

    async def list_models(self) -> list[ModelInfo]:
        names = checkpoint_names(await self._json("GET", "/object_info/CheckpointLoaderSimple"))
        return [ModelInfo(provider=self.name, name=name, kind="image") for name in names]

    async def interrupt(self) -> None:
        """Interrupt the running prompt; its generate_image call raises BadRequestError("…interrupted")."""
        await self._request("POST", "/interrupt", json_body={})

    async def free(self) -> None:
        """Ask ComfyUI to unload models and free memory (applied between runs)."""
        await self._request("POST", "/free", json_body={"unload_models": True, "free_memory": True})

    async def queue(self) -> ComfyQueue:
        """Running and pending prompt counts."""
        body = expect_dict(await self._json("GET", "/queue"), self.name, "queue")
        running, pending = body.get("queue_running"), body.get("queue_pending")
        return ComfyQueue(running=len(running) if isinstance(running, list) else 0,
                          pending=len(pending) if isinstance(pending, list) else 0)

    async def generate_image(self, request: ImageRequest,
                             on_progress: ProgressCallback | None = None) -> ImageResult:
        """The whole job is bounded by image_timeout_s and a stall by image_idle_s; however it ends short of an
        image (timeout, stall, error, cancellation), our prompt is taken off the server."""
        seed = request.seed if request.seed >= 0 else random.randrange(2**32)  # ComfyUI has no "random" seed
        relay = ProgressRelay(on_progress)
        prompt = _Prompt(client_id=uuid.uuid4().hex)
        try:
            async with JobClock(self.options, self.name).limits() as clock:
                clock.waiting_in_line()  # the stall watch starts with the first event of our prompt
                checkpoint = request.model or await self._first_checkpoint()
                graph = text_to_image_graph(request, checkpoint=checkpoint, seed=seed)
                prompt_id = await self._run(graph, prompt, relay, clock)
                png = await self._first_image(prompt_id)
        except (Exception, asyncio.CancelledError):
            if prompt.submitted:
                await stop_on_server(lambda: self._withdraw(prompt))
            raise
        width, height = png_dimensions(png, self.name)
        await relay.offer(ImageProgress(1.0, step=request.steps, steps=request.steps, eta_s=0.0))
        return ImageResult(png=png, seed=seed, model=checkpoint, width=width, height=height,
                           info={"prompt_id": prompt_id, "seed": seed, "checkpoint": checkpoint})

    async def _first_checkpoint(self) -> str:
        models = await self.list_models()
        if not models:
            raise BadRequestError("ComfyUI lists no checkpoints to load", provider=self.name)
        return models[0].name

    def _ws_url(self, client_id: str) -> str:
        base = self.base_url
        scheme = "wss" if base.startswith("https://") else "ws"
        return f"{scheme}://{base.split('://', 1)[-1]}/ws?clientId={client_id}"

    async def _open_socket(self, client_id: str) -> ClientConnection:
        try:
            return await connect(
                self._ws_url(client_id), origin=None, additional_headers=self._headers(), proxy=None,
                open_timeout=self.options.connect_timeout_s, close_timeout=1.0, max_size=WS_MAX_FRAME_BYTES,
            )
        except InvalidStatus as exc:
            body = exc.response.body.decode("utf-8", "replace") if exc.response.body else ""
            raise error_from_status(exc.response.status_code, body, exc.response.headers, self.name) from None
        except (InvalidHandshake, InvalidURI) as exc:
            raise ProtocolError(f"websocket handshake failed: {exc}", provider=self.name) from None
        except TimeoutError:
            raise ProviderTimeoutError("websocket did not open in time", phase="connect", provider=self.name) from None
        except OSError as exc:
            raise UnreachableError(f"websocket: {exc}", provider=self.name) from None

    async def _withdraw(self, prompt: _Prompt) -> None:
        """Take our prompt off the server: deleted from the queue while it waits, interrupted while it runs."""
        running, pending = await self._our_entries(prompt)
        if pending:
            await self._request("POST", "/queue", json_body={"delete": pending}, timeout_s=STOP_READ_S)
            running, _ = await self._our_entries(prompt)  # it may have started in between
        for prompt_id in running:
            # With the id, ComfyUI interrupts only that prompt; older builds ignore it and interrupt the running
            # prompt, which was just seen to be ours. Never a bare interrupt: it would stop anyone's prompt.
            await self._request("POST", "/interrupt", json_body={"prompt_id": prompt_id}, timeout_s=STOP_READ_S)

    async def _our_entries(self, prompt: _Prompt) -> tuple[list[str], list[str]]:
        """(running, pending) ids of our prompt in the server's queue."""
        body = expect_dict(await self._json("GET", "/queue", timeout_s=STOP_READ_S), self.name, "queue")
        return _queued_ids(body.get("queue_running"), prompt), _queued_ids(body.get("queue_pending"), prompt)

    async def _run(self, graph: dict[str, Any], prompt: _Prompt, relay: ProgressRelay, clock: JobClock) -> str:
        """Queue the graph and follow it on the websocket until ComfyUI says it finished; return the prompt id.

        Until an event of our prompt arrives it waits in the queue, which is not a stall; each event of it
        moves the stall watch on."""
        socket = await self._open_socket(prompt.client_id)  # first, so no event of our prompt is missed
        try:
            prompt.submitted = True
            prompt_id = prompt.prompt_id = await self._submit(graph, prompt.client_id)
            async for frame in socket:
                if isinstance(frame, bytes):
                    continue  # binary frames are previews
                if await self._handle_event(frame, prompt_id, relay, clock):
                    return prompt_id
        except ConnectionClosed as exc:
            raise ProtocolError(f"websocket closed before the prompt finished: {exc}", provider=self.name) from None
        finally:
            await socket.close()
        raise ProtocolError("websocket closed before the prompt finished", provider=self.name)

    async def _submit(self, graph: dict[str, Any], client_id: str) -> str:
        response = await fetch(self.client, "POST", self.url("/prompt"), provider=self.name,
                               json_body={"prompt": graph, "client_id": client_id}, headers=self._headers(),
                               timeout_s=self.options.timeout_s)
        if response.status_code == 400:  # graph validation: the request is wrong, no retry will fix it
            raise BadRequestError(_validation_message(response.text), status=400, provider=self.name)
        if response.status_code >= 400:
            raise error_from_status(response.status_code, response.text, response.headers, self.name)
        body = expect_dict(parse_json(response.content, self.name, "POST /prompt"), self.name, "POST /prompt")
        prompt_id = body.get("prompt_id")
        if not isinstance(prompt_id, str) or not prompt_id:
            raise ProtocolError("POST /prompt: no prompt_id in the reply", provider=self.name)
        return prompt_id

    async def _handle_event(self, frame: str, prompt_id: str, relay: ProgressRelay, clock: JobClock) -> bool:
        """Act on one websocket event of our prompt; True once ComfyUI has finished it."""
        event = expect_dict(parse_json(frame, self.name, "websocket event"), self.name, "websocket event")
        kind, data = event.get("type"), event.get("data")
        if kind == "status" or not isinstance(data, dict) or data.get("prompt_id", prompt_id) != prompt_id:
            return False  # queue broadcasts and other clients' prompts (older builds send progress without an id)
        clock.moved()
        if kind == "progress":
            value, maximum = data.get("value"), data.get("max")
            if isinstance(value, int | float) and isinstance(maximum, int | float) and maximum > 0:
                await relay.offer(ImageProgress(min(1.0, value / maximum), step=int(value), steps=int(maximum)))
        elif kind == "execution_error":
            message = str(data.get("exception_message") or "execution failed").strip()
            raise ServerError(f"{data.get('node_type') or 'node'} {data.get('node_id', '')}: {message}",
                              provider=self.name)
        elif kind == "execution_interrupted":
            # The operator stopped it: no other provider should redo the job, hence not retryable.
            raise BadRequestError("prompt execution interrupted", provider=self.name)
        elif kind == "executing":
            return data.get("node") is None
        return False

    async def _first_image(self, prompt_id: str) -> bytes:
        history = expect_dict(await self._json("GET", f"/history/{prompt_id}"), self.name, "history")
        entry = history.get(prompt_id)
        if not isinstance(entry, dict):
            raise ProtocolError(f"history has no entry for prompt {prompt_id}", provider=self.name)
        images = [image for output in (entry.get("outputs") or {}).values() if isinstance(output, dict)
                  for image in output.get("images") or () if isinstance(image, dict) and image.get("filename")]
        if not images:
            raise ProtocolError(f"prompt {prompt_id} finished without images", provider=self.name)
        image = next((item for item in images if item.get("type") == "output"), images[0])
        params = {"filename": str(image["filename"]), "subfolder": str(image.get("subfolder") or ""),
                  "type": str(image.get("type") or "output")}
        response = await self._request("GET", "/view", params=params)
        return response.content
