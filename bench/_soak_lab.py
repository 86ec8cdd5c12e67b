"""The soak's lab: 20 chat providers, each an emulator in a process of its own, the config that routes over them,
and a fault injector that breaks and mends them at random while traffic runs."""

from __future__ import annotations

import contextlib
import os
import random
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field

import httpx
from _emulator import ROOT, free_port

# (emulator kind, config kind, model, how many, key variable or None)
KINDS: tuple[tuple[str, str, str, int, str | None], ...] = (
    ("ollama", "ollama", "llama3.2:1b", 6, None),
    ("vllm", "vllm", "meta-llama/Llama-3.1-8B-Instruct", 4, None),
    ("llamacpp", "llamacpp", "qwen2.5-7b-instruct-q4_k_m", 4, None),
    ("openai", "openai", "gpt-4o-mini", 3, "SOAK_OPENAI_KEY"),
    ("anthropic", "anthropic", "claude-3-5-haiku-20241022", 3, "SOAK_ANTHROPIC_KEY"),
)
KEYS = {"SOAK_OPENAI_KEY": "soak-openai-not-a-real-key", "SOAK_ANTHROPIC_KEY": "soak-anthropic-not-a-real-key"}

FAULTS = ("500", "503", "429:1", "cut", "stall_mid:2", "refuse", "delay:1", "malformed", "")
"""What the injector picks from; "" is a turn that breaks nothing."""
MAX_BROKEN = 5
"""At most this many emulators broken at once, so most requests still find a way through."""
START_S = 30.0
"""Bounds an emulator's start (a hang, not the normal time)."""


@dataclass
class Emulator:
    """`llmdeck emulate KIND` on a fixed loopback port; stopped and started again on that port for `refuse`."""

    provider: str
    kind: str
    model: str
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, client: httpx.Client) -> None:
        # A session of its own: Ctrl-C at the soak's terminal must not end the emulators before the summary.
        self.process = subprocess.Popen(
            [sys.executable, "-m", "console.cli", "emulate", self.kind, "--port", str(self.port)], cwd=ROOT,
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        deadline = time.monotonic() + START_S
        while True:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.provider}: emulator exited ({self.process.returncode}) on port {self.port}")
            with contextlib.suppress(httpx.HTTPError):
                client.get(f"{self.url}/_emulator/faults", timeout=1.0)
                return
            if time.monotonic() > deadline:
                raise RuntimeError(f"{self.provider}: emulator not answering on port {self.port}")
            time.sleep(0.05)  # noqa: TID251 - a synchronous launcher waiting for a child process

    def stop(self) -> None:
        if self.process is None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.process = None


class Fleet:
    """Every emulator of the soak; `set_fault` breaks or mends one, `refuse` for real (the process stops)."""

    def __init__(self) -> None:
        self.emulators: dict[str, Emulator] = {}
        for kind, _, model, count, _ in KINDS:
            for index in range(count):
                name = f"{kind}-{index:02d}"
                self.emulators[name] = Emulator(name, kind, model)
        self._client = httpx.Client(trust_env=False)
        self._lock = threading.Lock()

    def start(self) -> None:
        for emulator in self.emulators.values():
            emulator.start(self._client)

    def stop(self) -> None:
        for emulator in self.emulators.values():
            emulator.stop()
        self._client.close()

    def set_fault(self, provider: str, spec: str) -> None:
        with self._lock:
            emulator = self.emulators[provider]
            if spec == "refuse":
                emulator.stop()
                return
            if emulator.process is None:
                emulator.start(self._client)
            reply = self._client.post(f"{emulator.url}/_emulator/faults", json={"spec": spec}, timeout=10.0)
            reply.raise_for_status()


@contextlib.contextmanager
def running_fleet() -> Iterator[Fleet]:
    fleet = Fleet()
    try:
        fleet.start()
        yield fleet
    finally:
        fleet.stop()


def config_text(fleet: Fleet) -> str:
    """20 providers and routes with fallbacks between kinds; the cloud kinds' keys come from `env:` variables."""
    kinds = {kind: (config_kind, key) for kind, config_kind, _, _, key in KINDS}
    lines = ["providers:"]
    for emulator in fleet.emulators.values():
        config_kind, key = kinds[emulator.kind]
        reference = f", api_key: env:{key}" if key else ""
        lines.append(f'  - {{name: {emulator.provider}, kind: {config_kind}, base_url: "{emulator.url}", '
                     f"timeout_s: 20{reference}}}")

    def route(alias: str, providers: str, rest: str = "") -> str:
        targets = ", ".join(f'{{provider: {p}, model: "{fleet.emulators[p].model}"}}' for p in providers.split())
        return f"  - {{alias: {alias}, targets: [{targets}]{rest}}}"

    lines += [
        "routes:",
        # First: the alias the console's Chat pane talks to. Its idle deadline is shorter than a stall_mid fault.
        route("mixed", "ollama-03 ollama-04 ollama-05 vllm-00 llamacpp-00 anthropic-00",
              ", strategy: least-busy, fallbacks: [local, cloud], timeouts: {ttft_s: 3, idle_s: 1, total_s: 20}"),
        route("local", "ollama-00 ollama-01 ollama-02", ", fallbacks: [gpu]"),
        route("gpu", "vllm-00 vllm-01 vllm-02 vllm-03", ", strategy: weighted, fallbacks: [cpp]"),
        route("cpp", "llamacpp-00 llamacpp-01 llamacpp-02 llamacpp-03",
              ", strategy: lowest-latency, fallbacks: [cloud], retries: 2"),
        route("cloud", "openai-00 openai-01 openai-02 anthropic-00 anthropic-01 anthropic-02",
              ", continue_on_failover: true"),
        route("cheap", "anthropic-01 openai-01", ", strategy: lowest-cost, fallbacks: [local]"),
    ]
    return "\n".join(lines) + "\n"


def chat_targets(fleet: Fleet) -> list[str]:
    """What the traffic asks for: mostly aliases, sometimes one PROVIDER/MODEL (no fallback at all)."""
    aliases = ["mixed", "local", "gpu", "cpp", "cloud", "cheap"] * 3
    return aliases + [f"{e.provider}/{e.model}" for e in fleet.emulators.values()]


def export_keys() -> None:
    """The dummy keys, in variables every config reference names (the pty console inherits them too)."""
    os.environ.update(KEYS)


@dataclass
class FaultInjector:
    """Every `every_s`, with probability `chance`, breaks one emulator with a random fault for 5–20 s; runs in a
    thread of its own (the console part has no event loop in this process) until `stop` is set."""

    fleet: Fleet
    rng: random.Random
    every_s: float = 3.0
    chance: float = 0.6
    injected: Counter[str] = field(default_factory=Counter)
    problems: list[str] = field(default_factory=list)
    _broken: dict[str, float] = field(default_factory=dict)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="fault-injector", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop injecting and mend every emulator still broken."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None

    @property
    def broken_now(self) -> int:
        return len(self._broken)

    def _set(self, provider: str, spec: str) -> None:
        try:
            self.fleet.set_fault(provider, spec)
        except (httpx.HTTPError, RuntimeError, OSError) as exc:
            self.problems.append(f"{provider} {spec or 'mend'}: {exc}")

    def _run(self) -> None:
        while not self._stop.wait(self.every_s):
            now = time.monotonic()
            for provider, until in list(self._broken.items()):
                if now >= until:
                    self._set(provider, "")
                    del self._broken[provider]
            if len(self._broken) >= MAX_BROKEN or self.rng.random() >= self.chance:
                continue
            spec = self.rng.choice(FAULTS)
            self.injected[spec or "none"] += 1
            if spec:
                provider = self.rng.choice([p for p in self.fleet.emulators if p not in self._broken])
                self._set(provider, spec)
                self._broken[provider] = now + self.rng.uniform(5.0, 20.0)
        for provider in list(self._broken):
            self._set(provider, "")
        self._broken.clear()
