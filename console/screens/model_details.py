"""ModelDetailsScreen: what the backend says about one model (Ollama modelfile/params, vLLM max_model_len…), a
vector collection (records, dimension, metric) or an n8n workflow (its last executions)."""

from __future__ import annotations

from typing import ClassVar

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Label, Static

from providers.deck import Deck
from providers.display import byte_size, token_span
from providers.errors import ProviderError, UnknownProviderError
from providers.model_details import ModelSheet
from providers.safe_text import one_line, terminal_safe
from providers.service_details import CollectionStats, WorkflowRun

DETAIL_WORKERS = "model-details"


def sheet_facts(sheet: ModelSheet) -> list[tuple[str, str]]:
    """(label, value) lines of the facts every backend may state, in the backend's own words."""
    facts: list[tuple[str, str]] = [("provider", f"{sheet.provider} ({sheet.provider_kind})")]
    entry = sheet.entry
    if entry is None:
        facts.append(("catalog", "not listed by the provider"))
    else:
        facts += [("kind", entry.kind), ("state", sheet.state or "—")]
        if entry.context_length is not None:
            facts.append((sheet.context_name, f"{entry.context_length} ({token_span(entry.context_length)})"))
        for label, value in (("size", byte_size(entry.size_bytes) if entry.size_bytes else None),
                             ("quantization", entry.quantization), ("family", entry.family),
                             ("parameters", entry.parameter_size),
                             ("in VRAM", byte_size(entry.size_vram_bytes) if entry.size_vram_bytes else None),
                             ("expires", entry.expires_at)):
            if value:
                facts.append((label, value))
    if sheet.ollama is not None:
        details = sheet.ollama
        if details.architecture:
            facts.append(("architecture", details.architecture))
        if details.capabilities:
            facts.append(("capabilities", ", ".join(details.capabilities)))
    if sheet.collection is not None:
        facts += collection_facts(sheet.collection)
    if sheet.service_error:
        facts.append(("unreadable", sheet.service_error))
    can = [name for name in ("pull", "delete", "load", "unload", "switch_checkpoint")
           if getattr(sheet.capabilities, name)]
    if entry is not None and entry.kind == "workflow":  # what load and unload mean for a workflow, and their keys
        can = [{"load": "activate (w)", "unload": "deactivate (u)"}.get(name, name) for name in can]
    facts.append(("operations", ", ".join(can) or "none"))
    return facts


def collection_facts(stats: CollectionStats) -> list[tuple[str, str]]:
    """Records, then dimension and metric of the one vector, or of each named vector on a line of its own."""
    facts = [("records", "—" if stats.count is None else f"{stats.count:,}")]
    for space in stats.vectors:
        dimension = "—" if space.dimension is None else str(space.dimension)
        metric = space.metric or "—"
        if space.name is None:
            facts += [("dimension", dimension), ("metric", metric)]
        else:
            facts.append((f"vector {space.name}", f"dimension {dimension}, metric {metric}"))
    if not stats.vectors:
        facts.append(("vectors", "not stated"))
    return facts


def runs_text(runs: tuple[WorkflowRun, ...]) -> str:
    """One line per execution, newest first: id, status, mode, started and stopped times. Each field is made one
    safe line on its own, so no field can start a line that looks like another execution."""
    if not runs:
        return "no executions (n8n leaves running ones out)"
    rows = [tuple(one_line(value or "—") for value in (run.id, run.status, run.mode, run.started_at, run.stopped_at))
            for run in runs]
    header = ("id", "status", "mode", "started", "stopped")
    widths = [max(len(row[i]) for row in (header, *rows)) for i in range(len(header) - 1)]
    return "\n".join("  ".join([*(cell.ljust(width) for cell, width in zip(row, widths, strict=False)), row[-1]])
                     for row in (header, *rows))


def sheet_sections(sheet: ModelSheet) -> list[tuple[str, str]]:
    """Long texts (Ollama's parameters, template, modelfile, model_info), titled, empty ones left out."""
    if sheet.runs is not None:
        return [("Last executions", runs_text(sheet.runs))]
    details = sheet.ollama
    if details is None:
        return []
    info = "\n".join(f"{key}: {value}" for key, value in sorted(details.model_info.items()))
    sections = [("Parameters", details.parameters), ("Template", details.template),
                ("Modelfile", details.modelfile), ("model_info", info)]
    return [(title, text.strip()) for title, text in sections if text.strip()]


class ModelDetailsScreen(ModalScreen[None]):
    """Fetches the sheet in a worker; Esc or q closes."""

    CSS_PATH = "model_details.tcss"

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,q", "close", "Close", id="model-details-close"),
    ]

    def __init__(self, deck: Deck, provider: str, model: str) -> None:
        super().__init__()
        self.deck = deck
        self.provider = provider
        self.model = model
        self.sheet: ModelSheet | None = None

    def compose(self) -> ComposeResult:
        with Vertical(id="details-box"):
            yield Label(one_line(f"{self.provider} / {self.model}"), id="details-title", markup=False)
            yield VerticalScroll(id="details-body")

    def on_mount(self) -> None:
        body = self.query_one("#details-body", VerticalScroll)
        body.loading = True
        self.set_focus(body)
        self.load_sheet()

    @work(group=DETAIL_WORKERS, exit_on_error=False, exclusive=True)
    async def load_sheet(self) -> None:
        body = self.query_one("#details-body", VerticalScroll)
        try:
            sheet = await self.deck.model_details(self.provider, self.model)
        except (ProviderError, UnknownProviderError) as exc:
            body.loading = False
            await body.mount(Static(terminal_safe(f"Could not read the details: {exc}"), markup=False))
            return
        self.sheet = sheet
        body.loading = False
        width = max(len(label) for label, _ in sheet_facts(sheet))
        # Every value here is the backend's own words: one safe line each, the sections safe text.
        facts = "\n".join(f"{label:<{width}}  {one_line(value)}" for label, value in sheet_facts(sheet))
        widgets: list[Static] = [Static(facts, id="details-facts", markup=False)]
        for title, text in sheet_sections(sheet):
            widgets.append(Static(one_line(title), classes="details-heading", markup=False))
            widgets.append(Static(terminal_safe(text), classes="details-text", markup=False))
        await body.mount_all(widgets)

    def action_close(self) -> None:
        self.dismiss(None)
