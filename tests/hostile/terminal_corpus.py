"""Hostile strings for the terminal and an Ollama-shaped server that puts them everywhere a backend's words go:
model names, the version, the loaded models, streamed chat text (cut at awkward places) and a 502 HTML body."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path

import yaml

from tests.hostile.hostile_server import Reply, Request, http_reply, stream_head

ESCAPES = "A\x1b]52;c;cm0gLXJmIH4K\x1b\\B\x1b]0;PWNED\x1b\\C\x1b[?1049lD"
"""Clipboard write (OSC 52, ST-terminated), window title (OSC 0) and leaving the alternate screen."""
OSC8_LINK = "\x1b]8;;http://evil.example\x1b\\click\x1b]8;;\x1b\\"
CLEAR = "\x1b[2J"
C1_CLEAR = "\x9b2J"
RLO = "\u202e"
BEL = "\x07"
MARKUP = ("[/x]", "[link=http://evil.example]gpt-4o[/link]", "[bold red]x")

REPLY = (f"start {ESCAPES} {OSC8_LINK} {CLEAR}{C1_CLEAR} rtl{RLO}olleh {BEL}bell "
         f"{MARKUP[0]} {MARKUP[1]} {MARKUP[2]} end-of-answer")
"""What the hostile model says, streamed a few characters per NDJSON line so sequences are cut across chunks."""

MODEL_NAMES = (*MARKUP, "evil\x1b]0;PWNED\x1b\\name", "clip\x1b]52;c;cm0g\x07board", f"rtl{RLO}abc",
               f"c1{C1_CLEAR}csi", f"alt{CLEAR}\x1b[?1049lscreen")
VERSION = "0.5\x1b]0;PWNED\x1b\\[/x]"
SHOW = {"parameters": "stop [/x]\x1b]0;PWNED\x1b\\", "template": "{{ .Prompt }}\x1b[?1049l",
        "modelfile": f"FROM evil\x1b]52;c;cm0g\x07\nLICENSE {RLO}TIM", "details": {"family": "[bold red]fam\x1b[2J"}}
"""What `/api/show` says about every model: the details screen's long texts."""
HTML_502 = (b"<html><head><title>502 Bad Gateway</title></head><body>\x1b]0;PWNED\x1b\\\x1b[2J"
            b"<h1>[/x] upstream \x1b]52;c;cm0gLXJmIH4K\x07down</h1></body></html>")

FORBIDDEN_IN_PTY = (b"]52;", b"]0;PWNED", b"]8;;http://evil", b"?1049l", b"\xc2\x9b", b"\xe2\x80\xae",
                    b"Traceback", b"MarkupError")
"""Pieces of the corpus that must never reach the terminal in the console (Textual writes its own ESC bytes, so
there the test looks for what the hostile sequences carry)."""
FORBIDDEN_IN_PIPE = (b"\x1b", b"\x07", b"\xc2\x9b", b"\xc2\x9d", b"\xe2\x80\xae", b"Traceback", b"MarkupError")
"""The CLI writing to a pipe writes no escape byte at all."""


def _json(document: object, status: int = 200) -> Reply:
    body = json.dumps(document).encode()

    async def send(_: Request) -> AsyncIterator[bytes]:
        yield http_reply(body, status=status)
    return send


async def _chat(_: Request) -> AsyncIterator[bytes]:
    yield stream_head(content_type="application/x-ndjson")
    for start in range(0, len(REPLY), 3):
        line = {"model": "m", "message": {"role": "assistant", "content": REPLY[start:start + 3]}, "done": False}
        yield json.dumps(line).encode() + b"\n"
    yield json.dumps({"model": "m", "message": {"role": "assistant", "content": ""}, "done": True,
                      "done_reason": "stop", "prompt_eval_count": 3, "eval_count": 40}).encode() + b"\n"


async def _bad_gateway(_: Request) -> AsyncIterator[bytes]:
    yield http_reply(HTML_502, status=502, content_type="text/html")


def hostile_ollama_routes() -> dict[str, Reply]:
    """An Ollama whose every word is hostile."""
    return {
        "GET /api/version": _json({"version": VERSION}),
        "GET /api/ps": _json({"models": [{"name": name, "size": 1, "size_vram": 1} for name in MODEL_NAMES[:3]]}),
        "GET /api/tags": _json({"models": [{"name": name, "size": 1} for name in MODEL_NAMES]}),
        "POST /api/chat": _chat,
        "POST /api/show": _json(SHOW),
    }


def bad_gateway_routes() -> dict[str, Reply]:
    """An Ollama behind a proxy that answers 502 with an HTML page full of escapes."""
    return {"GET /api/version": _bad_gateway, "GET /api/tags": _bad_gateway, "GET /api/ps": _bad_gateway,
            "POST /api/chat": _bad_gateway}


def write_config(path: Path, evil_url: str, gateway_url: str | None = None) -> Path:
    """`evil` (the hostile Ollama), optionally `gateway` (the 502), and an alias `talk` to evil's first model."""
    providers = [{"name": "evil", "kind": "ollama", "base_url": evil_url}]
    if gateway_url is not None:
        providers.append({"name": "gateway", "kind": "ollama", "base_url": gateway_url})
    config = {"providers": providers,
              "routes": [{"alias": "talk", "targets": ["evil/m"]},
                         {"alias": "marked", "targets": ["evil/[/x]", "evil/[bold red]x"]}]}
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    return path
