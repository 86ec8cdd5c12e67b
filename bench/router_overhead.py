"""Per-call overhead of routing: bare httpx vs llmdeck's router vs litellm.Router, same loopback emulator, one run.

Bare httpx and our router take turns call by call (rotating who goes first), so a busy moment on the machine costs
both alike; litellm.Router, whose overhead is in milliseconds, is timed after them. Then bare httpx and the router run
once more over an in-process transport with canned replies (no sockets): what remains between them there is the
router's own CPU time. Prints p50/p99 latency per way, the overhead over bare httpx, and how many times more overhead
LiteLLM adds. Run: `.venv/bin/python bench/router_overhead.py [--calls N]` (LiteLLM comes with
`pip install -e '.[bench]'`).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._emulator import emulator_process, percentile
from providers.adapters import build_adapter
from providers.base import AdapterOptions, ChatRequest, Message
from providers.http import make_client
from providers.router import Router
from providers.routing import Route, Target

MODEL = "gpt-4o-mini"
MESSAGES = [{"role": "user", "content": "Say hello."}]
Call = Callable[[], Awaitable[object]]


async def interleaved(calls: dict[str, Call], rounds: int, warmup: int = 20) -> dict[str, list[float]]:
    """Time every way once per round, in a rotating order, so that drift on a shared machine hits all ways alike."""
    ways = list(calls)
    for _ in range(warmup):
        for way in ways:
            await calls[way]()
    samples: dict[str, list[float]] = {way: [] for way in ways}
    for round_index in range(rounds):
        shift = round_index % len(ways)
        for way in ways[shift:] + ways[:shift]:
            started = time.perf_counter()
            await calls[way]()
            samples[way].append((time.perf_counter() - started) * 1000.0)
    return samples


def bare_calls(client: httpx.AsyncClient, url: str) -> tuple[Call, Call]:
    body = {"model": MODEL, "messages": MESSAGES, "max_tokens": 16}

    async def plain() -> object:
        response = await client.post(f"{url}/v1/chat/completions", json=body)
        return response.json()["choices"][0]["message"]["content"]

    async def streamed() -> object:
        parts = []
        async with client.stream("POST", f"{url}/v1/chat/completions", json={**body, "stream": True}) as response:
            async for line in response.aiter_lines():
                if line.startswith("data: ") and line != "data: [DONE]":
                    choices = json.loads(line[6:]).get("choices") or [{}]
                    parts.append(choices[0].get("delta", {}).get("content") or "")
        return "".join(parts)

    return plain, streamed


def router_calls(client: httpx.AsyncClient, url: str) -> tuple[Call, Call]:
    adapter = build_adapter(AdapterOptions(name="emu", base_url=url, kind="openai", api_key=lambda: "x"), client)
    router = Router({"emu": adapter}, [Route("chat", (Target("emu", MODEL),))])
    request = ChatRequest(model="", messages=(Message("user", "Say hello."),), max_tokens=16)

    async def plain() -> object:
        return (await router.complete("chat", request)).text

    async def streamed() -> object:
        return (await router.chat("chat", request)).text

    return plain, streamed


def litellm_calls(url: str) -> tuple[Call, Call] | None:
    try:
        os.environ.setdefault("LITELLM_LOG", "ERROR")
        import litellm
    except ImportError:
        return None
    litellm.telemetry = False
    router = litellm.Router(model_list=[{"model_name": "chat", "litellm_params": {
        "model": f"openai/{MODEL}", "api_base": f"{url}/v1", "api_key": "x"}}], num_retries=0)

    async def plain() -> object:
        response = await router.acompletion(model="chat", messages=MESSAGES, max_tokens=16)
        return response.choices[0].message.content

    async def streamed() -> object:
        parts = []
        async for chunk in await router.acompletion(model="chat", messages=MESSAGES, max_tokens=16, stream=True):
            parts.append(chunk.choices[0].delta.content or "" if chunk.choices else "")
        return "".join(parts)

    return plain, streamed


def canned_transport() -> httpx.MockTransport:
    """An in-process server with fixed replies (21 chunks when streamed): no sockets, no emulator, so the
    difference between bare httpx and the router is our code's CPU time alone, free of loopback noise."""
    words = ["Hello", " there", ",", " friend", "."] * 4
    chunk = {"id": "c", "object": "chat.completion.chunk", "model": MODEL}
    events = [{**chunk, "choices": [{"index": 0, "delta": {"content": word}, "finish_reason": None}]} for word in words]
    events.append({**chunk, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}],
                   "usage": {"prompt_tokens": 5, "completion_tokens": 20, "total_tokens": 25}})
    stream = b"".join(b"data: " + json.dumps(event).encode() + b"\n\n" for event in events) + b"data: [DONE]\n\n"
    whole = json.dumps({"id": "c", "object": "chat.completion", "model": MODEL, "choices": [
        {"index": 0, "message": {"role": "assistant", "content": "".join(words)}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 5, "completion_tokens": 20, "total_tokens": 25}}).encode()

    def reply(request: httpx.Request) -> httpx.Response:
        if json.loads(request.content).get("stream"):
            return httpx.Response(200, headers={"content-type": "text/event-stream"}, content=stream)
        return httpx.Response(200, headers={"content-type": "application/json"}, content=whole)

    return httpx.MockTransport(reply)


async def cpu_only(calls: int) -> dict[str, dict[str, list[float]]]:
    client = httpx.AsyncClient(transport=canned_transport())
    url = "http://canned"
    ways = {"bare httpx": bare_calls(client, url), "llmdeck router": router_calls(client, url)}
    results = {label: await interleaved({way: pair[index] for way, pair in ways.items()}, calls)
               for index, label in enumerate(("non-streaming, in-process", "streaming, in-process"))}
    await client.aclose()
    return results


def report(label: str, samples: dict[str, list[float]]) -> list[str]:
    base = percentile(samples["bare httpx"], 50)
    lines = [f"### {label}", "", "| way | p50 ms | p99 ms | overhead p50 ms |", "|---|---|---|---|"]
    for way, values in samples.items():
        p50, p99 = percentile(values, 50), percentile(values, 99)
        lines.append(f"| {way} | {p50:.3f} | {p99:.3f} | {p50 - base:+.3f} |")
    ours = percentile(samples["llmdeck router"], 50) - base
    if "litellm.Router" in samples:
        theirs = percentile(samples["litellm.Router"], 50) - base
        ratio = theirs / ours if ours > 0 else float("inf")
        lines.append("")
        lines.append(f"LiteLLM adds {theirs:.3f} ms, llmdeck {ours:.3f} ms: {ratio:.1f}× less overhead.")
    lines.append("")
    return lines


async def main(calls: int) -> None:
    with emulator_process("openai") as url:
        client = make_client()
        ways: dict[str, tuple[Call, Call]] = {"bare httpx": bare_calls(client, url),
                                              "llmdeck router": router_calls(client, url)}
        lite = litellm_calls(url)
        results: dict[str, dict[str, list[float]]] = {}
        for index, label in enumerate(("non-streaming", "streaming")):
            results[label] = await interleaved({way: pair[index] for way, pair in ways.items()}, calls)
            if lite is not None:
                # Apart: LiteLLM leaves logging tasks running after each call, which would slow whoever came next.
                results[label] |= await interleaved({"litellm.Router": lite[index]}, calls)
        await client.aclose()
    results |= await cpu_only(calls)
    print(f"# router overhead — {calls} calls per way, {platform.machine()} {platform.python_version()}, "
          f"{time.strftime('%Y-%m-%d')}\n")
    for label, samples in results.items():
        print("\n".join(report(label, samples)))
    if lite is None:
        print("litellm is not installed: `pip install -e '.[bench]'` to compare with litellm.Router")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--calls", type=int, default=300)
    asyncio.run(main(parser.parse_args().calls))
