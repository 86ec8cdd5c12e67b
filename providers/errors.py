"""One error taxonomy that every adapter maps into, and that the router reads to decide.

ProviderError
├── UnreachableError          refused, DNS, no route            retry, fall back
├── ProviderTimeoutError      connect | ttft | idle | total      retry, fall back
├── RateLimitedError          429 (retry_after seconds)         wait/fall back
├── OverloadedError           503, 529                          retry, fall back
├── ServerError               other 5xx                         retry, fall back
├── AuthFailedError           401, 403                          fall back, no retry
├── QuotaExhaustedError       402, insufficient_quota           fall back, no retry
├── ContextTooLongError       prompt over the context window    skip to a larger window
├── BadRequestError           other 4xx                         stop
├── ContentFilteredError      refused by a safety filter        stop
├── StreamBrokenError         stream failed after text arrived  (partial kept)
└── ProtocolError             malformed body, wrong framing     retry, fall back

Messages never contain an API key or an Authorization header: every message passes through `redact`.
"""

from __future__ import annotations

import re
from typing import ClassVar, Literal

from config.secret_registry import scrub as scrub_secrets

TimeoutPhase = Literal["connect", "ttft", "idle", "total", "read"]

_SECRET_PATTERNS = (
    re.compile(r"(?i)(authorization|x-api-key|api-key|x-portkey-api-key|x-n8n-api-key)\s*[:=]\s*\S+(\s+\S+)?"),
    re.compile(r"(?i)bearer\s+[A-Za-z0-9._~+/=-]{6,}"),
    re.compile(r"\b(sk|pk|rk|hf|or|ak)[-_][A-Za-z0-9._-]{8,}"),
)


def redact(text: str, secrets: tuple[str, ...] = ()) -> str:
    """Remove anything that looks like a credential, every secret this process has read (and its encodings:
    base64, URL, hex; see config.secret_registry) and every value in `secrets` from `text`."""
    for secret in secrets:
        if secret and len(secret) >= 4:
            text = text.replace(secret, "***")
    text = scrub_secrets(text)
    for pattern in _SECRET_PATTERNS:
        text = pattern.sub("***", text)
    return text


class ProviderError(Exception):
    """Base of every error an adapter raises. `retryable`: the same hop may be tried again;
    `fallback`: the router may move to the next hop; otherwise the request stops here."""

    retryable: ClassVar[bool] = False
    fallback: ClassVar[bool] = True
    kind: ClassVar[str] = "error"

    def __init__(self, message: str, *, status: int | None = None, provider: str | None = None) -> None:
        self.message = redact(message)
        self.status = status
        self.provider = provider
        super().__init__(self.message)

    def __str__(self) -> str:
        where = f"{self.provider}: " if self.provider else ""
        return f"{where}{self.brief}"

    @property
    def brief(self) -> str:
        """The error without the provider's name, for places that already show whose it is."""
        code = f"HTTP {self.status}: " if self.status else ""
        return f"{code}{self.message}"


class UnreachableError(ProviderError):
    """Connection refused, DNS failure, no route to host."""

    retryable = True
    kind = "unreachable"


class ProviderTimeoutError(ProviderError):
    """A deadline passed; `phase` says which one."""

    retryable = True
    kind = "timeout"

    def __init__(self, message: str, *, phase: TimeoutPhase, status: int | None = None,
                 provider: str | None = None) -> None:
        super().__init__(message, status=status, provider=provider)
        self.phase: TimeoutPhase = phase



class RateLimitedError(ProviderError):
    """429: `retry_after` seconds from retry-after-ms / retry-after, when the server said."""

    retryable = True
    kind = "rate_limited"

    def __init__(self, message: str, *, retry_after: float | None = None, status: int | None = 429,
                 provider: str | None = None) -> None:
        super().__init__(message, status=status, provider=provider)
        self.retry_after = retry_after


class OverloadedError(ProviderError):
    """503 or Anthropic's 529: the server is up but shedding load."""

    retryable = True
    kind = "overloaded"

    def __init__(self, message: str, *, retry_after: float | None = None, status: int | None = 503,
                 provider: str | None = None) -> None:
        super().__init__(message, status=status, provider=provider)
        self.retry_after = retry_after


class ServerError(ProviderError):
    """Any other 5xx."""

    retryable = True
    kind = "server_error"


class AuthFailedError(ProviderError):
    """401/403: the key is wrong, missing, or lacks permission. Another provider may still serve."""

    kind = "auth_failed"


class QuotaExhaustedError(ProviderError):
    """402 or insufficient_quota: out of credits. Never retried on the same provider."""

    kind = "quota_exhausted"


class ContextTooLongError(ProviderError):
    """The prompt does not fit the model's context window."""

    kind = "context_too_long"

    def __init__(self, message: str, *, n_ctx: int | None = None, n_prompt: int | None = None,
                 status: int | None = 400, provider: str | None = None) -> None:
        super().__init__(message, status=status, provider=provider)
        self.n_ctx = n_ctx
        self.n_prompt = n_prompt


class BadRequestError(ProviderError):
    """The request itself is wrong; no other provider will take it either."""

    fallback = False
    kind = "bad_request"


class NotFoundError(BadRequestError):
    """The model (or endpoint) is not on this provider. Wrong here, but another hop may have it: the router falls
    back, and the breaker does not count it, since it says nothing about the provider's health."""

    fallback = True
    kind = "not_found"


class ContentFilteredError(ProviderError):
    """A safety filter refused the request or the answer."""

    fallback = False
    kind = "content_filtered"


class StreamBrokenError(ProviderError):
    """The stream failed after text reached the caller; `partial` holds that text."""

    kind = "stream_broken"

    def __init__(self, message: str, *, partial: str = "", cause: ProviderError | None = None,
                 status: int | None = None, provider: str | None = None) -> None:
        super().__init__(message, status=status, provider=provider)
        self.partial = partial
        self.cause = cause


class ProtocolError(ProviderError):
    """The server answered something we cannot parse: bad JSON, truncated stream, wrong content type."""

    retryable = True
    kind = "protocol_error"


class UnsupportedError(ProviderError):
    """The backend cannot do this operation (see `Capabilities`)."""

    fallback = False
    kind = "unsupported"


ERROR_CLASSES: tuple[type[ProviderError], ...] = (
    UnreachableError, ProviderTimeoutError, RateLimitedError, OverloadedError, ServerError, AuthFailedError,
    QuotaExhaustedError, ContextTooLongError, BadRequestError, ContentFilteredError, StreamBrokenError,
    ProtocolError, UnsupportedError,
)


class UnknownProviderError(LookupError):
    """A provider name that is not in the config: the caller's mistake, not a provider's failure."""
