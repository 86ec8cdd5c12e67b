"""A vLLM emulator whose streamed chat answers are long and paced by the clock, for render benchmarks.

The emulators answer in 12–27 tokens, which at 500 tokens/s is over in 50 ms; a render benchmark needs a stream
that lasts its whole window. This process serves the real vLLM emulator (models, health, metrics) and replaces
only the streamed `/v1/chat/completions` with an answer of `--tokens` tokens at `--tokens-per-s`, in paragraphs
and short lists as chat answers come, in the OpenAI chunk format (PROTOCOLS.md). Token i is due at
start + i / rate, so a late wake-up is caught up rather than lowering the rate. `GET /_bench/stats` says how many
tokens were sent and how many streams are open.

Run: `.venv/bin/python bench/_long_answer.py --port N [--tokens-per-s 500] [--tokens 30000]`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Mount, Route

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run as a script: the repository root

from providers.emulators.faults import FaultPlan
from providers.emulators.registry import build_app
from providers.emulators.server import EmulatorServer, serve_until_interrupted
from providers.emulators.text import Pace, fake_tokens

MODEL = "meta-llama/Llama-3.1-8B-Instruct"
PARAGRAPH_TOKENS = 60


def answer_pieces(total: int) -> Iterator[str]:
    """`total` tokens: paragraphs of PARAGRAPH_TOKENS words, every fourth one followed by a three-item list."""
    sent, paragraph = 0, 0
    while sent < total:
        words = fake_tokens(f"paragraph {paragraph}", 7, PARAGRAPH_TOKENS)
        if paragraph:
            words[0] = "\n\n" + words[0]
        if paragraph % 4 == 3:
            words += [f"\n\n- {w.strip()}" if i % 5 == 0 else w
                      for i, w in enumerate(fake_tokens(f"list {paragraph}", 7, 15))]
        for word in words[: total - sent]:
            yield word
            sent += 1
        paragraph += 1


class LongAnswers:
    def __init__(self, tokens_per_s: float, tokens: int) -> None:
        self.tokens_per_s = tokens_per_s
        self.tokens = tokens
        self.sent = 0
        self.open_streams = 0
        self.started = 0

    async def chat(self, request: Request) -> Response:
        body = json.loads(await request.body())
        if not body.get("stream"):
            return JSONResponse({"error": {"message": "this bench server streams only", "type": "invalid_request"}},
                                status_code=400)
        options = body.get("stream_options")
        usage = isinstance(options, dict) and bool(options.get("include_usage"))
        return StreamingResponse(self._events(usage), media_type="text/event-stream")

    async def _events(self, include_usage: bool) -> AsyncIterator[bytes]:
        self.open_streams += 1
        self.started += 1
        ident = f"chatcmpl-bench-{self.started}"
        sent = 0
        try:
            yield _sse(ident, {"role": "assistant", "content": ""})
            started = time.perf_counter()
            for sent, piece in enumerate(answer_pieces(self.tokens), start=1):
                delay = started + (sent - 1) / self.tokens_per_s - time.perf_counter()
                if delay > 0:
                    await asyncio.sleep(delay)
                yield _sse(ident, {"content": piece})
                self.sent += 1
            yield _sse(ident, {}, "stop")
            if include_usage:
                usage = {"prompt_tokens": 10, "completion_tokens": sent, "total_tokens": 10 + sent}
                yield b"data: " + json.dumps(_chunk(ident, [], usage=usage)).encode() + b"\n\n"
            yield b"data: [DONE]\n\n"
        finally:
            self.open_streams -= 1

    async def stats(self, request: Request) -> Response:
        return JSONResponse({"tokens_sent": self.sent, "open_streams": self.open_streams,
                             "streams_started": self.started})


def _chunk(ident: str, choices: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    return {"id": ident, "object": "chat.completion.chunk", "created": 1_700_000_000, "model": MODEL,
            "choices": choices, **extra}


def _sse(ident: str, delta: dict[str, Any], finish: str | None = None) -> bytes:
    choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}
    return b"data: " + json.dumps(_chunk(ident, [choice])).encode() + b"\n\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--tokens-per-s", type=float, default=500.0)
    parser.add_argument("--tokens", type=int, default=30_000, help="tokens in each answer")
    args = parser.parse_args()
    if args.tokens_per_s <= 0 or args.tokens < 1:
        parser.error("--tokens-per-s and --tokens must be positive")
    answers = LongAnswers(args.tokens_per_s, args.tokens)
    plan = FaultPlan((), seed=0)
    app = Starlette(routes=[
        Route("/v1/chat/completions", answers.chat, methods=["POST"]),
        Route("/_bench/stats", answers.stats),
        Mount("/", app=build_app("vllm", plan=plan, pace=Pace())),
    ])
    server = EmulatorServer(app=app, plan=plan, port=args.port).start()
    print(f"long answers on {server.url}", flush=True)
    serve_until_interrupted(server)


if __name__ == "__main__":
    main()
