"""A whole lab of emulators on loopback with a config that routes over it: the demo, and the console's tests."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from config.schema import DeckConfig
from providers.emulators.registry import start_emulator
from providers.emulators.restart_command import restart_argv
from providers.emulators.server import EmulatorServer, stop_all
from providers.emulators.text import Pace

PULL_S = 6.0
"""A paced pull lasts this long: long enough to watch its layers fill and to cancel it, short enough to wait for."""
IMAGE_STEPS_PER_S = 6.0
"""A paced image job samples this many steps a second: a default 20-step job takes a few seconds of progress."""
IMAGE_WARMUP_S = 0.5

# (provider name, emulator kind, config kind, key name or None, pace)
LAB_PROVIDERS: tuple[tuple[str, str, str, str | None, Pace], ...] = (
    ("local-ollama", "ollama", "ollama", None, Pace(ttft_s=0.15, tokens_per_s=60, pull_s=PULL_S)),
    ("box-vllm", "vllm", "vllm", None, Pace(ttft_s=0.08, tokens_per_s=120)),
    ("box-llamacpp", "llamacpp", "llamacpp", None, Pace(ttft_s=0.12, tokens_per_s=45)),
    ("cloud", "openai", "openai", "demo-openai", Pace(ttft_s=0.35, tokens_per_s=80)),
    ("claude", "anthropic", "anthropic", "demo-anthropic", Pace(ttft_s=0.45, tokens_per_s=70)),
    ("sd", "a1111", "a1111", None, Pace(ttft_s=IMAGE_WARMUP_S, tokens_per_s=IMAGE_STEPS_PER_S)),
    ("comfy", "comfyui", "comfyui", None, Pace(ttft_s=IMAGE_WARMUP_S, tokens_per_s=IMAGE_STEPS_PER_S)),
    ("box-qdrant", "qdrant", "qdrant", None, Pace()),
    ("local-n8n", "n8n", "n8n", "demo-n8n", Pace()),
)

LAB_ROUTES: tuple[dict[str, Any], ...] = (
    {"alias": "chat", "targets": [{"provider": "box-vllm", "model": "meta-llama/Llama-3.1-8B-Instruct"},
                                  {"provider": "local-ollama", "model": "llama3.2:1b"}],
     "fallbacks": ["cloud-chat"], "retries": 1, "timeouts": {"ttft_s": 5, "idle_s": 10, "total_s": 60}},
    {"alias": "cloud-chat", "targets": [{"provider": "cloud", "model": "gpt-4o-mini"},
                                        {"provider": "claude", "model": "claude-sonnet-4-5-20250929"}]},
    {"alias": "fast", "strategy": "lowest-latency",
     "targets": [{"provider": "box-llamacpp", "model": "qwen2.5-7b-instruct-q4_k_m"},
                 {"provider": "local-ollama", "model": "qwen2.5:7b"}],
     "fallbacks": ["chat"]},
    {"alias": "cheap", "strategy": "lowest-cost",
     "targets": [{"provider": "claude", "model": "claude-3-5-haiku-20241022"},
                 {"provider": "cloud", "model": "gpt-4o-mini"}]},
)


@dataclass
class Lab:
    """Running emulators and the config that points at them. `stop()` ends them all."""

    servers: dict[str, EmulatorServer]
    config: DeckConfig
    keys: dict[str, str] = field(default_factory=dict)

    def stop(self) -> None:
        stop_all(self.servers.values())

    def set_faults(self, provider: str, spec: str) -> None:
        """Break (or mend, with "") one provider: `refuse`, `503`, `delay:2`, …"""
        self.servers[provider].set_faults(spec)


def start_lab(*, paced: bool = True, seed: int = 7, restart_down_s: float | None = None) -> Lab:
    """Start every emulator of the lab on free loopback ports and build its config.

    `paced=False` answers as fast as possible (tests); the demo uses realistic latency, token rates, pulls that
    take seconds and image jobs with visible progress. With `restart_down_s` every provider's config gets a
    `restart` argv that really restarts its emulator, which then stays down that long.
    """
    servers: dict[str, EmulatorServer] = {}
    providers: list[dict[str, Any]] = []
    keys: dict[str, str] = {}
    try:
        for name, emulator_kind, kind, key_name, pace in LAB_PROVIDERS:
            server = start_emulator(emulator_kind, seed=seed, pace=pace if paced else Pace(),
                                    restart_down_s=restart_down_s)
            servers[name] = server
            entry: dict[str, Any] = {"name": name, "kind": kind, "base_url": server.url, "timeout_s": 20}
            if restart_down_s is not None:
                entry["restart"] = list(restart_argv(server.url))
            if key_name:
                entry["api_key"] = f"keyring:{key_name}"
                keys[key_name] = f"demo-{key_name}-not-a-real-key"
            if name.startswith("box-"):
                entry["host"] = "box"
            elif name in ("local-ollama", "sd", "comfy", "local-n8n"):
                entry["host"] = "this-box"
            providers.append(entry)
        config = DeckConfig.model_validate({
            "providers": providers,
            "routes": list(LAB_ROUTES),
            "budgets": [{"provider": "cloud", "usd_per_day": 1.0}, {"provider": "claude", "usd_per_day": 2.0}],
        })
    except BaseException:
        stop_all(servers.values())
        raise
    return Lab(servers, config, keys)


SOURCE_KEYS = {"demo-hf": "demo-hf-not-a-real-key", "demo-dropbox": "demo-dropbox-not-a-real-key"}


def add_model_sources(lab: Lab, folder: Path, *, seed: int = 7, restart_down_s: float | None = None) -> None:
    """Give a running lab its model sources and storage: the Hub (its huggingface provider's router served by an
    OpenAI-compatible emulator with Hub-style model names), CivitAI and Dropbox emulators, and folders under
    `folder` where downloads land: box-llamacpp's models_dir, the image servers' checkpoint and LoRA dirs (which
    the A1111 and ComfyUI emulators then list). The demo uses it, so `:hub`, `:civitai` and `:upload` work there;
    the tests' lab stays as it is."""
    started: dict[str, EmulatorServer] = {}
    try:
        for name, kind in (("hf", "vllm"), ("hub", "hfhub"), ("civitai", "civitai"), ("dropbox", "dropbox")):
            started[name] = start_emulator(kind, seed=seed, restart_down_s=restart_down_s)
    except BaseException:
        stop_all(started.values())
        raise
    checkpoints, loras, gguf = folder / "checkpoints", folder / "loras", folder / "gguf"
    lab.servers["sd"].app.state.webui.checkpoint_dir = checkpoints
    lab.servers["sd"].app.state.webui.lora_dir = loras
    lab.servers["comfy"].app.state.checkpoint_dir = checkpoints
    folders = {"box-llamacpp": {"models_dir": str(gguf)},
               "sd": {"checkpoint_dir": str(checkpoints), "lora_dir": str(loras)},
               "comfy": {"checkpoint_dir": str(checkpoints)}}
    providers = [{**provider.model_dump(exclude_defaults=True), **folders.get(provider.name, {})}
                 for provider in lab.config.providers]
    providers += [
        {"name": "hf", "kind": "huggingface", "base_url": f"{started['hf'].url}/v1", "api_key": "keyring:demo-hf",
         "hub_url": started["hub"].url, "timeout_s": 20},
        {"name": "civitai", "kind": "civitai", "base_url": f"{started['civitai'].url}/api", "timeout_s": 20},
        {"name": "dropbox", "kind": "dropbox", "base_url": started["dropbox"].url, "api_key": "keyring:demo-dropbox",
         "upload_folder": "/llmdeck-demo", "timeout_s": 20},
    ]
    if restart_down_s is not None:  # as start_lab gives its providers: `r` really restarts the emulator
        for entry in providers[-3:]:
            server = started[str(entry["name"])]
            entry["restart"] = list(restart_argv(server.url))
    lab.config = DeckConfig.model_validate({**lab.config.model_dump(exclude_defaults=True), "providers": providers})
    lab.servers.update({"hf": started["hf"], "hub": started["hub"], "civitai": started["civitai"],
                        "dropbox": started["dropbox"]})
    lab.keys.update(SOURCE_KEYS)
