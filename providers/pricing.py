"""Tokens → USD: the bundled price table, operator overrides and live prices, matched as operators name models."""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from importlib import resources
from typing import Literal, Protocol

from providers.base import Usage

PriceSource = Literal["override", "live", "bundled", "local"]

LOCAL_KINDS: frozenset[str] = frozenset(
    {"ollama", "vllm", "llamacpp", "lmstudio", "localai", "textgen", "tgi", "a1111", "comfyui"}
)
"""Kinds whose tokens cost nothing unless an override prices them (GPU time). Deliberately not
config.kinds' `local` flag: openwebui, litellm and portkey run in the lab but forward to paid clouds."""

# Which `litellm_provider` of the table a kind (or the vendor part of an id like `anthropic/claude-…`) means;
# used to choose between entries that share a name (claude-sonnet-4-5 is sold by Anthropic, Vertex, Bedrock…).
_PROVIDERS_OF: dict[str, tuple[str, ...]] = {
    "openai": ("openai", "text-completion-openai"),
    "anthropic": ("anthropic",),
    "deepseek": ("deepseek",),
    "deepseek-ai": ("deepseek",),
    "ollama": ("ollama",),
    "google": ("gemini",),
    "gemini": ("gemini",),
    "mistralai": ("mistral",),
    "mistral": ("mistral",),
    "x-ai": ("xai",),
    "xai": ("xai",),
    "cohere": ("cohere", "cohere_chat"),
    "perplexity": ("perplexity",),
    "groq": ("groq",),
}
# Kinds whose models the table files under a prefix: Ollama's `llama3.1` is the key `ollama/llama3.1`.
_KEY_PREFIX_OF: dict[str, str] = {"ollama": "ollama/", "deepseek": "deepseek/"}

_DATE_SUFFIX = re.compile(r"[-@](?:20\d{6}|20\d{2}-\d{2}-\d{2})$")
_VERSION_DOT = re.compile(r"(?<=\d)\.(?=\d)")
_TAG = re.compile(r":[\w.-]+$")
_BEDROCK_ID = re.compile(r"^(?:[a-z-]+\.)?(?:anthropic|meta|mistral|amazon|cohere|deepseek|openai|qwen)\."
                         r"([^/]+?)(?:-v\d+(?::\d+)?)?$")


def canonical(name: str) -> str:
    """The form two spellings of one model share: lower case, no date suffix, `4.5` written `4-5`.

    claude-sonnet-4-5-20250929, Claude-Sonnet-4.5 and claude-sonnet-4-5@20250929 all become claude-sonnet-4-5.
    """
    lowered = _DATE_SUFFIX.sub("", name.strip().lower())
    return _VERSION_DOT.sub("-", lowered)


def _suffixes(name: str) -> list[str]:
    """`openrouter/anthropic/claude-x` → itself, `anthropic/claude-x`, `claude-x` (longest first)."""
    parts = name.split("/")
    return ["/".join(parts[i:]) for i in range(len(parts))]


def _aliases(key: str) -> list[str]:
    """The names a table key answers to: its suffixes, and for Bedrock ids (`us.anthropic.claude-…-v1:0`)
    the vendor's own model id."""
    bedrock = _BEDROCK_ID.match(key)
    return [*_suffixes(key), bedrock.group(1)] if bedrock else _suffixes(key)


def _spellings(name: str) -> Iterator[str]:
    """Each suffix of a name, then the same without an Ollama-style `:tag`."""
    for suffix in _suffixes(name):
        yield suffix
        untagged = _TAG.sub("", suffix)
        if untagged and untagged != suffix:
            yield untagged


@dataclass(frozen=True, slots=True)
class ModelPrice:
    """What one model costs, USD per token, and how much it can read; `matched` names the entry used."""

    input_usd_per_token: float
    output_usd_per_token: float
    context_window: int | None = None
    max_output_tokens: int | None = None
    source: PriceSource = "bundled"
    matched: str = ""

    @property
    def input_usd_per_mtok(self) -> float:
        return self.input_usd_per_token * 1_000_000

    @property
    def output_usd_per_mtok(self) -> float:
        return self.output_usd_per_token * 1_000_000


def cost(usage: Usage, price: ModelPrice) -> float:
    """USD for one call: prompt tokens at the input price plus completion tokens at the output price."""
    return usage.prompt_tokens * price.input_usd_per_token + usage.completion_tokens * price.output_usd_per_token


class PriceOverrideLike(Protocol):
    """The shape of a `prices:` entry of the config (the pydantic model satisfies it)."""

    @property
    def provider(self) -> str | None: ...
    @property
    def model(self) -> str: ...
    @property
    def input_usd_per_mtok(self) -> float: ...
    @property
    def output_usd_per_mtok(self) -> float: ...


@dataclass(frozen=True, slots=True)
class PriceOverride:
    """An operator's price; `provider` (a provider name or a kind) limits it to one provider, None to all."""

    model: str
    input_usd_per_mtok: float
    output_usd_per_mtok: float
    provider: str | None = None
    context_window: int | None = None

    @classmethod
    def of(cls, item: PriceOverrideLike | Mapping[str, object]) -> PriceOverride:
        """Accepts a config model, a plain mapping from YAML, or a PriceOverride."""
        if isinstance(item, PriceOverride):
            return item
        if isinstance(item, Mapping):
            window = item.get("context_window")
            return cls(model=str(item["model"]), input_usd_per_mtok=_number(item["input_usd_per_mtok"]),
                       output_usd_per_mtok=_number(item["output_usd_per_mtok"]),
                       provider=_optional_str(item.get("provider")),
                       context_window=int(window) if isinstance(window, int | float) else None)
        window = getattr(item, "context_window", None)
        return cls(model=item.model, input_usd_per_mtok=float(item.input_usd_per_mtok),
                   output_usd_per_mtok=float(item.output_usd_per_mtok), provider=item.provider,
                   context_window=window if isinstance(window, int) else None)


def _number(value: object) -> float:
    if isinstance(value, int | float | str):
        return float(value)
    raise TypeError(f"not a number: {value!r}")


def _optional_str(value: object) -> str | None:
    return None if value is None else str(value)


@dataclass(frozen=True, slots=True)
class _Entry:
    key: str
    provider: str
    input: float | None
    output: float | None
    context: int | None
    max_output: int | None

    def as_price(self, source: PriceSource = "bundled") -> ModelPrice:
        return ModelPrice(self.input or 0.0, self.output or 0.0, self.context, self.max_output, source, self.key)


@dataclass(slots=True)
class _Bundle:
    by_key: dict[str, _Entry] = field(default_factory=dict)
    by_canonical: dict[str, list[_Entry]] = field(default_factory=dict)


def _int_or_none(value: object) -> int | None:
    return int(value) if isinstance(value, int | float) else None


def _float_or_none(value: object) -> float | None:
    return float(value) if isinstance(value, int | float) else None


@functools.cache
def _bundled() -> _Bundle:
    """config/prices.json parsed and indexed once per process, on the first lookup (never at import)."""
    text = resources.files("config").joinpath("prices.json").read_text(encoding="utf-8")
    models: dict[str, dict[str, object]] = json.loads(text)["models"]
    bundle = _Bundle()
    for key, facts in models.items():
        entry = _Entry(key, str(facts.get("litellm_provider", "")), _float_or_none(facts.get("input_cost_per_token")),
                       _float_or_none(facts.get("output_cost_per_token")), _int_or_none(facts.get("max_input_tokens")),
                       _int_or_none(facts.get("max_output_tokens")))
        bundle.by_key[key.lower()] = entry
        for alias in _aliases(key):
            bundle.by_canonical.setdefault(canonical(alias), []).append(entry)
    return bundle


class PriceTable:
    """Prices by (kind, model). Precedence: override > local kind (0) > live > bundled table.

    Lookups are safe from any thread; `merge_live` swaps whole dicts, so a reader sees the old or the new prices.
    """

    def __init__(self, overrides: Iterable[PriceOverrideLike | Mapping[str, object]] = (),
                 bundle: Callable[[], _Bundle] = _bundled) -> None:
        self._overrides = [PriceOverride.of(item) for item in overrides]
        self._bundle = bundle
        self._live: dict[str, dict[str, ModelPrice]] = {}

    @classmethod
    def load_bundled(cls, overrides: Iterable[PriceOverrideLike | Mapping[str, object]] = ()) -> PriceTable:
        """A table over config/prices.json (read lazily on the first lookup, then shared by every table)."""
        return cls(overrides)

    def set_overrides(self, overrides: Iterable[PriceOverrideLike | Mapping[str, object]]) -> None:
        """Replace the operator's prices (after a config reload)."""
        self._overrides = [PriceOverride.of(item) for item in overrides]

    def merge_live(self, prices: Mapping[str, tuple[float, float]], *, scope: str,
                   context_windows: Mapping[str, int] | None = None) -> None:
        """Merge prices fetched from a provider (model id → (input, output) USD per token), e.g. OpenRouter's
        /api/v1/models. `scope` is the provider name or kind they apply to; newer prices replace older ones."""
        windows = context_windows or {}
        merged = dict(self._live.get(scope.lower(), {}))
        for model, (input_price, output_price) in prices.items():
            merged[canonical(model)] = ModelPrice(input_price, output_price, windows.get(model), None, "live", model)
        self._live = {**self._live, scope.lower(): merged}

    def price_for(self, provider_kind: str, model: str, *, provider: str | None = None) -> ModelPrice | None:
        """The price of `model` on a provider of `provider_kind` (named `provider`), or None when unknown."""
        override = self._override(provider_kind, model, provider)
        if override is not None:
            return override
        if provider_kind in LOCAL_KINDS:
            entry = self._table_entry(provider_kind, model)
            return ModelPrice(0.0, 0.0, entry.context if entry else None, entry.max_output if entry else None,
                              "local", entry.key if entry else "")
        live = self._live_price(provider_kind, model, provider)
        if live is not None:
            return live
        entry = self._table_entry(provider_kind, model)
        if entry is None or entry.input is None:
            return None
        return entry.as_price()

    def context_window(self, provider_kind: str, model: str, *, provider: str | None = None) -> int | None:
        """The model's context window in tokens when any source knows it."""
        price = self.price_for(provider_kind, model, provider=provider)
        if price is not None and price.context_window is not None:
            return price.context_window
        entry = self._table_entry(provider_kind, model)
        return entry.context if entry else None

    def cost_of(self, provider_kind: str, model: str, usage: Usage, *, provider: str | None = None) -> float | None:
        """USD for one call, or None when the model has no known price."""
        price = self.price_for(provider_kind, model, provider=provider)
        return None if price is None else cost(usage, price)

    def _override(self, kind: str, model: str, provider: str | None) -> ModelPrice | None:
        wanted = {canonical(spelling) for spelling in _spellings(model)}
        scopes = {kind.lower(), (provider or "").lower()}
        matching = [o for o in self._overrides if canonical(o.model) in wanted
                    and (o.provider is None or o.provider.lower() in scopes)]
        if not matching:
            return None
        # An override naming the provider beats one for every provider.
        best = min(matching, key=lambda o: o.provider is None)
        return ModelPrice(best.input_usd_per_mtok / 1_000_000, best.output_usd_per_mtok / 1_000_000,
                          best.context_window or self._context_only(kind, model), None, "override", best.model)

    def _context_only(self, kind: str, model: str) -> int | None:
        entry = self._table_entry(kind, model)
        return entry.context if entry else None

    def _live_price(self, kind: str, model: str, provider: str | None) -> ModelPrice | None:
        for scope in (provider, kind):
            table = self._live.get(scope.lower()) if scope else None
            if not table:
                continue
            for spelling in _spellings(model):
                hit = table.get(canonical(spelling))
                if hit is not None:
                    return hit
        return None

    def _table_entry(self, kind: str, model: str) -> _Entry | None:
        """Exact key (case-insensitive, with or without the kind's prefix), else the best entry sharing the
        canonical form of the name or of a shorter suffix: the kind's or vendor's own listing over resellers,
        then priced, then the exact spelling (a dated id keeps its own price), then the longest suffix."""
        bundle = self._bundle()
        name = model.strip().lower()
        prefix = _KEY_PREFIX_OF.get(kind, "")
        spellings = list(_spellings(name))
        for spelling in (name, _TAG.sub("", name)):
            for key in (spelling, prefix + spelling):
                entry = bundle.by_key.get(key)
                if entry is not None:
                    return entry
        preferred = set(_PROVIDERS_OF.get(kind, ()))
        for part in name.split("/")[:-1]:
            preferred.update(_PROVIDERS_OF.get(part, ()))
        best: tuple[tuple[bool, bool, bool, int, int, int, str], _Entry] | None = None
        for rank, spelling in enumerate(spellings):
            for entry in bundle.by_canonical.get(canonical(spelling), ()):
                exact = spelling in {alias.lower() for alias in _aliases(entry.key)}
                score = (entry.provider not in preferred, entry.input is None, not exact, rank,
                         entry.key.count("/"), len(entry.key), entry.key)
                if best is None or score < best[0]:
                    best = (score, entry)
        return best[1] if best else None
