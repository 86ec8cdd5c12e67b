"""Numbers in a reply are checked: absurd token counts, negative or huge usage, absurdly nested JSON and an
adapter's stray exception all become a ProtocolError, the ledger row says so, and no budget moves.

The Deck runs in-process against hostile loopback servers with a real SQLite ledger; one case runs the CLI.
"""

from __future__ import annotations

import json
import os
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from config.schema import DeckConfig
from providers.adapters.ollama import OllamaAdapter
from providers.adapters.openai_parse import openrouter_prices
from providers.base import ChatChunk, ChatRequest, Message, Usage
from providers.deck import Deck
from providers.errors import ProtocolError, ProviderError
from providers.reply_numbers import MAX_TOKENS
from tests.hostile.hostile_server import canned, hostile_server, http_reply, stream_head
from tests.hostile.measured_cli import run_cli, write_config
from tests.waiting import bounded

KEY_ENV = "HOSTILE_NUMBERS_KEY"
HUGE = int("9" * 300)
DEEP = "[" * 100_000 + "]" * 100_000


def _request() -> ChatRequest:
    return ChatRequest(model="m", messages=(Message("user", "hi"),), max_tokens=16)


def _sse(event: str, payload: Any) -> bytes:
    data = payload if isinstance(payload, str) else json.dumps(payload)
    return f"event: {event}\ndata: {data}\n\n".encode()


def _anthropic_stream(input_usage: Any, output_tokens: Any) -> bytes:
    start = {"type": "message_start", "message": {"id": "m1", "type": "message", "role": "assistant",
                                                  "model": "claude-x", "content": [],
                                                  "usage": {"input_tokens": input_usage, "output_tokens": 1}}}
    text = {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "Hi"}}
    # json.dumps writes a 300-digit int as digits, exactly what a hostile server sends.
    delta = {"type": "message_delta", "delta": {"stop_reason": "end_turn"}, "usage": {"output_tokens": output_tokens}}
    return (stream_head() + _sse("message_start", start) + _sse("content_block_delta", text)
            + _sse("message_delta", delta) + _sse("message_stop", {"type": "message_stop"}))


def _ollama_final(**figures: Any) -> bytes:
    lines = [{"model": "m", "message": {"role": "assistant", "content": "Hi"}, "done": False},
             {"model": "m", "message": {"role": "assistant", "content": ""}, "done": True, "done_reason": "stop",
              **figures}]
    return stream_head(content_type="application/x-ndjson") + b"".join(json.dumps(x).encode() + b"\n" for x in lines)


def _openai_usage(prompt: Any, completion: Any) -> bytes:
    chunks = [{"choices": [{"index": 0, "delta": {"content": "Hi"}}]},
              {"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}],
               "usage": {"prompt_tokens": prompt, "completion_tokens": completion}}]
    return stream_head() + b"".join(b"data: " + json.dumps(c).encode() + b"\n\n" for c in chunks) + b"data: [DONE]\n\n"


def _config(kind: str, url: str, **extra: Any) -> DeckConfig:
    provider: dict[str, Any] = {"name": "box", "kind": kind, "base_url": url}
    if kind in ("anthropic", "openai"):
        provider["api_key"] = f"env:{KEY_ENV}"
    return DeckConfig.model_validate({"providers": [provider], **extra})


def _rows(data_dir: Path) -> list[tuple[Any, ...]]:
    with sqlite3.connect(data_dir / "ledger.sqlite3") as db:
        return db.execute("SELECT status, error_kind, error_message, prompt_tokens, completion_tokens, cost_usd "
                          "FROM requests ORDER BY id").fetchall()


async def _chat(config: DeckConfig, data_dir: Path, target: str = "box/m") -> tuple[ProviderError, Deck]:
    deck = Deck(config, data_dir)
    await deck.start(monitor=False)
    try:
        with pytest.raises(ProviderError) as caught:
            await bounded(deck.chat(target, _request()))
    finally:
        await deck.stop()
    return caught.value, deck


@pytest.fixture(autouse=True)
def _key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(KEY_ENV, "hostile-numbers-test-key-0001")


def _root_message(error: ProviderError) -> str:
    return str(error) + " " + str(getattr(error, "cause", "") or "")


@pytest.mark.parametrize(("input_usage", "output_tokens", "says"), [
    (5, HUGE, "usage.output_tokens is a number of about 300 digits"),
    (-1e12, 3, "usage.input_tokens is -1000000000000.0, outside"),
], ids=["output-300-digits", "input-minus-1e12"])
async def test_anthropic_usage_out_of_range_is_a_protocol_error_with_its_row(
        input_usage: Any, output_tokens: Any, says: str, tmp_path: Path) -> None:
    reply = _anthropic_stream(input_usage, output_tokens)
    with hostile_server({"POST /v1/messages": canned(reply)}) as server:
        error, deck = await _chat(_config("anthropic", server.url), tmp_path)
    assert says in _root_message(error)
    [(status, kind, message, prompt, completion, cost)] = _rows(tmp_path)
    assert status in ("error", "cut") and kind is not None and says in message
    assert (prompt, completion, cost) == (0, 0, 0.0)
    assert deck.spend.day.get("box", 0.0) == 0.0


@pytest.mark.parametrize("eval_count", [1e20, 10**20, -5, float("inf")])
async def test_ollama_eval_count_out_of_range_never_reaches_sqlite(eval_count: Any, tmp_path: Path) -> None:
    # json.dumps writes inf as Infinity, which Python's json (and Ollama's clients) accept.
    with hostile_server({"POST /api/chat": canned(_ollama_final(eval_count=eval_count, prompt_eval_count=3))}) as srv:
        error, _ = await _chat(_config("ollama", srv.url), tmp_path)
    assert "eval_count" in _root_message(error)
    [(status, kind, message, _prompt, completion, _cost)] = _rows(tmp_path)
    assert status == "cut" and kind == "stream_broken" and "eval_count" in message and completion == 0


async def test_usage_of_two_to_the_53_cannot_spend_a_budget(tmp_path: Path) -> None:
    budgets = {"budgets": [{"provider": "box", "usd_per_day": 5.0}]}
    with hostile_server({"POST /v1/chat/completions": canned(_openai_usage(2**53, 2**53))}) as server:
        error, deck = await _chat(_config("openai", server.url, **budgets), tmp_path, "box/gpt-4o")
    assert f"outside 0..{MAX_TOKENS}" in _root_message(error)
    assert deck.spend.day.get("box", 0.0) == 0.0 and deck.signals.over_budget("box") is None
    [(status, _kind, _message, _prompt, _completion, cost)] = _rows(tmp_path)
    assert status == "cut" and cost == 0.0


def test_live_prices_that_are_negative_or_absurd_stay_unpriced() -> None:
    listing = {"data": [{"id": "a", "pricing": {"prompt": "-0.5", "completion": "0.000001"}},
                        {"id": "b", "pricing": {"prompt": "1e300", "completion": "1"}},
                        {"id": "c", "pricing": {"prompt": "0.000003", "completion": "0.000015"}}]}
    assert openrouter_prices(listing) == {"c": (3e-6, 1.5e-5)}


def test_usage_refuses_counts_outside_the_range() -> None:
    for bad in (-1, MAX_TOKENS + 1, HUGE):
        with pytest.raises(ProtocolError):
            Usage(bad, 0)
    assert Usage(MAX_TOKENS, 0).total_tokens == MAX_TOKENS


# --- nesting and stray exceptions -----------------------------------------------------------------------------


async def test_json_nested_100k_deep_is_a_protocol_error_for_ollama(tmp_path: Path) -> None:
    reply = stream_head(content_type="application/x-ndjson") + DEEP.encode() + b"\n"
    with hostile_server({"POST /api/chat": canned(reply)}) as server:
        error, _ = await _chat(_config("ollama", server.url), tmp_path)
    assert "malformed NDJSON line" in _root_message(error)
    [(status, kind, *_rest)] = _rows(tmp_path)
    assert status == "error" and kind == "protocol_error"


async def test_json_nested_100k_deep_is_a_protocol_error_for_anthropic(tmp_path: Path) -> None:
    reply = stream_head() + _sse("message_start", DEEP)
    with hostile_server({"POST /v1/messages": canned(reply)}) as server:
        error, _ = await _chat(_config("anthropic", server.url), tmp_path)
    assert "malformed JSON" in _root_message(error)
    [(status, kind, *_rest)] = _rows(tmp_path)
    assert status == "error" and kind == "protocol_error"


async def test_json_nested_100k_deep_in_a_listing_is_a_protocol_error(tmp_path: Path) -> None:
    with hostile_server({}, default=canned(http_reply(DEEP.encode()))) as server:
        deck = Deck(_config("ollama", server.url), tmp_path)
        catalog = await bounded(deck.catalog())
        await deck.client.aclose()
    assert "malformed JSON" in catalog.errors["box"]


class _BuggyOllama(OllamaAdapter):
    """A real adapter with a bug after its first chunk: what a KeyError deep in a parser looks like."""

    def chat_stream(self, request: ChatRequest) -> AsyncIterator[ChatChunk]:
        return self._buggy(super().chat_stream(request))

    async def _buggy(self, stream: AsyncIterator[ChatChunk]) -> AsyncIterator[ChatChunk]:
        async for chunk in stream:
            yield chunk
            if chunk.text:
                raise KeyError("choices")


async def test_an_adapters_stray_exception_is_a_protocol_error_and_never_ok(tmp_path: Path) -> None:
    with hostile_server({"POST /api/chat": canned(_ollama_final(eval_count=1, prompt_eval_count=1))}) as server:
        config = _config("ollama", server.url)
        deck = Deck(config, tmp_path)
        deck.adapters["box"] = _BuggyOllama(deck.adapters["box"].options, deck.client)
        await deck.start(monitor=False)
        try:
            with pytest.raises(ProviderError) as caught:
                await bounded(deck.chat("box/m", _request()))
        finally:
            await deck.stop()
    assert "KeyError: 'choices'" in _root_message(caught.value)
    [(status, kind, message, *_rest)] = _rows(tmp_path)
    assert status == "cut" and kind == "stream_broken" and "KeyError" in message


def test_cli_chat_with_a_300_digit_count_is_one_line_and_a_row(tmp_path: Path) -> None:
    reply = _anthropic_stream(5, HUGE)
    with hostile_server({"POST /v1/messages": canned(reply)}) as server:
        config = {"providers": [{"name": "box", "kind": "anthropic", "base_url": server.url,
                                 "api_key": f"env:{KEY_ENV}"}]}
        run = run_cli(write_config(tmp_path, config), "chat", "box/claude-x", "hi")
    assert run.returncode == 1 and "Traceback" not in run.stderr, run.stderr[-2000:]
    assert "OverflowError" not in run.stderr and "300 digits" in run.stderr
    data_dir = Path(os.environ["LLMDECK_DATA_DIR"])
    [(status, kind, *_rest)] = _rows(data_dir)
    assert status == "cut" and kind == "stream_broken"
