"""Routes: an alias, its targets in order or by weight, fallbacks to other aliases, retries and deadlines."""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from config.bounds import Retries, Seconds, Weight
from config.fields import ConfigModel
from config.kinds import closest

Strategy = Literal["ordered", "weighted", "lowest-latency", "lowest-cost", "least-busy"]
STRATEGIES: tuple[str, ...] = ("ordered", "weighted", "lowest-latency", "lowest-cost", "least-busy")

_ALIAS = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]*")


class TargetConfig(ConfigModel):
    """One hop of a route: a model on a provider. Also written as the string `PROVIDER/MODEL`."""

    provider: str = Field(min_length=1)
    """Name of a provider in `providers`."""
    model: str = Field(min_length=1)
    """Model name as that provider knows it."""
    weight: Weight = 1.0
    """Share of traffic under the `weighted` strategy."""

    @model_validator(mode="before")
    @classmethod
    def _from_text(cls, data: Any) -> Any:
        if isinstance(data, str):
            provider, sep, model = data.partition("/")
            if not (sep and provider and model):
                raise ValueError(f"target '{data}' must be PROVIDER/MODEL or {{provider: NAME, model: MODEL}}")
            return {"provider": provider, "model": model}
        return data


class RouteTimeouts(ConfigModel):
    """Per-route deadlines in seconds; unset ones fall back to the provider's."""

    connect_s: Seconds | None = None
    """Connecting to one target."""
    ttft_s: Seconds | None = None
    """Time to the first token of one attempt."""
    idle_s: Seconds | None = None
    """Longest silence inside a stream."""
    total_s: Seconds | None = None
    """The whole request across every hop."""

    @model_validator(mode="after")
    def _ordered(self) -> RouteTimeouts:
        if self.ttft_s is not None and self.total_s is not None and self.ttft_s > self.total_s:
            raise ValueError(f"ttft_s ({self.ttft_s:g}) is longer than total_s ({self.total_s:g})")
        return self


class RouteConfig(ConfigModel):
    """An alias scripts and chats ask for, and how it picks a target."""

    alias: str
    """What a chat or a script asks for, e.g. `chat`; no `/` (that form names PROVIDER/MODEL directly)."""
    strategy: Strategy = "ordered"
    """ordered | weighted | lowest-latency | lowest-cost | least-busy."""
    targets: tuple[TargetConfig, ...] = ()
    """Candidates, in order for `ordered`."""
    fallbacks: tuple[str, ...] = ()
    """Other aliases (or PROVIDER/MODEL) tried after every target failed."""
    retries: Retries = 1
    """Extra attempts per target for retryable errors."""
    timeouts: RouteTimeouts = Field(default_factory=RouteTimeouts)
    """Deadlines for this route."""
    continue_on_failover: bool = False
    """When a stream breaks mid-reply, ask the next target to continue the partial text instead of restarting."""

    @field_validator("alias")
    @classmethod
    def _alias(cls, value: str) -> str:
        if "/" in value:
            raise ValueError(f"alias '{value}' must not contain '/' — PROVIDER/MODEL already names a target")
        if not _ALIAS.fullmatch(value):
            raise ValueError(f"alias '{value}' may use only letters, digits, '.', '_', ':' and '-'")
        return value

    @field_validator("strategy", mode="before")
    @classmethod
    def _strategy(cls, value: Any) -> Any:
        if isinstance(value, str) and value not in STRATEGIES:
            guess = closest(value, STRATEGIES)
            hint = f"did you mean '{guess}'?" if guess else f"use one of {', '.join(STRATEGIES)}"
            raise ValueError(f"unknown strategy '{value}' — {hint}")
        return value

    @model_validator(mode="after")
    def _not_empty(self) -> RouteConfig:
        if not self.targets and not self.fallbacks:
            raise ValueError(f"route '{self.alias}' has no targets and no fallbacks — add "
                             "targets: [{provider: NAME, model: MODEL}]")
        return self
