"""Shared HTTP plumbing: the pooled client, status → error mapping, SSE and NDJSON readers."""

from __future__ import annotations

import email.utils
import json
import re
import time
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import httpx

from providers.base import ChatChunk
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

MAX_BODY_BYTES = 64 * 1024 * 1024
"""A JSON body larger than this is refused as a ProtocolError rather than parsed into memory."""

_CONTEXT_MARKERS = (
    "context_length_exceeded", "exceed_context_size", "maximum context length", "context length",
    "prompt is too long", "too many tokens", "must be <=", "context window", "exceeds the available context",
)
_CONTEXT_WINDOW = re.compile(r"maximum context length is (\d+)", re.IGNORECASE)
_CONTEXT_PROMPT = tuple(re.compile(p, re.IGNORECASE) for p in (
    r"(\d+) in the messages", r"resulted in (\d+)", r"requested (\d+)"))  # most precise first
_FILTER_MARKERS = ("content_filter", "content_policy", "safety system", "flagged")


def make_client(*, max_connections: int = 100, keepalive: int = 20, timeout_s: float = 30.0,
                connect_timeout_s: float = 5.0) -> httpx.AsyncClient:
    """The one client a deck owns: pooled keep-alive connections, no SDK retries, no env proxies."""
    return httpx.AsyncClient(
        limits=httpx.Limits(max_connections=max_connections, max_keepalive_connections=keepalive),
        timeout=httpx.Timeout(timeout_s, connect=connect_timeout_s),
        trust_env=False,
        follow_redirects=False,
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
    body = b""
    async for piece in response.aiter_bytes():
        body += piece
        if len(body) > 65536:
            break
    raise error_from_status(response.status_code, body.decode("utf-8", "replace"), response.headers, provider)


async def request_json(client: httpx.AsyncClient, method: str, url: str, *, provider: str | None,
                       headers: Mapping[str, str] | None = None, json_body: Any = None,
                       params: Mapping[str, Any] | None = None, timeout_s: float | httpx.Timeout | None = None,
                       allow_empty: bool = False) -> Any:
    """One request with a JSON answer, every failure mapped to the taxonomy."""
    response = await send(client, method, url, provider=provider, headers=headers, json_body=json_body,
                          params=params, timeout_s=timeout_s)
    if allow_empty and not response.content.strip():
        return None
    content_type = response.headers.get("content-type", "")
    if content_type and "json" not in content_type and not content_type.startswith("text/plain"):
        raise ProtocolError(f"expected JSON, got content type {content_type!r}", provider=provider)
    return parse_json(response.content, provider, f"{method} {response.url.path}")  # the URL httpx already parsed


async def send(client: httpx.AsyncClient, method: str, url: str, *, provider: str | None,
               headers: Mapping[str, str] | None = None, json_body: Any = None,
               params: Mapping[str, Any] | None = None, timeout_s: float | httpx.Timeout | None = None,
               content: bytes | None = None) -> httpx.Response:
    """Send and read a whole (bounded) response; raise the mapped error on failure or error status."""
    kwargs: dict[str, Any] = {"headers": headers, "params": params}
    if json_body is not None:
        kwargs["json"] = json_body
    if content is not None:
        kwargs["content"] = content
    if timeout_s is not None:
        kwargs["timeout"] = timeout_s
    try:
        response = await client.request(method, url, **kwargs)
    except httpx.HTTPError as exc:
        raise error_from_transport(exc, provider) from None
    if response.status_code >= 400:
        raise error_from_status(response.status_code, response.text, response.headers, provider)
    if len(response.content) > MAX_BODY_BYTES:
        raise ProtocolError(f"reply larger than {MAX_BODY_BYTES} bytes", provider=provider)
    return response


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


@dataclass(frozen=True, slots=True)
class SSEEvent:
    event: str
    data: str


class SSEParser:
    """Incremental server-sent-events decoder (WHATWG event-stream rules, as httpx-sse applies them).

    `feed` takes decoded text as it arrives and returns the events it completed, so a reader needs no extra
    generator layer per event. Lines end at CRLF, CR or LF (a CRLF split across reads counts once); `:` lines
    are comments; an event is dispatched at a blank line when it has data, an event name, an id or a retry
    (named "message" when no `event:` line named it); a partial line or event at the end of the stream is dropped."""

    __slots__ = ("_data", "_event", "_last_id", "_retry", "_skip_lf", "_tail")

    def __init__(self) -> None:
        self._tail = ""
        self._skip_lf = False  # the previous piece ended in CR: a LF opening this one ends no extra line
        self._event = ""
        self._data: list[str] = []
        self._last_id = ""  # kept across events, as the spec says
        self._retry = False

    def feed(self, text: str) -> list[SSEEvent]:
        if self._skip_lf:
            self._skip_lf = False
            if text.startswith("\n"):
                text = text[1:]
        if "\r" in text:
            self._skip_lf = text.endswith("\r")
            text = text.replace("\r\n", "\n").replace("\r", "\n")
        if "\n" not in text:
            self._tail += text
            return []
        lines = text.split("\n")
        if self._tail:
            lines[0] = self._tail + lines[0]
        self._tail = lines.pop()
        events: list[SSEEvent] = []
        for line in lines:
            if not line:
                if self._data or self._event or self._last_id or self._retry:
                    events.append(SSEEvent(self._event or "message", "\n".join(self._data)))
                    self._event, self._data, self._retry = "", [], False
                continue
            if line[0] == ":":
                continue
            name, _, value = line.partition(":")
            if value[:1] == " ":
                value = value[1:]
            if name == "data":
                self._data.append(value)
            elif name == "event":
                self._event = value
            elif name == "id":
                if "\0" not in value:
                    self._last_id = value
            elif name == "retry":
                try:
                    int(value)
                except ValueError:
                    continue
                self._retry = True
        return events


def check_event_stream(response: httpx.Response, provider: str | None) -> None:
    """Raise ProtocolError unless the response is `text/event-stream`."""
    content_type = response.headers.get("content-type", "")
    if "text/event-stream" not in content_type.partition(";")[0]:
        raise ProtocolError(f"expected text/event-stream, got {content_type!r}", provider=provider)


async def iter_sse(response: httpx.Response, provider: str | None) -> AsyncIterator[SSEEvent]:
    """Server-sent events of a response; comments and keep-alives are skipped."""
    check_event_stream(response, provider)
    parser = SSEParser()
    try:
        async for text in response.aiter_text():
            for event in parser.feed(text):
                yield event
    except httpx.HTTPError as exc:
        raise error_from_transport(exc, provider) from None


async def iter_ndjson(response: httpx.Response, provider: str | None) -> AsyncIterator[dict[str, Any]]:
    """One JSON object per line; a lone `{"error": …}` line becomes the mapped error (status stays 200)."""
    try:
        async for line in response.aiter_lines():
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except ValueError as exc:
                raise ProtocolError(f"malformed NDJSON line: {line[:120]!r}", provider=provider) from exc
            if not isinstance(obj, dict):
                raise ProtocolError(f"NDJSON line is not an object: {line[:120]!r}", provider=provider)
            if "error" in obj and len(obj) <= 2:
                status = _status_of_stream_error(str(obj["error"]))
                raise error_from_status(status, json.dumps(obj), {}, provider)
            yield obj
    except httpx.HTTPError as exc:
        raise error_from_transport(exc, provider) from None


def _status_of_stream_error(message: str) -> int:
    """The status a lone `{"error": …}` line in a 200 stream stands for: Ollama says it only in words."""
    lowered = message.lower()
    if "not found" in lowered:
        return 404
    return 400 if any(marker in lowered for marker in _CONTEXT_MARKERS) else 500


async def guard_text_stream(stream: AsyncIterator[ChatChunk], provider: str | None) -> AsyncIterator[ChatChunk]:
    """Once text has been yielded, any failure becomes StreamBrokenError carrying that text."""
    parts: list[str] = []
    try:
        async for chunk in stream:
            if chunk.text:
                parts.append(chunk.text)
            yield chunk
    except StreamBrokenError:
        raise
    except ProviderError as exc:
        if not parts:
            raise
        raise broken_after_text(exc, parts, provider) from exc
    finally:
        aclose = getattr(stream, "aclose", None)
        if aclose is not None:
            await aclose()


def broken_after_text(error: ProviderError, parts: list[str], provider: str | None) -> StreamBrokenError:
    """The StreamBrokenError for `error` striking after `parts` of text were yielded (guard_text_stream's rule)."""
    return StreamBrokenError(f"stream broke after text: {error.message}", partial="".join(parts), cause=error,
                             status=error.status, provider=provider)
