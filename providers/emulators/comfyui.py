"""A ComfyUI emulator: /prompt, the /ws event stream, history, /view, queue control and the Origin check."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from starlette.applications import Starlette
from starlette.datastructures import Headers
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import BaseRoute, Mount, Route, WebSocketRoute
from starlette.types import ASGIApp, Receive, Scope, Send
from starlette.websockets import WebSocket, WebSocketClose, WebSocketDisconnect

from providers.emulators.comfyui_jobs import (
    CHOICES,
    RANGES,
    REQUIRED,
    VRAM_TOTAL,
    ComfyEngine,
    validate,
)
from providers.emulators.faults import FaultPlan, control_faults, cut_response
from providers.emulators.text import Pace

STEP_SECONDS = 0.02
"""Time per sampler step unless a Pace says otherwise (its tokens_per_s counts steps)."""
VERSION = "0.3.40"

Handler = Callable[[Request], Awaitable[Response]]


class SameOriginOnly:
    """ComfyUI's guard for loopback servers: 403 when an Origin header is present and differs from Host."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in ("http", "websocket"):
            headers = Headers(scope=scope)
            origin, host = headers.get("origin"), headers.get("host")
            if origin and host and urlsplit(origin).netloc != host:
                if scope["type"] == "websocket":
                    await WebSocketClose(code=1008)(scope, receive, send)  # before accept → HTTP 403
                else:
                    await PlainTextResponse("403: Forbidden", status_code=403)(scope, receive, send)
                return
        await self.app(scope, receive, send)


def error_response(status: int, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    """ComfyUI's JSON error shape, as /prompt uses it."""
    body = {"error": {"type": "server_error", "message": message, "details": "", "extra_info": {}},
            "node_errors": {}}
    return JSONResponse(body, status_code=status, headers=headers)


def _node_info(class_type: str, legacy_combo: bool) -> dict[str, Any]:
    """An /object_info entry; COMBO inputs in the newer `["COMBO", {"options": […]}]` shape unless legacy."""
    required: dict[str, Any] = {}
    for name in REQUIRED[class_type]:
        if (choices := CHOICES.get((class_type, name))) is not None:
            required[name] = [list(choices), {}] if legacy_combo else ["COMBO", {"options": list(choices)}]
        elif (limits := RANGES.get((class_type, name))) is not None:
            required[name] = ["INT", {"default": limits[0], "min": limits[0], "max": limits[1]}]
        else:
            required[name] = ["STRING" if name in ("text", "filename_prefix") else "*", {}]
    outputs = {"CheckpointLoaderSimple": ["MODEL", "CLIP", "VAE"], "EmptyLatentImage": ["LATENT"],
               "CLIPTextEncode": ["CONDITIONING"], "KSampler": ["LATENT"], "VAEDecode": ["IMAGE"]}.get(class_type, [])
    return {"input": {"required": required}, "input_order": {"required": list(required)}, "output": outputs,
            "output_is_list": [False] * len(outputs), "output_name": outputs, "name": class_type,
            "display_name": class_type, "description": "", "python_module": "nodes",
            "category": "loaders" if class_type == "CheckpointLoaderSimple" else "sampling",
            "output_node": class_type in ("SaveImage", "PreviewImage")}


def build(*, plan: FaultPlan, pace: Pace, seed: int, flavour: str,  # noqa: ARG001
          legacy_combo: bool = False) -> Starlette:
    """The emulator app. `legacy_combo` lists checkpoints in the older `[[names…], {…}]` input shape."""
    engine = ComfyEngine(step_s=1.0 / pace.tokens_per_s if pace.tokens_per_s
                         else STEP_SECONDS, warmup_s=pace.ttft_s)

    def guarded(handler: Handler) -> Handler:
        async def endpoint(request: Request) -> Response:
            engine.on_loop()
            faults = plan.for_request(request)
            await faults.before_response()
            if (fault := faults.status_fault()) is not None and fault.status is not None:
                return error_response(fault.status, f"emulated fault {fault.status}", faults.retry_after_headers())
            response = await handler(request)
            media_type = response.media_type or "application/json"
            if faults.has("cut"):
                return cut_response(bytes(response.body), media_type)
            if faults.has("malformed"):
                return Response(b'{"prompt_id": "', status_code=response.status_code, media_type="application/json")
            if faults.has("truncate"):
                return Response(bytes(response.body)[: max(1, len(response.body) // 2)], media_type=media_type)
            return response

        return endpoint

    async def system_stats(_request: Request) -> Response:
        free = VRAM_TOTAL - engine.vram_used()
        return JSONResponse({
            "system": {"os": "posix", "ram_total": 67_108_864_000, "ram_free": 50_331_648_000,
                       "comfyui_version": VERSION, "python_version": "3.12.9", "pytorch_version": "2.6.0+cu124",
                       "embedded_python": False, "argv": ["main.py", "--listen", "127.0.0.1"]},
            "devices": [{"name": "cuda:0 NVIDIA GeForce RTX 4090 : cudaMallocAsync", "type": "cuda", "index": 0,
                         "vram_total": VRAM_TOTAL, "vram_free": free, "torch_vram_total": VRAM_TOTAL - free,
                         "torch_vram_free": 0}],
        })

    async def object_info(request: Request) -> Response:
        wanted = request.path_params.get("node_class")
        classes = [wanted] if wanted else list(REQUIRED)
        info = {name: _node_info(name, legacy_combo) for name in classes if name in REQUIRED}
        if "CheckpointLoaderSimple" in info:  # ComfyUI rescans its models folder whenever it is asked
            spec = info["CheckpointLoaderSimple"]["input"]["required"]["ckpt_name"]
            found = _checkpoint_files(request.app.state.checkpoint_dir)
            (spec[0] if legacy_combo else spec[1]["options"]).extend(found)
        return JSONResponse(info)

    async def prompt(request: Request) -> Response:
        if request.method == "GET":
            return JSONResponse({"exec_info": {"queue_remaining": engine.queue_remaining()}})
        payload = await _payload(request)
        graph = payload.get("prompt")
        failure, outputs = validate(graph)
        if failure is not None or not isinstance(graph, dict):
            return JSONResponse(failure, status_code=400)
        job = engine.enqueue(graph, outputs, str(payload.get("client_id") or ""))
        return JSONResponse({"prompt_id": job.prompt_id, "number": job.number, "node_errors": {}})

    async def history(request: Request) -> Response:
        if request.method == "POST":
            payload = await _payload(request)
            if payload.get("clear"):
                engine.history.clear()
            for prompt_id in payload.get("delete", []):
                engine.history.pop(prompt_id, None)
            return JSONResponse({})
        prompt_id = request.path_params.get("prompt_id")
        if prompt_id is not None:
            return JSONResponse({prompt_id: engine.history[prompt_id]} if prompt_id in engine.history else {})
        return JSONResponse(engine.history)

    async def view(request: Request) -> Response:
        filename = request.query_params.get("filename", "")
        subfolder = request.query_params.get("subfolder", "")
        kind = request.query_params.get("type", "output")
        if ".." in filename or filename.startswith("/") or ".." in subfolder:
            return PlainTextResponse("400: Bad Request", status_code=400)
        image = engine.images.get((filename, subfolder, kind))
        if image is None:
            return PlainTextResponse("404: Not Found", status_code=404)
        return Response(image, media_type="image/png",
                        headers={"content-disposition": f'filename="{filename}"'})

    async def queue(request: Request) -> Response:
        if request.method == "POST":
            payload = await _payload(request)
            doomed = set(payload.get("delete", [])) if not payload.get("clear") else {j.prompt_id
                                                                                       for j in engine.pending}
            engine.pending = [job for job in engine.pending if job.prompt_id not in doomed]
            engine.broadcast_status()
            return Response(status_code=200)
        return JSONResponse({"queue_running": [engine.running.queue_entry()] if engine.running else [],
                             "queue_pending": [job.queue_entry() for job in engine.pending]})

    async def interrupt(request: Request) -> Response:
        # With a prompt_id only that prompt is interrupted, and only while it runs; without one, whatever runs.
        wanted = (await _payload(request)).get("prompt_id")
        if engine.running is not None and (not wanted or engine.running.prompt_id == wanted):
            engine.running.interrupted = True
        return Response(status_code=200)

    async def free(request: Request) -> Response:
        engine.free(bool((await _payload(request)).get("unload_models")))
        return Response(status_code=200)

    async def events(websocket: WebSocket) -> None:
        engine.on_loop()
        client_id = websocket.query_params.get("clientId") or uuid.uuid4().hex
        await websocket.accept()
        outbox: asyncio.Queue[str] = asyncio.Queue()
        engine.clients[client_id] = outbox
        try:
            await websocket.send_json({"type": "status", "data": engine.status_event(sid=client_id)})
            relay = asyncio.create_task(_relay(websocket, outbox))
            listen = asyncio.create_task(_until_disconnect(websocket))
            _, unfinished = await asyncio.wait({relay, listen}, return_when=asyncio.FIRST_COMPLETED)
            for task in unfinished:
                task.cancel()
            # A send to a client that has gone fails; either way this socket is finished.
            await asyncio.gather(relay, listen, return_exceptions=True)
        finally:
            if engine.clients.get(client_id) is outbox:
                del engine.clients[client_id]

    async def faults_route(request: Request) -> Response:
        return await control_faults(request, plan)

    routes: list[BaseRoute] = [
        Route("/system_stats", guarded(system_stats)),
        Route("/object_info", guarded(object_info)),
        Route("/object_info/{node_class}", guarded(object_info)),
        Route("/prompt", guarded(prompt), methods=["GET", "POST"]),
        Route("/history", guarded(history), methods=["GET", "POST"]),
        Route("/history/{prompt_id}", guarded(history)),
        Route("/view", guarded(view)),
        Route("/queue", guarded(queue), methods=["GET", "POST"]),
        Route("/interrupt", guarded(interrupt), methods=["POST"]),
        Route("/free", guarded(free), methods=["POST"]),
        WebSocketRoute("/ws", events),
    ]
    app = Starlette(
        routes=[*routes, Mount("/api", routes=list(routes)), Route("/_emulator/faults", faults_route,
                                                                   methods=["GET", "POST"])],
        middleware=[Middleware(SameOriginOnly)],
    )
    app.state.engine = engine
    app.state.checkpoint_dir = None
    """A folder a test points at (a Path): its model files are listed after the built-in checkpoints."""
    return app


async def _payload(request: Request) -> dict[str, Any]:
    """The JSON object body, or {} when there is none or it is not an object."""
    try:
        payload = json.loads(await request.body() or b"{}")
    except ValueError:
        return {}
    return payload if isinstance(payload, dict) else {}


async def _relay(websocket: WebSocket, outbox: asyncio.Queue[str]) -> None:
    while True:
        await websocket.send_text(await outbox.get())


async def _until_disconnect(websocket: WebSocket) -> None:
    try:
        while True:
            message = await websocket.receive()
            if message["type"] == "websocket.disconnect":
                return
    except WebSocketDisconnect:
        return


def _checkpoint_files(folder: Path | None) -> list[str]:
    """The model files in `folder`, by name, as ComfyUI lists them (a .part download is not one)."""
    if folder is None or not folder.is_dir():
        return []
    return sorted(p.name for p in folder.iterdir() if p.suffix in (".safetensors", ".ckpt", ".pt") and p.is_file())
