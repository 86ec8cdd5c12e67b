"""Shared HTTP plumbing: the pooled client, status → error mapping, SSE and NDJSON readers."""

from __future__ import annotations

import email.utils
import json
import re
import time
from collections.abc import AsyncIterator, Iterator, Mapping
from contextlib import asynccontextmanager, contextmanager
from typing import Any

import httpx

from providers.base import ChatChunk, closing_stream
from providers.bounded_body import LineSplitter, iter_text, read_body, read_error_body, read_error_bytes
from providers.errors import (
    AuthFailedError,
    BadRequestError,
    ContentFilteredError,
    ContextTooLongError,
    NotFoundError,
    OverloadedError,
    ProtocolError,
    ProviderError,
    ProviderTimeoutError,
    QuotaExhaustedError,
    RateLimitedError,
    ServerError,
    StreamBrokenError,
    UnreachableError,
)
from providers.light_transport import LightTransport
from providers.sse import SSEEvent as SSEEvent  # re-exported: adapters import the SSE types from here
from providers.sse import SSEParser as SSEParser

MAX_BODY_BYTES = 64 * 1024 * 1024
"""A body (decompressed) larger than this is refused as a ProtocolError while it is read: images, answers."""

MAX_LISTING_BYTES = 8 * 1024 * 1024
"""The cap for JSON fetched with GET (catalogs, health, props): far above any real listing, and small enough that
the monitor's probe of a hostile server cannot take much memory every cycle."""

MAX_JSON_ITEMS = 2_000_000
"""At most this many JSON values (counted as commas, braces and brackets) in one body: a few megabytes of `[{},`
would otherwise parse into hundreds of megabytes of Python objects."""

_CONTEXT_MARKERS = (
    "context_length_exceeded", "exceed_context_size", "maximum context length", "context length",
    "prompt is too long", "too many tokens", "must be <=", "context window", "exceeds the available context",
)
_CONTEXT_WINDOW = re.compile(r"maximum context length is (\d+)", re.IGNORECASE)
_CONTEXT_PROMPT = tuple(re.compile(p, re.IGNORECASE) for p in (
    r"(\d+) in the messages", r"resulted in (\d+)", r"requested (\d+)"))  # most precise first
_FILTER_MARKERS = ("content_filter", "content_policy", "safety system", "flagged")


def make_client(*, max_connections: int = 100, keepalive: int = 20, timeout_s: float = 30.0,
                connect_timeout_s: float = 5.0, light: bool = True) -> httpx.AsyncClient:
    """The one client a deck owns: pooled keep-alive connections, no SDK retries, no env proxies. Plain-HTTP
    traffic (the lab's own servers) goes over providers/light_transport.py, at about half the CPU per request;
    TLS stays on httpx's own pool. `light=False` is httpx's transport throughout (benchmarks compare the two)."""
    limits = httpx.Limits(max_connections=max_connections, max_keepalive_connections=keepalive)
    tls = httpx.AsyncHTTPTransport(limits=limits, trust_env=False)
    return httpx.AsyncClient(
        transport=LightTransport(tls, max_connections=max_connections) if light else None,
        limits=limits,
        timeout=httpx.Timeout(timeout_s, connect=connect_timeout_s),
        trust_env=False,
        follow_redirects=False,
        # Only what bounded_body can inflate in bounded pieces (httpx would add br/zstd when they are installed).
        headers={"Accept-Encoding": "gzip, deflate"},
    )


def retry_after_seconds(headers: Mapping[str, str]) -> float | None:
    """Seconds to wait from `retry-after-ms` (ms) or `retry-after` (seconds or an HTTP date)."""
    ms = headers.get("retry-after-ms")
    if ms:
        try:
            return max(0.0, float(ms) / 1000.0)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def error_message(body: str) -> tuple[str, str, Any]:
    """(message, code-or-type, parsed) from any of the common error envelopes, or the raw text."""
    text = body.strip()
    try:
        parsed: Any = json.loads(text) if text else None
    except (ValueError, RecursionError):  # RecursionError: absurdly nested garbage
        return text[:500] or "(empty body)", "", None
    if isinstance(parsed, dict):
        err = parsed.get("error", parsed)
        if isinstance(err, dict):
            message = str(err.get("message") or err.get("detail") or err)
            code = str(err.get("code") or err.get("type") or parsed.get("type") or "")
            return message, code, parsed
        if isinstance(err, str):
            # AUTOMATIC1111 names the exception class in `error` and says what went wrong in `detail`/`errors`.
            readable = parsed.get("detail") or parsed.get("errors")
            if readable:
                message = readable if isinstance(readable, str) else json.dumps(readable)
                return message, err, parsed
            return err, str(parsed.get("error_type") or parsed.get("type") or ""), parsed
        if "detail" in parsed:
            return str(parsed["detail"]), "", parsed
    return text[:500], "", parsed


def error_from_status(status: int, body: str, headers: Mapping[str, str], provider: str | None) -> ProviderError:
    """Map an HTTP error reply to the taxonomy (PROTOCOLS.md §0.2, §0.3)."""
    message, code, parsed = error_message(body)
    lowered = f"{code} {message}".lower()
    retry_after = retry_after_seconds(headers)
    if status in (400, 413, 422) and any(marker in lowered for marker in _CONTEXT_MARKERS):
        n_ctx = n_prompt = None
        if isinstance(parsed, dict) and isinstance(parsed.get("error"), dict):
            n_ctx = parsed["error"].get("n_ctx")
            n_prompt = parsed["error"].get("n_prompt_tokens")
        if n_ctx is None and (window := _CONTEXT_WINDOW.search(message)):
            # vLLM / OpenAI say it in words: "maximum context length is N tokens. However, you requested M …"
            n_ctx = int(window.group(1))
            found = (match for pattern in _CONTEXT_PROMPT if (match := pattern.search(message)))
            n_prompt = next((int(match.group(1)) for match in found), n_prompt)
        return ContextTooLongError(message, n_ctx=n_ctx, n_prompt=n_prompt, status=status, provider=provider)
    if status == 402 or "insufficient_quota" in lowered:
        return QuotaExhaustedError(message, status=status, provider=provider)
    if status in (401, 403):
        return AuthFailedError(message, status=status, provider=provider)
    if status == 429:
        return RateLimitedError(message, retry_after=retry_after, status=status, provider=provider)
    if status in (503, 529) or "overloaded" in lowered:
        return OverloadedError(message, retry_after=retry_after, status=status, provider=provider)
    if status in (408, 504):
        return ProviderTimeoutError(message, phase="total", status=status, provider=provider)
    if status >= 500:
        return ServerError(message, status=status, provider=provider)
    if any(marker in lowered for marker in _FILTER_MARKERS):
        return ContentFilteredError(message, status=status, provider=provider)
    if status == 404:
        return NotFoundError(message, status=status, provider=provider)
    return BadRequestError(message, status=status, provider=provider)


def error_from_transport(exc: httpx.HTTPError, provider: str | None) -> ProviderError:
    """Map an httpx transport failure to the taxonomy. The message never carries request headers."""
    detail = type(exc).__name__
    text = str(exc)
    if text:
        detail = f"{detail}: {text}"
    if isinstance(exc, httpx.ConnectTimeout | httpx.PoolTimeout):
        return ProviderTimeoutError(detail, phase="connect", provider=provider)
    if isinstance(exc, httpx.TimeoutException):
        return ProviderTimeoutError(detail, phase="read", provider=provider)
    if isinstance(exc, httpx.ConnectError):
        return UnreachableError(detail, provider=provider)
    if isinstance(exc, httpx.RemoteProtocolError | httpx.ReadError | httpx.WriteError):
        return ProtocolError(f"connection dropped: {detail}", provider=provider)
    if isinstance(exc, httpx.DecodingError | httpx.TooManyRedirects):
        return ProtocolError(detail, provider=provider)
    return UnreachableError(detail, provider=provider)


def parse_json(body: bytes | str, provider: str | None, what: str = "reply") -> Any:
    """Parse a JSON body, tolerating leading blank lines (DeepSeek under load)."""
    if len(body) > MAX_BODY_BYTES:
        raise ProtocolError(f"{what} larger than {MAX_BODY_BYTES} bytes", provider=provider)
    items = (body.count(",") + body.count("{") + body.count("[") if isinstance(body, str)
             else body.count(b",") + body.count(b"{") + body.count(b"["))
    if items > MAX_JSON_ITEMS:
        raise ProtocolError(f"{what} holds more than {MAX_JSON_ITEMS} JSON values", provider=provider)
    try:
        return json.loads(body.strip() if isinstance(body, str) else body.strip() or b"null")
    except (ValueError, RecursionError) as exc:  # RecursionError: absurdly nested garbage
        snippet = (body if isinstance(body, str) else body.decode("utf-8", "replace"))[:120]
        raise ProtocolError(f"malformed JSON in {what}: {exc}; body starts {snippet!r}", provider=provider) from exc


def expect_dict(value: Any, provider: str | None, what: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ProtocolError(f"{what}: expected a JSON object, got {type(value).__name__}", provider=provider)
    return value


async def raise_for_status(response: httpx.Response, provider: str | None) -> None:
    """Read an error body (bounded) and raise the mapped error; return silently on 2xx."""
    if response.status_code < 400:
        return
    body = await read_error_body(response, provider)
    raise error_from_status(response.status_code, body, response.headers, provider)


async def request_json(client: httpx.AsyncClient, method: str, url: str, *, provider: str | None,
                       headers: Mapping[str, str] | None = None, json_body: Any = None,
                       params: Mapping[str, Any] | None = None, timeout_s: float | httpx.Timeout | None = None,
                       allow_empty: bool = False, max_bytes: int | None = None) -> Any:
    """One request with a JSON answer, every failure mapped to the taxonomy. The body is capped at `max_bytes`
    (default MAX_LISTING_BYTES for GET, MAX_BODY_BYTES otherwise)."""
    if max_bytes is None:
        max_bytes = MAX_LISTING_BYTES if method.upper() == "GET" else MAX_BODY_BYTES
    response = await send(client, method, url, provider=provider, headers=headers, json_body=json_body,
                          params=params, timeout_s=timeout_s, max_bytes=max_bytes)
    if allow_empty and not response.content.strip():
        return None
    content_type = response.headers.get("content-type", "")
    if content_type and "json" not in content_type and not content_type.startswith("text/plain"):
        raise ProtocolError(f"expected JSON, got content type {content_type!r}", provider=provider)
    return parse_json(response.content, provider, f"{method} {response.url.path}")  # the URL httpx already parsed


async def send(client: httpx.AsyncClient, method: str, url: str, *, provider: str | None,
               headers: Mapping[str, str] | None = None, json_body: Any = None,
               params: Mapping[str, Any] | None = None, timeout_s: float | httpx.Timeout | None = None,
               content: bytes | None = None, max_bytes: int = MAX_BODY_BYTES) -> httpx.Response:
    """Send and read a whole response, at most `max_bytes` decompressed (counted while reading); raise the
    mapped error on failure or error status."""
    response = await fetch(client, method, url, provider=provider, headers=headers, json_body=json_body,
                           params=params, timeout_s=timeout_s, content=content, max_bytes=max_bytes)
    if response.status_code >= 400:
        raise error_from_status(response.status_code, response.text, response.headers, provider)
    return response


async def fetch(client: httpx.AsyncClient, method: str, url: str, *, provider: str | None,
                headers: Mapping[str, str] | None = None, json_body: Any = None,
                params: Mapping[str, Any] | None = None, timeout_s: float | httpx.Timeout | None = None,
                content: bytes | None = None, max_bytes: int = MAX_BODY_BYTES) -> httpx.Response:
    """Like `send`, but an error status is returned (its body cut to a message's length), not raised."""
    kwargs: dict[str, Any] = {"headers": headers, "params": params}
    if json_body is not None:
        kwargs["json"] = json_body
    if content is not None:
        kwargs["content"] = content
    if timeout_s is not None:
        kwargs["timeout"] = timeout_s
    try:
        async with client.stream(method, url, **kwargs) as streamed:
            if streamed.status_code >= 400:
                body = await read_error_bytes(streamed, provider)
            else:
                body = await read_body(streamed, provider, limit=max_bytes,
                                       what=f"{method} {streamed.url.path}")
    except httpx.HTTPError as exc:
        raise error_from_transport(exc, provider) from None
    # The body is already decoded: the copy handed on must not claim an encoding or the wire's length.
    dropped = ("content-encoding", "content-length")
    kept = [(k, v) for k, v in streamed.headers.multi_items() if k.lower() not in dropped]
    return httpx.Response(streamed.status_code, headers=kept, content=body, request=streamed.request)


@asynccontextmanager
async def open_stream(client: httpx.AsyncClient, method: str, url: str, *, provider: str | None,
                      headers: Mapping[str, str] | None = None, json_body: Any = None,
                      timeout_s: float | httpx.Timeout | None = None) -> AsyncIterator[httpx.Response]:
    """Open a streaming response; error statuses are read and raised as the taxonomy."""
    kwargs: dict[str, Any] = {"headers": headers, "json": json_body}
    if timeout_s is not None:
        kwargs["timeout"] = timeout_s
    try:
        async with client.stream(method, url, **kwargs) as response:
            await raise_for_status(response, provider)
            yield response
    except httpx.HTTPError as exc:
        raise error_from_transport(exc, provider) from None


def check_event_stream(response: httpx.Response, provider: str | None) -> None:
    """Raise ProtocolError unless the response is `text/event-stream`."""
    content_type = response.headers.get("content-type", "")
    if "text/event-stream" not in content_type.partition(";")[0]:
        raise ProtocolError(f"expected text/event-stream, got {content_type!r}", provider=provider)


async def iter_sse(response: httpx.Response, provider: str | None) -> AsyncIterator[SSEEvent]:
    """Server-sent events of a response; comments and keep-alives are skipped."""
    check_event_stream(response, provider)
    parser = SSEParser(provider)
    try:
        async for text in iter_text(response, provider):
            for event in parser.feed(text):
                yield event
    except httpx.HTTPError as exc:
        raise error_from_transport(exc, provider) from None


async def iter_ndjson(response: httpx.Response, provider: str | None) -> AsyncIterator[dict[str, Any]]:
    """One JSON object per line; a lone `{"error": …}` line becomes the mapped error (status stays 200)."""
    splitter = LineSplitter(provider)
    try:
        async for text in iter_text(response, provider):
            for line in splitter.feed(text):
                if line.strip():
                    yield _ndjson_object(line, provider)
        last = splitter.finish()
        if last.strip():
            yield _ndjson_object(last, provider)
    except httpx.HTTPError as exc:
        raise error_from_transport(exc, provider) from None


def _ndjson_object(line: str, provider: str | None) -> dict[str, Any]:
    try:
        obj = json.loads(line)
    except (ValueError, RecursionError) as exc:  # RecursionError: absurdly nested garbage
        raise ProtocolError(f"malformed NDJSON line: {line[:120]!r}", provider=provider) from exc
    if not isinstance(obj, dict):
        raise ProtocolError(f"NDJSON line is not an object: {line[:120]!r}", provider=provider)
    if "error" in obj and len(obj) <= 2:
        status = _status_of_stream_error(str(obj["error"]))
        raise error_from_status(status, json.dumps(obj), {}, provider)
    return obj


def _status_of_stream_error(message: str) -> int:
    """The status a lone `{"error": …}` line in a 200 stream stands for: Ollama says it only in words."""
    lowered = message.lower()
    if "not found" in lowered:
        return 404
    return 400 if any(marker in lowered for marker in _CONTEXT_MARKERS) else 500


async def guard_text_stream(stream: AsyncIterator[ChatChunk], provider: str | None) -> AsyncIterator[ChatChunk]:
    """Once text has been yielded, any failure becomes StreamBrokenError carrying that text."""
    parts: list[str] = []
    async with closing_stream(stream):
        with broken_after_text(parts, provider):
            async for chunk in stream:
                if chunk.text:
                    parts.append(chunk.text)
                yield chunk


@contextmanager
def broken_after_text(parts: list[str], provider: str | None) -> Iterator[None]:
    """guard_text_stream's rule for a block that yields text into `parts`: a ProviderError striking after some
    text becomes a StreamBrokenError carrying that text; before any text it stays what it is."""
    try:
        yield
    except StreamBrokenError:
        raise
    except ProviderError as exc:
        if not parts:
            raise
        raise StreamBrokenError(f"stream broke after text: {exc.message}", partial="".join(parts), cause=exc,
                                status=exc.status, provider=provider) from exc
