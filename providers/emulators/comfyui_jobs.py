"""The ComfyUI emulator's engine: node table, graph validation, the prompt queue and step-by-step execution."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from providers.emulators.png import MAX_SIDE, gradient_png

CHECKPOINTS = ("v1-5-pruned-emaonly.safetensors", "sd_xl_base_1.0.safetensors", "corrupt-model.safetensors")
CORRUPT_CHECKPOINT = "corrupt-model.safetensors"
"""Loading this one fails with the error a damaged safetensors file gives, to provoke execution_error."""
SAMPLERS = ("euler", "euler_ancestral", "heun", "lms", "dpmpp_2m", "dpmpp_sde", "dpmpp_2m_sde", "ddim", "uni_pc")
SCHEDULERS = ("normal", "karras", "exponential", "sgm_uniform", "simple", "ddim_uniform", "beta")

REQUIRED: dict[str, tuple[str, ...]] = {
    "CheckpointLoaderSimple": ("ckpt_name",),
    "EmptyLatentImage": ("width", "height", "batch_size"),
    "CLIPTextEncode": ("text", "clip"),
    "KSampler": ("model", "seed", "steps", "cfg", "sampler_name", "scheduler", "positive", "negative",
                 "latent_image", "denoise"),
    "VAEDecode": ("samples", "vae"),
    "SaveImage": ("images", "filename_prefix"),
    "PreviewImage": ("images",),
}
"""The node classes this emulator knows, with their required inputs."""
OUTPUT_CLASSES = frozenset({"SaveImage", "PreviewImage"})
CHOICES: dict[tuple[str, str], tuple[str, ...]] = {
    ("CheckpointLoaderSimple", "ckpt_name"): CHECKPOINTS,
    ("KSampler", "sampler_name"): SAMPLERS,
    ("KSampler", "scheduler"): SCHEDULERS,
}
RANGES: dict[tuple[str, str], tuple[int, int]] = {
    ("KSampler", "steps"): (1, 10000), ("KSampler", "seed"): (0, 2**64 - 1),
    ("EmptyLatentImage", "width"): (16, MAX_SIDE), ("EmptyLatentImage", "height"): (16, MAX_SIDE),
    ("EmptyLatentImage", "batch_size"): (1, 64),
}
HOLD_POLL_S = 0.01
GIB = 1024**3
VRAM_TOTAL, VRAM_BASE, VRAM_CHECKPOINT, VRAM_SAMPLING = 24 * GIB, GIB // 2, 4 * GIB, 2 * GIB


def _failure(kind: str, message: str, node_errors: Any, details: str = "") -> dict[str, Any]:
    return {"error": {"type": kind, "message": message, "details": details, "extra_info": {}},
            "node_errors": node_errors}


def _problem(kind: str, message: str, details: str, name: str) -> dict[str, Any]:
    return {"type": kind, "message": message, "details": details, "extra_info": {"input_name": name}}


def _input_problems(graph: dict[str, Any], class_type: str, inputs: dict[str, Any]) -> list[dict[str, Any]]:
    problems = []
    for name in REQUIRED[class_type]:
        value = inputs.get(name)
        if value is None or (isinstance(value, list) and (len(value) != 2 or str(value[0]) not in graph)):
            problems.append(_problem("required_input_missing", "Required input is missing", name, name))
        elif (choices := CHOICES.get((class_type, name))) is not None and value not in choices:
            problems.append(_problem("value_not_in_list", "Value not in list",
                                     f"{name}: '{value}' not in {list(choices)}", name))
        elif (limits := RANGES.get((class_type, name))) is not None:
            low, high = limits
            if not isinstance(value, int) or isinstance(value, bool):
                problems.append(_problem("invalid_input_type", "Failed to convert an input value to a INT value",
                                         f"{name}, {value}", name))
            elif not low <= value <= high:
                kind = "value_smaller_than_min" if value < low else "value_bigger_than_max"
                bound = f"min of {low}" if value < low else f"max of {high}"
                problems.append(_problem(kind, f"Value {value} {kind.split('_')[1]} than {bound}", name, name))
    return problems


def validate(graph: Any) -> tuple[dict[str, Any] | None, list[str]]:
    """(error body for a 400, output node ids): the checks ComfyUI's validate_prompt makes, minimally."""
    if not isinstance(graph, dict) or not graph:
        return {"error": "no prompt", "node_errors": []}, []
    for node_id, node in graph.items():
        class_type = node.get("class_type") if isinstance(node, dict) else None
        if class_type not in REQUIRED or not isinstance(node.get("inputs"), dict):
            return _failure("invalid_prompt", f"Cannot execute because node {class_type} does not exist.", {},
                            f"Node ID '#{node_id}'"), []
    outputs = [node_id for node_id, node in graph.items() if node["class_type"] in OUTPUT_CLASSES]
    if not outputs:
        return _failure("prompt_no_outputs", "Prompt has no outputs", []), []
    node_errors = {
        node_id: {"errors": problems, "dependent_outputs": outputs, "class_type": node["class_type"]}
        for node_id, node in graph.items() if (problems := _input_problems(graph, node["class_type"], node["inputs"]))
    }
    if node_errors:
        return _failure("prompt_outputs_failed_validation", "Prompt outputs failed validation", node_errors), []
    return None, outputs


def execution_order(graph: dict[str, Any], outputs: list[str]) -> list[str]:
    """Nodes the outputs depend on, each after its inputs (only reachable nodes run, as in ComfyUI)."""
    order: list[str] = []

    def visit(node_id: str) -> None:
        if node_id in order:
            return
        for value in graph[node_id]["inputs"].values():
            if isinstance(value, list) and len(value) == 2 and str(value[0]) in graph:
                visit(str(value[0]))
        order.append(node_id)

    for output in outputs:
        visit(output)
    return order


def _first_inputs(graph: dict[str, Any], class_type: str) -> dict[str, Any]:
    return next((node["inputs"] for node in graph.values() if node["class_type"] == class_type), {})


@dataclass
class Job:
    prompt_id: str
    number: int
    graph: dict[str, Any]
    client_id: str
    outputs: list[str]
    interrupted: bool = False

    def queue_entry(self) -> list[Any]:
        return [self.number, self.prompt_id, self.graph, {"client_id": self.client_id}, self.outputs]


@dataclass
class ComfyEngine:
    """Queue, history, saved images and connected websocket clients; everything runs on the server's loop."""

    step_s: float
    warmup_s: float = 0.0
    job_s: float | None = None
    """While set, each prompt's sampling takes this long in all, spread over its steps: a slow server."""
    hold_jobs: bool = False
    """While set, sampling stops halfway through its steps until let go (or interrupted): a test can act on a
    running prompt without racing its end, however slow the machine."""
    pending: list[Job] = field(default_factory=list)
    running: Job | None = None
    history: dict[str, dict[str, Any]] = field(default_factory=dict)
    images: dict[tuple[str, str, str], bytes] = field(default_factory=dict)
    clients: dict[str, asyncio.Queue[str]] = field(default_factory=dict)
    loaded: str | None = None
    free_requested: bool = False
    _number: int = 0
    _saved: int = 0
    _tasks: set[asyncio.Task[None]] = field(default_factory=set)
    _loop: asyncio.AbstractEventLoop | None = None

    def on_loop(self) -> None:
        """Forget jobs and clients of an earlier event loop (the server restarts after refuse/accept)."""
        loop = asyncio.get_running_loop()
        if self._loop is not loop:
            self._loop, self.running, self.pending, self.clients, self._tasks = loop, None, [], {}, set()

    def vram_used(self) -> int:
        return VRAM_BASE + (VRAM_CHECKPOINT if self.loaded else 0) + (VRAM_SAMPLING if self.running else 0)

    def queue_remaining(self) -> int:
        return len(self.pending) + (1 if self.running else 0)

    def send(self, client_id: str, kind: str, data: dict[str, Any]) -> None:
        if (outbox := self.clients.get(client_id)) is not None:
            outbox.put_nowait(json.dumps({"type": kind, "data": data}))

    def status_event(self, sid: str | None = None) -> dict[str, Any]:
        status: dict[str, Any] = {"status": {"exec_info": {"queue_remaining": self.queue_remaining()}}}
        return {**status, "sid": sid} if sid else status

    def broadcast_status(self) -> None:
        for client_id in list(self.clients):
            self.send(client_id, "status", self.status_event())

    def enqueue(self, graph: dict[str, Any], outputs: list[str], client_id: str) -> Job:
        self._number += 1
        job = Job(str(uuid.uuid4()), self._number, graph, client_id, outputs)
        self.pending.append(job)
        self.broadcast_status()
        self._start_next()
        return job

    def free(self, unload_models: bool) -> None:
        """Unload now when idle, else after the running prompt (ComfyUI frees between runs)."""
        if unload_models:
            self.free_requested = True
            self._start_next()

    def _start_next(self) -> None:
        if self.running is not None:
            return
        if self.free_requested:
            self.loaded, self.free_requested = None, False
        if self.pending:
            self.running = self.pending.pop(0)
            task = asyncio.get_running_loop().create_task(self._execute(self.running))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _execute(self, job: Job) -> None:
        messages: list[list[Any]] = []
        outputs: dict[str, Any] = {}

        def emit(kind: str, data: dict[str, Any], record: bool = False) -> None:
            payload = {**data, "prompt_id": job.prompt_id}
            if record:
                messages.append([kind, {**payload, "timestamp": int(time.time() * 1000)}])
            self.send(job.client_id, kind, payload)

        status = "success"
        try:
            emit("execution_start", {}, record=True)
            emit("execution_cached", {"nodes": []}, record=True)
            if self.warmup_s:
                await asyncio.sleep(self.warmup_s)
            status = await self._run_nodes(job, emit, outputs)
        finally:
            self.history[job.prompt_id] = {
                "prompt": job.queue_entry(), "outputs": outputs,
                "status": {"status_str": status, "completed": status == "success", "messages": messages},
                "meta": {node: {"node_id": node, "display_node": node} for node in outputs},
            }
            emit("executing", {"node": None})
            self.running = None
            self.broadcast_status()
            self._start_next()

    async def _run_nodes(self, job: Job, emit: Callable[..., None], outputs: dict[str, Any]) -> str:
        graph = job.graph
        executed: list[str] = []
        for node_id in execution_order(graph, job.outputs):
            class_type, inputs = graph[node_id]["class_type"], graph[node_id]["inputs"]
            emit("executing", {"node": node_id, "display_node": node_id})
            if class_type == "CheckpointLoaderSimple" and inputs["ckpt_name"] == CORRUPT_CHECKPOINT:
                emit("execution_error", {
                    "node_id": node_id, "node_type": class_type, "executed": executed,
                    "exception_message": "Error while deserializing header: HeaderTooLarge",
                    "exception_type": "safetensors_rust.SafetensorError", "traceback": [],
                    "current_inputs": {}, "current_outputs": {}}, record=True)
                return "error"
            if class_type == "CheckpointLoaderSimple":
                self.loaded = inputs["ckpt_name"]
            elif class_type == "KSampler":
                steps = inputs["steps"]
                for value in range(1, steps + 1):
                    await asyncio.sleep(self.job_s / steps if self.job_s else self.step_s)
                    if not job.interrupted:
                        emit("progress", {"value": value, "max": steps, "node": node_id})
                    # set from the test's thread, where an asyncio.Event cannot be set safely: poll it
                    while self.hold_jobs and 2 * value >= steps and not job.interrupted:  # noqa: ASYNC110
                        await asyncio.sleep(HOLD_POLL_S)
                    if job.interrupted:
                        emit("execution_interrupted", {"node_id": node_id, "node_type": class_type,
                                                       "executed": executed}, record=True)
                        return "error"
            elif class_type in OUTPUT_CLASSES:
                outputs[node_id] = {"images": [self._save(graph, inputs, class_type)]}
                emit("executed", {"node": node_id, "display_node": node_id, "output": outputs[node_id]})
            executed.append(node_id)
        emit("execution_success", {}, record=True)
        return "success"

    def _save(self, graph: dict[str, Any], inputs: dict[str, Any], class_type: str) -> dict[str, str]:
        latent = _first_inputs(graph, "EmptyLatentImage")
        seed = int(_first_inputs(graph, "KSampler").get("seed", 0))
        self._saved += 1
        kind = "output" if class_type == "SaveImage" else "temp"
        filename = f"{inputs.get('filename_prefix', 'ComfyUI')}_{self._saved:05d}_.png"
        self.images[(filename, "", kind)] = gradient_png(int(latent.get("width", 512)),
                                                         int(latent.get("height", 512)), seed)
        return {"filename": filename, "subfolder": "", "type": kind}
