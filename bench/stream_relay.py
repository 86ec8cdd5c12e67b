"""Streaming throughput: chunks per second through bare httpx, our SSE parser (adapter), and adapter + router.

One long streamed answer from the loopback emulator (in its own process), read three ways in one run.
Run: `.venv/bin/python bench/stream_relay.py [--tokens N] [--rounds R]`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import platform
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._emulator import emulator_process
from providers.adapters import build_adapter
from providers.base import AdapterOptions, ChatRequest, Message
from providers.http import make_client
from providers.router import Router
from providers.routing import Route, RouteTimeouts, Target

MODEL = "gpt-4o-mini"


async def main(tokens: int, rounds: int) -> None:
    with emulator_process("openai") as url:
        client = make_client()
        adapter = build_adapter(AdapterOptions(name="emu", base_url=url, kind="openai", api_key=lambda: "x"), client)
        timeouts = RouteTimeouts(ttft_s=10, idle_s=10, total_s=120)
        router = Router({"emu": adapter}, [Route("chat", (Target("emu", MODEL),), timeouts=timeouts)])
        request = ChatRequest(model=MODEL, messages=(Message("user", "Write at length."),), max_tokens=tokens)
        body = {"model": MODEL, "messages": [{"role": "user", "content": "Write at length."}],
                "max_tokens": tokens, "stream": True}

        async def bare() -> int:
            count = 0
            async with client.stream("POST", f"{url}/v1/chat/completions", json=body) as response:
                async for line in response.aiter_lines():
                    if line.startswith("data: ") and line != "data: [DONE]":
                        json.loads(line[6:])
                        count += 1
            return count

        async def parsed() -> int:
            return len([chunk async for chunk in adapter.chat_stream(request)])

        async def routed() -> int:
            return len([chunk async for chunk in router.stream("chat", request)])

        print(f"# stream relay — {tokens} tokens × {rounds} rounds, {platform.machine()} "
              f"{platform.python_version()}, {time.strftime('%Y-%m-%d')}\n")
        print("| way | chunks/s | relative to bare httpx |\n|---|---|---|")
        base = 0.0
        for label, way in (("bare httpx + json", bare), ("adapter (SSE → ChatChunk)", parsed),
                           ("adapter + router (timeouts on)", routed)):
            await way()
            started = time.perf_counter()
            chunks = sum([await way() for _ in range(rounds)])
            rate = chunks / (time.perf_counter() - started)
            base = base or rate
            print(f"| {label} | {rate:,.0f} | {rate / base:.2f} |")
        await client.aclose()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--tokens", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=5)
    options = parser.parse_args()
    asyncio.run(main(options.tokens, options.rounds))
