"""Token counts from an OpenAI-compatible server's own tokenizer, for a reply that came without usage."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from providers.adapters.openai_flavours import TokenizeRoute
from providers.adapters.openai_parse import as_dict, as_int, as_list
from providers.errors import ProtocolError, ProviderError
from providers.http import request_json
from providers.reply_numbers import MAX_TOKENS

if TYPE_CHECKING:
    from providers.adapters.openai_compat import OpenAICompatAdapter

_ABSENT = (404, 405, 501)
"""Statuses that mean "no such route here": the next route is tried, and this one is not asked again."""


def count_from(reply: Any, provider: str | None) -> int:
    """`{"count": n}` (vLLM) or the length of `{"tokens": […]}` (llama-server, llama-cpp-python)."""
    body = as_dict(reply)
    count = as_int(body.get("count"))
    if count is None and isinstance(body.get("tokens"), list):
        count = len(as_list(body.get("tokens")))
    if count is None or not 0 <= count <= MAX_TOKENS:
        raise ProtocolError("tokenize reply has no token count", provider=provider)
    return count


async def _count(adapter: OpenAICompatAdapter, route: TokenizeRoute, model: str, text: str) -> int:
    if not text:
        return 0
    body: dict[str, Any] = dict.fromkeys(route.text_fields, text)
    if model:
        body["model"] = model  # llama.cpp's router mode and vLLM pick the model's tokenizer by it
    reply = await request_json(adapter.client, "POST", adapter.root_url(route.path), provider=adapter.name,
                               headers=adapter.headers(), json_body=body, timeout_s=adapter.timeout())
    return count_from(reply, adapter.name)


async def count_tokens(adapter: OpenAICompatAdapter, model: str, texts: list[str]) -> list[int] | None:
    """Each text's count from the first of the flavour's tokenize routes the server has; None when it has none.
    The texts are counted one after the other: a reply that came without usage waits for this, so a missing
    route costs one 404, and is remembered (on the adapter) so it is not asked again."""
    while adapter.tokenize_routes:
        route = adapter.tokenize_routes[0]
        try:
            return [await _count(adapter, route, model, text) for text in texts]
        except ProviderError as exc:
            if exc.status not in _ABSENT:
                raise
            adapter.tokenize_routes = adapter.tokenize_routes[1:]
    return None
