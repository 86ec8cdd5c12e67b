"""ModelDetailsScreen: what the backend says about one model (Ollama modelfile/params, vLLM max_model_len…)."""

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
    can = [name for name in ("pull", "delete", "load", "unload", "switch_checkpoint")
           if getattr(sheet.capabilities, name)]
    facts.append(("operations", ", ".join(can) or "none"))
    return facts


def sheet_sections(sheet: ModelSheet) -> list[tuple[str, str]]:
    """Long texts (Ollama's parameters, template, modelfile, model_info), titled, empty ones left out."""
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
