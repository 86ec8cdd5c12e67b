"""What bounds one routed reply: default deadlines, the answer size cap, and the one place where an adapter's
stray exception becomes a ProviderError (so a failure is never recorded as `ok`)."""

from __future__ import annotations

from dataclasses import dataclass, field

from providers.errors import ProtocolError, ProviderError
from providers.routing import RouteTimeouts

DEFAULT_MAX_ANSWER_CHARS = 2_000_000
"""About 500k tokens of text: longer than any model writes in one answer, and a few tens of MB at most."""


@dataclass(frozen=True, slots=True)
class ReplyBounds:
    """Deadlines for routes (and PROVIDER/MODEL targets) that set none, and the longest answer kept."""

    timeouts: RouteTimeouts = field(default_factory=lambda: RouteTimeouts(idle_s=120.0, total_s=600.0))
    max_answer_chars: int = DEFAULT_MAX_ANSWER_CHARS

    def timeouts_for(self, route: RouteTimeouts) -> RouteTimeouts:
        """The route's own deadlines, with the defaults filling those it leaves unset."""
        defaults = self.timeouts
        return RouteTimeouts(
            ttft_s=route.ttft_s if route.ttft_s is not None else defaults.ttft_s,
            idle_s=route.idle_s if route.idle_s is not None else defaults.idle_s,
            total_s=route.total_s if route.total_s is not None else defaults.total_s,
        )


NO_DEFAULT_TIMEOUTS = ReplyBounds(timeouts=RouteTimeouts())
"""Only the routes' own deadlines (a router on its own, as the decision tests build it)."""


class AnswerTooLongError(ProtocolError):
    """The answer grew past the cap. Not retried and not continued elsewhere: the same prompt would run on."""

    retryable = False
    fallback = False


def answer_too_long(limit: int, provider: str | None) -> AnswerTooLongError:
    return AnswerTooLongError(f"answer longer than {limit} characters: cut there (replies.max_answer_chars)",
                              provider=provider)


def as_provider_error(exc: Exception, provider: str) -> ProviderError:
    """`exc` as the taxonomy: a ProviderError keeps its class (and gets the provider's name when it has none);
    anything else an adapter let escape (KeyError, RecursionError, OverflowError …) is a ProtocolError naming it."""
    if isinstance(exc, ProviderError):
        if exc.provider is None:
            exc.provider = provider
        return exc
    detail = str(exc)
    detail = detail if len(detail) <= 200 else detail[:200] + "…"
    error = ProtocolError(f"{type(exc).__name__}: {detail}" if detail else type(exc).__name__, provider=provider)
    error.__cause__ = exc
    return error
