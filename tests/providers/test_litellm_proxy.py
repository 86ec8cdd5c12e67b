"""A stock LiteLLM proxy started on the config `llmdeck export litellm` writes: each alias is served, the alias
whose first target fails falls back to the next one exactly as llmdeck's own route does, and no key is in the file.

The proxy comes from .venv-litellm, which `make test` builds (litellm[proxy] pins starlette and rich versions that
clash with ours, so it never enters the project's venv); LLMDECK_LITELLM_PROXY points at another `litellm`."""

from __future__ import annotations

import os
import secrets
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from contextlib import suppress
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import keyring
import pytest
import yaml
from starlette.types import ASGIApp, Receive, Scope, Send

from config.loader import load_config
from config.secrets import SERVICE
from config.throwaway_keyring import use_throwaway_keyring
from providers.base import ChatRequest, Message
from providers.deck import Deck
from providers.emulators.faults import FaultPlan, parse_faults
from providers.emulators.registry import build_app
from providers.emulators.server import EmulatorServer, stop_all
from providers.emulators.text import Pace
from tests.waiting import HANG_S, wait_for_condition_sync

ROOT = Path(__file__).resolve().parents[2]
PROXY = Path(os.environ.get("LLMDECK_LITELLM_PROXY") or ROOT / ".venv-litellm" / "bin" / "litellm")
PROXY_START_S = 2 * HANG_S
"""Bounds a hang only: the proxy imports for ~15 s on an idle machine, longer beside a parallel test run."""

MASTER_KEY = f"sk-test-{secrets.token_hex(16)}"
TIRED_BOX_KEY = f"tired-{secrets.token_hex(12)}"
GPU_BOX_KEY = f"gpu-{secrets.token_hex(12)}"
VLLM_MODEL = "meta-llama/Llama-3.1-8B-Instruct"
OLLAMA_MODEL = "llama3.2:1b"
PROMPT = "Say hello to the gateway."
CHAT_PATHS = frozenset({"/v1/chat/completions", "/api/chat"})

needs_proxy = pytest.mark.skipif(not PROXY.exists(), reason=f"no LiteLLM proxy at {PROXY}: `make test` installs "
                                 "litellm[proxy] into .venv-litellm, or set LLMDECK_LITELLM_PROXY to a litellm")


@dataclass(frozen=True, slots=True)
class Call:
    """One HTTP request a backend received."""

    provider: str
    path: str
    authorization: str


@dataclass
class Backends:
    """The emulators behind the routes, all writing to one log, so the order a gateway tried them is kept."""

    servers: dict[str, EmulatorServer] = field(default_factory=dict)
    calls: list[Call] = field(default_factory=list)

    def chats_since(self, start: int) -> list[Call]:
        return [call for call in self.calls[start:] if call.path in CHAT_PATHS]


def _recorded(provider: str, app: ASGIApp, calls: list[Call]) -> ASGIApp:
    async def record(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            headers = dict(scope["headers"])
            calls.append(Call(provider, scope["path"], headers.get(b"authorization", b"").decode("latin-1")))
        await app(scope, receive, send)

    return record


def _tried_in_order(calls: list[Call]) -> list[str]:
    """The providers in the order they were first tried (retries of one provider count once)."""
    return list(dict.fromkeys(call.provider for call in calls))


@pytest.fixture
def backends() -> Iterator[Backends]:
    """tired-box, a vLLM that answers 503 every time; gpu-box, a healthy vLLM; ollama, a healthy Ollama."""
    running = Backends()
    for provider, kind, faults in (("tired-box", "vllm", "503"), ("gpu-box", "vllm", ""), ("ollama", "ollama", "")):
        plan = FaultPlan(parse_faults(faults))
        app = _recorded(provider, build_app(kind, plan=plan, pace=Pace()), running.calls)
        running.servers[provider] = EmulatorServer(app=app, plan=plan).start()
    yield running
    stop_all(running.servers.values())


@pytest.fixture
def deck_config(backends: Backends, tmp_path: Path) -> Path:
    """`chat`: the failing vLLM first, the Ollama second; `big`: the healthy vLLM alone. One key is an env:
    reference, the other a keyring: one, the two ways llmdeck keeps keys."""
    url = {name: server.url for name, server in backends.servers.items()}
    document = {
        "providers": [
            {"name": "tired-box", "kind": "vllm", "base_url": url["tired-box"], "api_key": "env:TIRED_BOX_KEY"},
            {"name": "gpu-box", "kind": "vllm", "base_url": url["gpu-box"], "api_key": "keyring:gpu-box"},
            {"name": "ollama", "kind": "ollama", "base_url": url["ollama"]},
        ],
        "routes": [
            {"alias": "chat", "targets": [f"tired-box/{VLLM_MODEL}", f"ollama/{OLLAMA_MODEL}"]},
            {"alias": "big", "targets": [f"gpu-box/{VLLM_MODEL}"]},
        ],
    }
    path = tmp_path / "llmdeck.yaml"
    path.write_text(yaml.safe_dump(document), encoding="utf-8")
    return path


@pytest.fixture
def held_keys(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The two provider keys where llmdeck looks for them: TIRED_BOX_KEY in the environment, gpu-box in a keyring
    (a throw-away one: the user's is never touched)."""
    monkeypatch.setenv("TIRED_BOX_KEY", TIRED_BOX_KEY)
    previous = keyring.get_keyring()
    use_throwaway_keyring({"gpu-box": GPU_BOX_KEY})
    yield
    keyring.set_keyring(previous)


@pytest.fixture
def exported(deck_config: Path, held_keys: None, tmp_path: Path) -> Path:
    """The proxy config, written by the real CLI in a process of its own (which sees TIRED_BOX_KEY's value)."""
    del held_keys
    out = tmp_path / "litellm.yaml"
    result = subprocess.run([sys.executable, "-m", "console.cli", "export", "litellm", "--config", str(deck_config),
                             "--out", str(out)], capture_output=True, text=True, stdin=subprocess.DEVNULL,
                            env=dict(os.environ), cwd=ROOT, timeout=HANG_S, check=False)
    assert result.returncode == 0, result.stderr
    return out


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _proxy_env() -> dict[str, str]:
    """This test's environment (its throw-away HOME) plus the keys the exported header names, the keyring-held one
    read back from the keyring as the header says; and LiteLLM's own switches for a quick offline start."""
    env = {name: value for name, value in os.environ.items()
           if name not in ("DATABASE_URL", "PYTHONPATH") and not name.lower().endswith("_proxy")}
    env.update({
        "LITELLM_MASTER_KEY": MASTER_KEY,
        "TIRED_BOX_KEY": os.environ["TIRED_BOX_KEY"],
        "GPU_BOX": keyring.get_password(SERVICE, "gpu-box") or "",
        # Bundled copies instead of downloads at start-up (each would wait on the network, then fall back anyway).
        "LITELLM_LOCAL_MODEL_COST_MAP": "True", "LITELLM_LOCAL_ANTHROPIC_BETA_HEADERS": "True",
        "LITELLM_LOCAL_BLOG_POSTS": "True", "LITELLM_LOCAL_POLICY_TEMPLATES": "True",
        "LITELLM_LOCAL_AUTOROUTER_PRESETS": "True",
        # LiteLLM counts a Llama's tokens with its Hugging Face tokenizer: offline, it goes straight to tiktoken.
        "HF_HUB_OFFLINE": "1",
    })
    return env


def _stop(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM the proxy's process group, SIGKILL whatever is left after a bounded wait."""
    with suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    with suppress(subprocess.TimeoutExpired):  # a graceful stop takes a few seconds; past that, no more waiting
        process.wait(timeout=HANG_S / 4)
    with suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait(timeout=HANG_S)


def _live(process: subprocess.Popen[bytes], url: str, log: Path) -> bool:
    if process.poll() is not None:
        raise AssertionError(f"the LiteLLM proxy exited with {process.returncode}:\n"
                             f"{log.read_text(errors='replace')[-4000:]}")
    try:
        return httpx.get(f"{url}/health/liveliness", timeout=5, trust_env=False).status_code == 200
    except httpx.TransportError:
        return False


@pytest.fixture
def proxy(exported: Path, tmp_path: Path) -> Iterator[str]:
    """A stock LiteLLM proxy on a free loopback port serving the exported config; its base URL. The process group
    is stopped at teardown however the test ended."""
    url = f"http://127.0.0.1:{_free_port()}"
    log = tmp_path / "litellm.log"
    with log.open("wb") as out:  # cwd: a .env in the checkout must not reach the proxy
        process = subprocess.Popen([str(PROXY), "--config", str(exported), "--host", "127.0.0.1", "--port",
                                    url.rsplit(":", 1)[1]], stdin=subprocess.DEVNULL, stdout=out,
                                   stderr=subprocess.STDOUT, env=_proxy_env(), cwd=tmp_path, start_new_session=True)
    try:
        wait_for_condition_sync(lambda: _live(process, url, log), what="the LiteLLM proxy's /health/liveliness",
                                timeout_s=PROXY_START_S)
        yield url
    finally:
        _stop(process)


async def _ask_proxy(url: str, alias: str) -> str:
    async with httpx.AsyncClient(timeout=HANG_S, trust_env=False) as client:
        reply = await client.post(f"{url}/v1/chat/completions", headers={"Authorization": f"Bearer {MASTER_KEY}"},
                                  json={"model": alias, "messages": [{"role": "user", "content": PROMPT}]})
    assert reply.status_code == 200, reply.text
    text: str = reply.json()["choices"][0]["message"]["content"]
    return text


def test_the_export_names_every_variable_and_holds_no_key(exported: Path) -> None:
    text = exported.read_text(encoding="utf-8")
    for secret in (MASTER_KEY, TIRED_BOX_KEY, GPU_BOX_KEY):
        assert secret not in text
    header = [line for line in text.splitlines() if line.startswith("#")]
    for variable in ("LITELLM_MASTER_KEY", "TIRED_BOX_KEY", "GPU_BOX"):
        assert any(line.split()[1:2] == [variable] for line in header), f"{variable} is not named in {header}"
    assert f"keyring get {SERVICE} gpu-box" in text
    document = yaml.safe_load(text)
    assert document["general_settings"] == {"master_key": "os.environ/LITELLM_MASTER_KEY"}
    keys = [entry["litellm_params"].get("api_key") for entry in document["model_list"]]
    assert keys == ["os.environ/TIRED_BOX_KEY", None, "os.environ/GPU_BOX"]


@pytest.mark.litellm_proxy
@needs_proxy
async def test_a_stock_proxy_serves_each_alias_and_falls_back_as_the_route_does(
        proxy: str, backends: Backends, deck_config: Path, tmp_path: Path) -> None:
    start = len(backends.calls)
    async with httpx.AsyncClient(timeout=HANG_S, trust_env=False) as client:
        anonymous = await client.post(f"{proxy}/v1/chat/completions",
                                      json={"model": "big", "messages": [{"role": "user", "content": PROMPT}]})
    # Refused for want of the master key: 401, or 500 where the proxy's error handler needs prisma, which
    # litellm[proxy] does not install. Either way no backend hears of it.
    assert anonymous.status_code in (401, 500) and backends.chats_since(start) == []

    start = len(backends.calls)
    big_text = await _ask_proxy(proxy, "big")
    big_calls = backends.chats_since(start)
    assert [(c.provider, c.authorization) for c in big_calls] == [("gpu-box", f"Bearer {GPU_BOX_KEY}")]

    start = len(backends.calls)
    chat_text = await _ask_proxy(proxy, "chat")
    chat_calls = backends.chats_since(start)
    assert _tried_in_order(chat_calls) == ["tired-box", "ollama"]
    assert {c.authorization for c in chat_calls if c.provider == "tired-box"} == {f"Bearer {TIRED_BOX_KEY}"}
    assert [c.provider for c in chat_calls][-1] == "ollama", "the answer came from the second target"

    # llmdeck's own route over the same backends and the same keys: the same hops, in the same order, and the
    # same backend answering with the same text.
    request = ChatRequest(model="", messages=(Message("user", PROMPT),))
    deck = Deck(load_config(deck_config), tmp_path / "data")
    await deck.start(monitor=False)
    try:
        assert [(hop.provider, hop.model) for hop in deck.explain("chat")] == [
            ("tired-box", VLLM_MODEL), ("ollama", OLLAMA_MODEL)]
        start = len(backends.calls)
        routed_chat = await deck.chat("chat", request)
        assert _tried_in_order(backends.chats_since(start)) == _tried_in_order(chat_calls)
        routed_big = await deck.chat("big", request)
    finally:
        await deck.stop()
    # Hops, not tries: how often a target answering 503 is tried again before the next is each router's own
    # policy (both try it twice today, but LiteLLM's SDK retries and cooldowns are not llmdeck's contract).
    hops = [a.provider for a in routed_chat.routed.attempts if a.outcome != "skipped"]
    assert list(dict.fromkeys(hops)) == _tried_in_order(chat_calls)
    assert routed_chat.routed.served_by is not None
    assert (routed_chat.routed.served_by.provider, routed_chat.routed.served_by.model) == ("ollama", OLLAMA_MODEL)
    assert routed_chat.text == chat_text
    assert routed_big.routed.served_by is not None and routed_big.routed.served_by.provider == "gpu-box"
    assert routed_big.text == big_text
