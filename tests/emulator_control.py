"""Control over emulated servers that a test needs to act on a running operation without racing its end."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from providers.emulators.a1111 import WebUI
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


@contextmanager
def image_jobs_held(server: EmulatorServer) -> Iterator[WebUI]:
    """While inside, every txt2img job on this AUTOMATIC1111 emulator waits halfway until the block is left."""
    webui: WebUI = server.app.state.webui
    webui.hold_jobs = True
    try:
        yield webui
    finally:
        webui.hold_jobs = False
