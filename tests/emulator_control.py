"""Control over emulated servers that a test needs to act on a running operation without racing its end."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from providers.emulators.a1111 import WebUI
from providers.emulators.comfyui_jobs import ComfyEngine
from providers.emulators.ollama_state import OllamaState
from providers.emulators.server import EmulatorServer


def ollama_state(server: EmulatorServer) -> OllamaState:
    state: OllamaState = server.app.state.ollama
    return state


@contextmanager
def pulls_held(server: EmulatorServer) -> Iterator[OllamaState]:
    """While inside, every streamed pull on this Ollama emulator waits halfway until the block is left."""
    state = ollama_state(server)
    state.hold_pulls = True
    try:
        yield state
    finally:
        state.hold_pulls = False


def a1111_webui(server: EmulatorServer) -> WebUI:
    webui: WebUI = server.app.state.webui
    return webui


def comfy_engine(server: EmulatorServer) -> ComfyEngine:
    engine: ComfyEngine = server.app.state.engine
    return engine


def _image_state(server: EmulatorServer) -> WebUI | ComfyEngine:
    """The job state of an AUTOMATIC1111 or a ComfyUI emulator."""
    return a1111_webui(server) if hasattr(server.app.state, "webui") else comfy_engine(server)


@contextmanager
def image_jobs_held(server: EmulatorServer) -> Iterator[WebUI | ComfyEngine]:
    """While inside, every image job on this AUTOMATIC1111 or ComfyUI emulator waits halfway (its progress
    standing still) until the block is left or the job is interrupted."""
    state = _image_state(server)
    state.hold_jobs = True
    try:
        yield state
    finally:
        state.hold_jobs = False


@contextmanager
def image_jobs_slowed(server: EmulatorServer, seconds: float) -> Iterator[WebUI | ComfyEngine]:
    """While inside, every image job on this AUTOMATIC1111 or ComfyUI emulator samples for `seconds` of real
    time, its progress moving step by step."""
    state = _image_state(server)
    state.job_s = seconds
    try:
        yield state
    finally:
        state.job_s = None
