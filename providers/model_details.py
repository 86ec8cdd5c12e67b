"""What one model looks like from its backend (catalog entry, Ollama's /api/show, a vector collection's size and
vectors, an n8n workflow's last executions), and checkpoint switching."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from providers.adapters.ollama_parse import ModelDetails
from providers.base import Adapter, Capabilities, ModelInfo
from providers.errors import ProviderError, UnsupportedError
from providers.service_details import (
    MAX_RUNS,
    CollectionDescriber,
    CollectionStats,
    WorkflowHistory,
    WorkflowRun,
)

CONTEXT_NAMES: dict[str, str] = {
    "vllm": "max_model_len",
    "llamacpp": "n_ctx",
    "lmstudio": "max_context_length",
    "ollama": "context_length",
}
"""What each backend calls the context figure it reports, so the details view uses the operator's word for it."""


@dataclass(frozen=True, slots=True)
class ModelSheet:
    """Everything the backend tells about one model. `entry` is None when the model is not in its catalog."""

    provider: str
    provider_kind: str
    model: str
    entry: ModelInfo | None
    ollama: ModelDetails | None
    """Ollama's /api/show answer: modelfile, parameters, template, capabilities."""
    context_name: str
    capabilities: Capabilities
    collection: CollectionStats | None = None
    """A vector collection's count, dimension and metric."""
    runs: tuple[WorkflowRun, ...] | None = None
    """An n8n workflow's newest executions, newest first."""
    service_error: str | None = None
    """Why the collection or the executions could not be read (the catalog entry still shows)."""

    @property
    def state(self) -> str | None:
        """LM Studio / llama.cpp / A1111 speak of a model's state, n8n of a workflow's; None when the backend does
        not say."""
        if self.entry is None:
            return None
        if self.entry.kind == "workflow":  # n8n's own words for it
            return "active" if self.entry.loaded else "inactive"
        return "loaded" if self.entry.loaded else "not-loaded"


@runtime_checkable
class CheckpointSwitcher(Protocol):
    async def switch_checkpoint(self, title: str) -> None: ...


@runtime_checkable
class ModelShower(Protocol):
    async def show(self, model: str) -> ModelDetails: ...


async def model_sheet(adapter: Adapter, model: str) -> ModelSheet:
    """The catalog entry of `model`, plus /api/show where the adapter has it. Provider errors propagate."""
    listing = await adapter.list_models()
    entry = next((m for m in listing if m.name == model), None)
    details = await adapter.show(model) if isinstance(adapter, ModelShower) else None
    collection: CollectionStats | None = None
    runs: tuple[WorkflowRun, ...] | None = None
    service_error: str | None = None
    try:
        if entry is not None and entry.kind == "collection" and isinstance(adapter, CollectionDescriber):
            collection = await adapter.collection_stats(model)
        elif entry is not None and entry.kind == "workflow" and isinstance(adapter, WorkflowHistory):
            runs = tuple(await adapter.workflow_runs(model, MAX_RUNS))
    except ProviderError as exc:  # e.g. a key without the executions scope: the rest of the sheet still helps
        service_error = str(exc)
    return ModelSheet(
        provider=adapter.name, provider_kind=adapter.kind, model=model, entry=entry, ollama=details,
        context_name=CONTEXT_NAMES.get(adapter.kind, "context window"), capabilities=adapter.capabilities,
        collection=collection, runs=runs, service_error=service_error,
    )


async def switch_checkpoint(adapter: Adapter, model: str) -> None:
    """Make `model` the active image checkpoint; UnsupportedError where the backend has no such switch."""
    if not adapter.capabilities.switch_checkpoint or not isinstance(adapter, CheckpointSwitcher):
        raise UnsupportedError(f"{adapter.kind} has no checkpoint to switch", provider=adapter.name)
    await adapter.switch_checkpoint(model)
