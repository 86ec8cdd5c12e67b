"""Keys echoed by a hostile backend leave no trace: not on stdout or stderr, not in `--json`, not in the ledger
file (nor its WAL), not in health details, not in a restart's argv. Real loopback servers, real CLI subprocesses,
the Deck in-process with the throw-away keyring; every byte written is searched for the keys and their encodings.
"""

from __future__ import annotations

import base64
import json
import os
import struct
import subprocess
import sys
import zlib
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from urllib.parse import quote

import keyring
import pytest
import yaml

from config.loader import load_config
from config.restart_argv import how_it_runs
from config.secret_registry import register_secret, scrub
from config.throwaway_keyring import use_throwaway_keyring
from console.panes.models_dialogs import confirm_restart
from providers.base import ChatRequest, Message
from providers.chat_run import ChatRun
from providers.deck import Deck
from providers.errors import ProviderError
from providers.restart import RestartPlan, RestartRefusedError, run_restart
from providers.secret_stream import SecretStreamScrubber
from tests.hostile.hostile_server import HostileServer, Request, hostile_server, http_reply, stream_head
from tests.hostile.pty_console import pty_console
from tests.waiting import HANG_S, bounded

ROOT = Path(__file__).resolve().parents[2]
LLMDECK = [sys.executable, "-m", "console.cli"]

ENV_KEY = "SECRETLABKEY9931xyz"  # the issue's own example, referenced as env:LAB_OAI_KEY
KEYRING_KEY = "KRSECRETq7Lm2Zp0w8"  # read from the throw-away keyring, sent as x-api-key
BASIC_USER, BASIC_PASSWORD = "labuser", "BASICPWz81kQ4rt"  # A1111 --api-auth, sent as HTTP Basic
TOKEN_VALUE = "TOKSECRET55vvNN3a"  # a restart-time token, never a request key
SECRETS = (ENV_KEY, KEYRING_KEY, BASIC_PASSWORD, TOKEN_VALUE)


def traces(secret: str) -> list[bytes]:
    """The secret as bytes in every form a leak could take: raw, URL-encoded, hex, and the stable middle of its
    base64 at each byte alignment (so base64 of `Bearer KEY` or `user:KEY` is caught too).

    Written independently of config.secret_registry, so the test does not grade the redactor by its own rules.
    """
    raw = secret.encode()
    found = {raw, quote(secret, safe="").encode(), raw.hex().encode(), raw.hex().upper().encode()}
    for offset in range(3):
        encoded = base64.b64encode(b"\0" * offset + raw)
        core = encoded[(8 * offset + 5) // 6: 8 * (offset + len(raw)) // 6]
        found |= {core, core.replace(b"+", b"-").replace(b"/", b"_")}
    return sorted(found)


def leaks(data: bytes, secrets: tuple[str, ...] = SECRETS) -> list[str]:
    """Which secrets (by form) appear in `data`."""
    return [f"{secret} as {form!r}" for secret in secrets for form in traces(secret) if form in data]


def leaks_under(root: Path, secrets: tuple[str, ...] = SECRETS) -> list[str]:
    """Every file under `root` (the ledger, its -wal and -shm, sidecars, anything) that holds a secret."""
    found: list[str] = []
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        found += [f"{path.relative_to(root)}: {leak}" for leak in leaks(path.read_bytes(), secrets)]
    return found


async def echo_credentials(request: Request) -> AsyncIterator[bytes]:
    """401 whose body names the revoked token and echoes every credential header it got, raw and in base64,
    the way a careless proxy or a debugging server does."""
    auth = request.headers.get("authorization", "")
    api_key = request.headers.get("x-api-key", "")
    token = auth.split(" ", 1)[-1]
    message = (f"token {token or api_key} revoked; you sent {auth!r} {api_key!r}; seen as "
               f"{base64.b64encode(auth.encode()).decode()} / {base64.b64encode(api_key.encode()).decode()} / "
               f"{base64.b64encode(token.encode()).decode()} / {quote(token or api_key, safe='')}")
    if "basic" in auth.lower():  # echo the decoded user:pass too
        message += " decoded " + base64.b64decode(token.encode()).decode("latin-1")
    yield http_reply(json.dumps({"error": message}).encode(), status=401)


async def revoked(_: Request) -> AsyncIterator[bytes]:
    """The issue's reply, word for word."""
    yield http_reply(json.dumps({"error": f"token {ENV_KEY} revoked"}).encode(), status=401)


async def models_list(_: Request) -> AsyncIterator[bytes]:
    yield http_reply(json.dumps({"object": "list", "data": [{"id": "gpt-echo", "object": "model"}]}).encode())


async def answer_echoing_the_key(request: Request) -> AsyncIterator[bytes]:
    """A 200 stream whose answer repeats the bearer token and its base64, one character per SSE event, so the key
    is split across every possible chunk boundary."""
    token = request.headers.get("authorization", "").split(" ", 1)[-1]
    answer = f"start your key is {token} or {base64.b64encode(token.encode()).decode()} end-of-answer"
    yield stream_head()
    for char in answer:
        event = {"id": "c1", "object": "chat.completion.chunk", "model": "gpt-echo",
                 "choices": [{"index": 0, "delta": {"content": char}, "finish_reason": None}]}
        yield f"data: {json.dumps(event)}\n\n".encode()
    done = {"id": "c1", "object": "chat.completion.chunk", "model": "gpt-echo",
            "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}
    yield f"data: {json.dumps(done)}\n\ndata: [DONE]\n\n".encode()


def tiny_png(text: bytes = b"") -> bytes:
    """A valid 1×1 PNG, with `text` in a tEXt chunk when given (where A1111 puts its parameters)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    header = chunk(b"IHDR", struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0))
    comment = chunk(b"tEXt", b"parameters\0" + text) if text else b""
    return b"\x89PNG\r\n\x1a\n" + header + comment + chunk(b"IDAT", zlib.compress(b"\0\xff\0\0")) + chunk(b"IEND", b"")


async def image_echoing_the_password(request: Request) -> AsyncIterator[bytes]:
    """txt2img whose info (and, when the prompt asks, the PNG's own text chunk) repeats the Basic credentials."""
    credentials = base64.b64decode(request.headers.get("authorization", "x x").split(" ", 1)[-1]).decode()
    in_png = b"leaky" in request.body
    png = tiny_png(f"auth {credentials}".encode() if in_png else b"")
    info = json.dumps({"seed": 7, "sd_model_name": "m", "comment": f"sent by {credentials}"})
    yield http_reply(json.dumps({"images": [base64.b64encode(png).decode()], "info": info}).encode())


def test_cli_image_keeps_echoed_credentials_out_of_sidecar_and_png(tmp_path: Path, isolated_home: Path) -> None:
    env = {"LAB_SD_AUTH": f"{BASIC_USER}:{BASIC_PASSWORD}"}
    with hostile_server({"POST /sdapi/v1/txt2img": image_echoing_the_password}, default=echo_credentials) as sd:
        config = _write_config(tmp_path / "config.yaml", {"providers": [
            {"name": "sd", "kind": "a1111", "base_url": sd.url, "api_key": "env:LAB_SD_AUTH"}]})
        clean = _run_cli("image", "sd", "a cube", "--out", str(isolated_home / "out" / "cube.png"), config=config,
                         env=env)
        leaky = _run_cli("image", "sd", "a leaky cube", "--out", str(isolated_home / "out" / "leaky.png"),
                         config=config, env=env)
    assert clean.returncode == 0, clean.stderr
    sidecar = json.loads((isolated_home / "out" / "cube.json").read_text())
    assert sidecar["info"]["comment"] == "sent by ***"
    assert leaky.returncode == 1 and b"not saved" in leaky.stderr and b"Traceback" not in leaky.stderr
    assert not (isolated_home / "out" / "leaky.png").exists()
    for result in (clean, leaky):
        assert not leaks(result.stdout + result.stderr)
    assert not leaks_under(isolated_home)


@pytest.fixture
def answering_server() -> Iterator[HostileServer]:
    with hostile_server({"/v1/models": models_list, "POST /v1/chat/completions": answer_echoing_the_key},
                        default=echo_credentials) as server:
        yield server


@pytest.fixture
def echo_server() -> Iterator[HostileServer]:
    with hostile_server({"/v1/models": revoked}, default=echo_credentials) as server:
        yield server


def _run_cli(*args: str, config: Path, env: dict[str, str] | None = None,
             stdin: str = "") -> subprocess.CompletedProcess[bytes]:
    full_env = {**os.environ, "LLMDECK_CONFIG": str(config), "LAB_OAI_KEY": ENV_KEY, **(env or {})}
    return subprocess.run([*LLMDECK, *args], capture_output=True, input=stdin.encode(), env=full_env, cwd=ROOT,
                          timeout=HANG_S, check=False)


def _write_config(path: Path, document: dict[str, object]) -> Path:
    path.write_text(yaml.safe_dump(document), encoding="utf-8")
    return path


def test_registry_scrubs_values_and_their_encodings_but_not_short_words() -> None:
    register_secret("REGsecret0042zz")
    register_secret("abc12")  # under 6 characters: too short to scrub without cutting ordinary words
    register_secret("opsuser:REGpass9911yy")
    text = (f"key REGsecret0042zz / {base64.b64encode(b'Bearer REGsecret0042zz').decode()} / "
            f"{base64.b64encode(b'opsuser:REGpass9911yy').decode()} / {b'REGsecret0042zz'.hex()} / "
            f"{quote('REGpass9911yy')} / abc12")
    cleaned = scrub(text)
    assert not leaks(cleaned.encode(), ("REGsecret0042zz", "REGpass9911yy"))
    assert cleaned.endswith("/ abc12")
    register_secret("lm-studio")  # a placeholder key protects nothing; scrubbing it would maim names
    assert scrub("local lm-studio/qwen") == "local lm-studio/qwen"


def test_stream_scrubber_finds_a_key_split_at_every_boundary() -> None:
    register_secret(ENV_KEY)
    text = f"a {ENV_KEY} b {base64.b64encode(ENV_KEY.encode()).decode()} S"
    for cut in range(1, len(text)):
        scrubber = SecretStreamScrubber()
        shown = scrubber.feed(text[:cut]) + scrubber.feed(text[cut:]) + scrubber.flush()
        assert shown == scrub(text) and not leaks(shown.encode()), cut
    scrubber = SecretStreamScrubber()
    assert "".join(scrubber.feed(char) for char in text) + scrubber.flush() == scrub(text)


def test_cli_chat_health_models_leave_no_echoed_key_anywhere(echo_server: HostileServer, tmp_path: Path,
                                                              isolated_home: Path) -> None:
    config = _write_config(tmp_path / "config.yaml", {"providers": [
        {"name": "oai", "kind": "openai", "base_url": echo_server.url, "api_key": "env:LAB_OAI_KEY"},
        {"name": "proxy", "kind": "vllm", "base_url": echo_server.url, "api_key": "env:LAB_OAI_KEY",
         "headers": {"x-api-key": "env:LAB_OAI_KEY"}},
    ], "routes": [{"alias": "both", "targets": ["oai/gpt-4o", "proxy/any-model"]}]})
    runs = [
        _run_cli("chat", "oai/gpt-4o", "hello", "--json", config=config),
        _run_cli("chat", "proxy/any-model", "hello", config=config),
        _run_cli("chat", "both", "hello", "--json", config=config),
        _run_cli("health", config=config),
        _run_cli("health", "--json", config=config),
        _run_cli("models", config=config),
        _run_cli("models", "--json", config=config),
    ]
    # The server did get the key (so there was something to echo), and every command ran to a clean end.
    assert any(ENV_KEY in r.headers.get("authorization", "") for r in echo_server.seen)
    assert any(r.headers.get("x-api-key") == ENV_KEY for r in echo_server.seen)
    for result in runs:
        assert result.returncode in (0, 1), result.stderr
        assert b"Traceback" not in result.stderr
        assert not leaks(result.stdout + result.stderr), (result.args, result.stdout, result.stderr)
    chat = json.loads(runs[0].stdout)
    assert chat["error"]["kind"] == "auth_failed" and "revoked" in chat["error"]["message"]
    assert chat["attempts"] and all("***" in (a["message"] or "") for a in json.loads(runs[2].stdout)["attempts"])
    assert "revoked" in runs[1].stderr.decode()
    ledger = isolated_home / "data" / "ledger.sqlite3"
    assert ledger.exists()
    assert not leaks_under(isolated_home)
    assert not leaks_under(tmp_path)


async def test_deck_with_keyring_and_basic_auth_keys_keeps_them_out_of_errors_health_and_ledger(
        tmp_path: Path) -> None:
    with hostile_server({}, default=echo_credentials) as echo_server:
        await _deck_against(echo_server, tmp_path)


async def _deck_against(echo_server: HostileServer, tmp_path: Path) -> None:
    previous = keyring.get_keyring()
    use_throwaway_keyring({"lab-anthropic": KEYRING_KEY, "lab-sd": f"{BASIC_USER}:{BASIC_PASSWORD}"})
    try:
        config = _write_config(tmp_path / "config.yaml", {"providers": [
            {"name": "claude", "kind": "anthropic", "base_url": echo_server.url, "api_key": "keyring:lab-anthropic"},
            {"name": "sd", "kind": "a1111", "base_url": echo_server.url, "api_key": "keyring:lab-sd"},
        ]})
        deck = Deck(load_config(config), tmp_path / "data")
        await deck.start(monitor=False)
        try:
            request = ChatRequest(model="", messages=(Message("user", "hi"),))
            run = deck.chat_stream("claude/claude-sonnet-4-5", request)
            with pytest.raises(ProviderError) as caught:
                await bounded(_drain(run), what="chat against the echoing server")
            health = await bounded(deck.health_all(), what="health")
            catalog = await bounded(deck.catalog(), what="catalog")
        finally:
            await deck.stop()
    finally:
        keyring.set_keyring(previous)
    assert any(r.headers.get("x-api-key") == KEYRING_KEY for r in echo_server.seen)
    assert any(r.headers.get("authorization", "").startswith("Basic ") for r in echo_server.seen)
    shown = [str(caught.value), *(a.error or "" for a in run.routed.attempts),
             *(f"{h.detail} {h.version}" for h in health.values()), *catalog.errors.values()]
    assert "revoked" in str(caught.value)
    assert health["claude"].status == "unauthorized" and health["sd"].status == "unauthorized"
    assert not leaks("\n".join(shown).encode()), shown
    assert not leaks_under(tmp_path / "data")


async def _drain(run: ChatRun) -> None:
    async with run:
        async for _ in run:
            pass


def test_config_validate_never_shows_the_value_of_a_variable_in_base_url(tmp_path: Path) -> None:
    config = _write_config(tmp_path / "config.yaml", {"providers": [
        {"name": "oai", "kind": "openai", "base_url": "$LAB_OAI_KEY", "api_key": "env:LAB_OAI_KEY"}]})
    result = _run_cli("config", "validate", str(config), config=config)
    assert result.returncode == 2
    assert b"$LAB_OAI_KEY" in result.stderr + result.stdout
    assert not leaks(result.stdout + result.stderr)


def test_restart_shows_references_and_passes_secrets_only_through_the_environment(tmp_path: Path) -> None:
    cmdline = tmp_path / "cmdline"
    # `$$` is a literal `$` in the config: the child's shell reads $LAB_TOKEN from its environment; ${LAB_BOX} is
    # expanded by llmdeck when the command starts. The shell writes its own argv, as `ps` shows it, to a file.
    argv = ["sh", "-c", f'tr "\\0" " " </proc/$$$$/cmdline >{cmdline}; test "$${{#LAB_TOKEN}}" = {len(TOKEN_VALUE)} '
                        f'&& echo token-read-from-env; echo "on ${{LAB_BOX}}"']
    config = _write_config(tmp_path / "config.yaml", {"providers": [
        {"name": "box", "kind": "vllm", "base_url": "http://127.0.0.1:9", "restart": argv}]})
    result = _run_cli("restart", "box", "--yes", config=config, env={"LAB_TOKEN": TOKEN_VALUE, "LAB_BOX": "box7"})
    assert result.returncode == 0, result.stderr
    stderr = result.stderr.decode()
    assert "${LAB_BOX}" in stderr and "box7" not in stderr  # shown as written
    assert "(no shell)" not in stderr and "runs the shell sh" in stderr
    assert b"token-read-from-env" in result.stdout and b"on box7" in result.stdout  # expanded when it ran
    seen_by_ps = cmdline.read_bytes()
    assert b"${#LAB_TOKEN}" in seen_by_ps and not leaks(seen_by_ps)  # the reference, never the value


def test_restart_argument_naming_a_secret_is_refused_at_load_without_its_value(tmp_path: Path) -> None:
    config = _write_config(tmp_path / "config.yaml", {"providers": [
        {"name": "box", "kind": "vllm", "base_url": "http://127.0.0.1:9",
         "restart": ["curl", "-H", "Authorization: Bearer ${LAB_TOKEN}", "http://box2/restart"]}]})
    result = _run_cli("config", "validate", str(config), config=config, env={"LAB_TOKEN": TOKEN_VALUE})
    assert result.returncode == 2
    assert b"$LAB_TOKEN holds a secret" in result.stderr and b"sh, -c" in result.stderr
    assert not leaks(result.stdout + result.stderr)


def test_restart_refuses_an_argument_that_expands_to_a_known_key(tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    config = _write_config(tmp_path / "config.yaml", {"providers": [
        {"name": "oai", "kind": "openai", "base_url": "http://127.0.0.1:9", "api_key": "env:LAB_OAI_KEY"},
        {"name": "box", "kind": "vllm", "base_url": "http://127.0.0.1:9",
         "restart": ["touch", str(marker), "${LAB_ALIAS}"]}]})
    result = _run_cli("restart", "box", "--yes", config=config, env={"LAB_ALIAS": ENV_KEY})
    assert result.returncode == 1
    assert b"would carry a secret" in result.stderr and b"Traceback" not in result.stderr
    assert not marker.exists()
    assert not leaks(result.stdout + result.stderr)


async def test_restart_plan_and_dialog_say_which_shell_reads_the_command(monkeypatch: pytest.MonkeyPatch) -> None:
    register_secret(TOKEN_VALUE)
    written = ("/bin/bash", "-c", "systemctl restart vllm --token $$LAB_TOKEN")
    dialog = confirm_restart(RestartPlan("box", written))
    assert dialog.call == "/bin/bash -c 'systemctl restart vllm --token $$LAB_TOKEN'"
    assert "runs the shell bash" in dialog.impact and "no shell" not in dialog.impact
    assert how_it_runs(("env", "-i", "A=1", "zsh", "-c", "x")).startswith("runs the shell zsh")
    assert how_it_runs(("ssh", "box2", "systemctl", "restart", "vllm")).startswith("over ssh")
    assert how_it_runs((sys.executable, "-c", "pass")) == "no shell"
    monkeypatch.setenv("LAB_TOKEN_COPY", TOKEN_VALUE)  # a neutral name, but the value is a known secret
    with pytest.raises(RestartRefusedError) as caught:
        await run_restart(RestartPlan("box", ("echo", "${LAB_TOKEN_COPY}")))
    assert "would carry a secret" in str(caught.value) and TOKEN_VALUE not in str(caught.value)


def test_cli_chat_answer_echoing_the_key_shows_and_keeps_it_scrubbed(answering_server: HostileServer,
                                                                       tmp_path: Path, isolated_home: Path) -> None:
    config = _write_config(tmp_path / "config.yaml", {"providers": [
        {"name": "oai", "kind": "openai", "base_url": answering_server.url, "api_key": "env:LAB_OAI_KEY"}]})
    streamed = _run_cli("chat", "oai/gpt-echo", "hi", config=config)
    as_json = _run_cli("chat", "oai/gpt-echo", "hi", "--json", config=config)
    for result in (streamed, as_json):
        assert result.returncode == 0, result.stderr
        assert b"end-of-answer" in result.stdout and b"start your key is ***" in result.stdout
        assert not leaks(result.stdout + result.stderr)
    assert json.loads(as_json.stdout)["text"].startswith("start your key is *** or ")
    assert not leaks_under(isolated_home)


def test_console_chat_and_health_never_draw_an_echoed_key(answering_server: HostileServer, tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LAB_OAI_KEY", ENV_KEY)
    home = tmp_path / "home"
    with hostile_server({}, default=echo_credentials) as refusing:
        config = _write_config(tmp_path / "config.yaml", {"providers": [
            {"name": "oai", "kind": "openai", "base_url": answering_server.url, "api_key": "env:LAB_OAI_KEY"},
            {"name": "gate", "kind": "vllm", "base_url": refusing.url, "api_key": "env:LAB_OAI_KEY"}],
            "routes": [{"alias": "talk", "targets": ["oai/gpt-echo"]}]})
        with pty_console(["--config", str(config)], home) as console:
            console.wait_for("no key")  # the Health pane; the refusing proxy's echoed reply is its last error
            console.press("\x1b[B")  # select it: the status line spells out that error
            console.wait_for("revoked")
            console.press("5")
            console.wait_for("enter send")
            console.press(*"hi", "enter")  # to the route `talk`, the first alias
            console.wait_for("end-of-answer")
            console.wait_for("start your key is ***")
            assert any(ENV_KEY in r.headers.get("authorization", "") for r in refusing.seen)
            console.press("ctrl+q")
            assert console.wait_exit() == 0
            assert not leaks(bytes(console.raw))
    assert not leaks_under(home)


async def test_an_answer_left_mid_key_is_kept_exactly_as_shown(answering_server: HostileServer, tmp_path: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LAB_OAI_KEY", ENV_KEY)
    config = _write_config(tmp_path / "config.yaml", {"providers": [
        {"name": "oai", "kind": "openai", "base_url": answering_server.url, "api_key": "env:LAB_OAI_KEY"}]})
    deck = Deck(load_config(config), tmp_path / "data")
    await deck.start(monitor=False)
    try:
        run = deck.chat_stream("oai/gpt-echo", ChatRequest(model="", messages=(Message("user", "hi"),)))
        shown = ""

        async def read_until_the_key_begins() -> None:
            nonlocal shown
            async with run:
                async for chunk in run:
                    if shown.endswith("key is ") and not chunk.text:  # its first character is held back
                        break
                    shown += chunk.text

        await bounded(read_until_the_key_begins(), what="the answer up to the key")
    finally:
        await deck.stop()
    assert shown.endswith("your key is ")
    assert run.text == shown  # what the ledger keeps for a cancelled answer is what the screen showed
    assert run.cancelled
