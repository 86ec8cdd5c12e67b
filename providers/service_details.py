"""What the services beside the models tell about one catalog entry: a vector collection's size and vector spaces,
an n8n workflow's last executions. Adapters that can tell it implement the protocols; the details view asks them.

Every text here is the service's own words (names, statuses, metrics): callers show it as plain text only."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable

MAX_RUNS = 10
"""How many of a workflow's executions the details show (the newest)."""


@dataclass(frozen=True, slots=True)
class VectorSpace:
    """One vector of a collection: its name where the store names several (Qdrant's named vectors, Milvus's
    vector fields), its dimension and its distance metric, each None when the store does not say."""

    name: str | None
    dimension: int | None
    metric: str | None


@dataclass(frozen=True, slots=True)
class CollectionStats:
    """A vector collection: how many records it holds and its vector spaces."""

    count: int | None
    vectors: tuple[VectorSpace, ...]


@dataclass(frozen=True, slots=True)
class WorkflowRun:
    """One execution of a workflow as n8n lists it; None where n8n sent nothing usable."""

    id: str
    status: str | None
    mode: str | None
    started_at: str | None
    stopped_at: str | None


@runtime_checkable
class CollectionDescriber(Protocol):
    async def collection_stats(self, name: str) -> CollectionStats: ...


@runtime_checkable
class WorkflowHistory(Protocol):
    async def workflow_runs(self, name: str, limit: int = MAX_RUNS) -> list[WorkflowRun]: ...


MAX_WHOLE = 10**18
"""Above any real count or dimension: a larger number is a hostile or broken answer, shown as not stated."""


def whole_number(value: object) -> int | None:
    """A JSON value that is a whole number in 0..MAX_WHOLE (a count, a dimension), else None; Milvus sends numbers
    as strings ("768"), so digits in a string count too."""
    if isinstance(value, str) and value.isascii() and value.isdigit() and len(value) <= len(str(MAX_WHOLE)):
        value = int(value)
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= MAX_WHOLE:
        return value
    return None


def text_or_none(value: object) -> str | None:
    return value if isinstance(value, str) and value else None
