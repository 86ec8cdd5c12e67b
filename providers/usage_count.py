"""Usage for an answer whose server sent none (llama-cpp-python's stream never does): the server's tokenizer
when it has one, else an estimate; either way the result is marked `estimated`."""

from __future__ import annotations

import asyncio

from providers.base import Adapter, ChatRequest, Usage
from providers.reply_numbers import MAX_TOKENS

CHARS_PER_TOKEN = 4
"""The estimate when no tokenizer answers: about four characters a token for English text with the common
BPE vocabularies (more tokens per character for code and most other scripts, so it errs low there)."""
COUNT_LIMIT_S = 5.0
"""Counting may hold the final result back this long at most (less when the provider's timeout is shorter)."""


def estimate_tokens_of(text: str) -> int:
    """Characters/4, rounded up, so any non-empty text is at least one token."""
    return min(MAX_TOKENS, -(-len(text) // CHARS_PER_TOKEN))


def prompt_text(request: ChatRequest) -> str:
    """The request's messages (and a continued answer's prefix) joined. The chat template adds a few tokens per
    message (roles, separators, BOS), so a count of this text is a lower bound of the real prompt."""
    parts = [message.content for message in request.messages]
    if request.assistant_prefix:
        parts.append(request.assistant_prefix)
    return "\n".join(parts)


def estimated_usage(request: ChatRequest, answer: str) -> Usage:
    return Usage(prompt_tokens=estimate_tokens_of(prompt_text(request)),
                 completion_tokens=estimate_tokens_of(answer), estimated=True)


async def count_usage(adapter: Adapter, request: ChatRequest, answer: str, *, left_s: float | None = None) -> Usage:
    """Ask the adapter's server to count the prompt and the answer within COUNT_LIMIT_S (less when the provider's
    timeout or the `left_s` of a route's deadline is shorter); on any failure, no answer in time, or a server
    that cannot count, fall back to the estimate. Never raises (but lets cancellation through): the answer was
    given, only its count is missing."""
    limit_s = min(COUNT_LIMIT_S, adapter.options.timeout_s, COUNT_LIMIT_S if left_s is None else left_s)
    counts: list[int] | None = None
    if limit_s > 0:
        try:
            async with asyncio.timeout(limit_s):
                counts = await adapter.count_tokens(request.model, [prompt_text(request), answer])
        except Exception:  # whatever went wrong (an adapter bug included), the estimate stands in
            counts = None
    if counts is None or len(counts) != 2 or not all(0 <= n <= MAX_TOKENS for n in counts):
        return estimated_usage(request, answer)
    return Usage(prompt_tokens=counts[0], completion_tokens=counts[1], estimated=True)
