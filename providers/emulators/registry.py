"""Which emulator serves which kind, and one call to start any of them."""

from __future__ import annotations

import importlib
from typing import Any, Protocol

from providers.emulators.faults import FaultPlan, parse_faults
from providers.emulators.server import EmulatorServer
from providers.emulators.text import Pace

EMULATORS: dict[str, tuple[str, str]] = {
    # kind: (module, flavour)
    "ollama": ("providers.emulators.ollama", "ollama"),
    "openai": ("providers.emulators.openai", "openai"),
    "vllm": ("providers.emulators.openai", "vllm"),
    "llamacpp": ("providers.emulators.openai", "llamacpp"),
    "llama_cpp_python": ("providers.emulators.openai", "llama_cpp_python"),  # served as kind llamacpp
    "anthropic": ("providers.emulators.anthropic", "anthropic"),
    "tgi": ("providers.emulators.tgi", "tgi"),
    "hfhub": ("providers.emulators.hfhub", "hfhub"),
    "a1111": ("providers.emulators.a1111", "a1111"),
    "comfyui": ("providers.emulators.comfyui", "comfyui"),
    "chroma": ("providers.emulators.services", "chroma"),
    "qdrant": ("providers.emulators.services", "qdrant"),
    "milvus": ("providers.emulators.services", "milvus"),
    "n8n": ("providers.emulators.services", "n8n"),
    "civitai": ("providers.emulators.civitai", "civitai"),
    "dropbox": ("providers.emulators.dropbox", "dropbox"),
}


class AppBuilder(Protocol):
    def __call__(self, *, plan: FaultPlan, pace: Pace, seed: int, flavour: str) -> Any: ...


def build_app(kind: str, *, plan: FaultPlan, pace: Pace, seed: int = 0) -> Any:
    """The ASGI app of one emulator kind; KeyError names the known kinds."""
    if kind not in EMULATORS:
        raise KeyError(f"no emulator for {kind!r}; known: {', '.join(sorted(EMULATORS))}")
    module_name, flavour = EMULATORS[kind]
    builder: AppBuilder = importlib.import_module(module_name).build
    return builder(plan=plan, pace=pace, seed=seed, flavour=flavour)


def start_emulator(kind: str, *, faults: str = "", port: int = 0, host: str = "127.0.0.1", seed: int = 0,
                   pace: Pace | None = None, restart_down_s: float | None = None) -> EmulatorServer:
    """Start one emulator in a background thread; the caller stops it. With `restart_down_s` it can be restarted
    over HTTP (providers/emulators/restart_route.py), staying down that long."""
    plan = FaultPlan(parse_faults(faults), seed=seed)
    app = build_app(kind, plan=plan, pace=pace or Pace(), seed=seed)
    server = EmulatorServer(app=app, plan=plan, host=host, port=port, restart_down_s=restart_down_s)
    if any(f.name == "refuse" for f in plan.faults):
        # Bind once to learn the port, then stop listening: connections are refused for real.
        server.start()
        server.refuse()
        return server
    return server.start()
