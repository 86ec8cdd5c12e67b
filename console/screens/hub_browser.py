"""`:hub QUERY`: GGUF repositories of the Hugging Face Hub, a repository's files, and a file downloaded where it is
served: into a llamacpp provider's `models_dir` (a download in the pull queue) or handed to an Ollama provider as
its own pull of `hf.co/OWNER/REPO:QUANT`. The Hub's address and key are the huggingface provider's, as for
`llmdeck hub`."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

from console.panes.models_dialogs import confirm_download, confirm_pull
from console.screens.source_browser import Listing, SourceBrowser
from console.widgets.column_fit import ColumnSpec
from console.widgets.keyed_table import plain
from providers.adapters.hf_hub import SEARCH_FIELDS, HubClient, HubFile
from providers.deck import Deck
from providers.display import byte_size, number
from providers.downloads import safe_destination
from providers.model_fetch import hub_access, hub_download_stream

if TYPE_CHECKING:
    from console.app import DeckApp

SEARCH_RESULTS = 50


def hub_targets(deck: Deck, hub_file: HubFile) -> list[tuple[str, str]]:
    """(provider, where) for each provider this file can land on: a llamacpp provider's models_dir, or an Ollama
    provider for a GGUF file that names its quantisation (Ollama pulls `hf.co/REPO:QUANT` itself)."""
    targets: list[tuple[str, str]] = []
    for name, provider in deck.providers.items():
        on = f" on {provider.host}" if provider.host else ""
        if provider.kind == "llamacpp" and provider.models_dir:
            targets.append((name, f"into {provider.models_dir}{on}"))
        elif provider.kind == "ollama" and hub_file.is_gguf and hub_file.quantization:
            targets.append((name, f"Ollama pulls it itself{on}"))
    return targets


class HubBrowser(SourceBrowser):
    SOURCE = "Hugging Face Hub"
    RESULT_COLUMNS: ClassVar[tuple[ColumnSpec, ...]] = (
        ColumnSpec("repo", "Repository", 56, min_width=36, cut_middle=True),
        ColumnSpec("downloads", "Downloads", 10, short="DL"),
        ColumnSpec("likes", "Likes", 6, priority=2),
        ColumnSpec("updated", "Updated", 10, priority=1),
        ColumnSpec("gated", "Gated", 5, priority=1),
    )
    ITEM_COLUMNS: ClassVar[tuple[ColumnSpec, ...]] = (
        ColumnSpec("file", "File", 60, min_width=36, cut_middle=True),
        ColumnSpec("size", "Size", 10),
        ColumnSpec("quant", "Quant", 8, priority=1),
        ColumnSpec("sha256", "SHA-256", 14, priority=2, sortable=False),
    )

    def __init__(self, deck: Deck, query: str) -> None:
        super().__init__(deck, query)
        self.access = hub_access(deck.config)
        self.files: dict[str, HubFile] = {}

    def hub(self) -> HubClient:
        return self.deck.hub()

    async def list_results(self) -> Listing:
        found = await self.hub().search(self.search_text, filter_tag="gguf", limit=SEARCH_RESULTS,
                                        max_results=SEARCH_RESULTS, expand=SEARCH_FIELDS)
        rows = [(m.id, (plain(m.id), number(m.downloads), number(m.likes), plain((m.last_modified or "")[:10]),
                        "gated" if m.gated else "")) for m in found]
        return rows, {m.id: (m.id.casefold(), m.downloads, m.likes, m.last_modified or "", m.gated) for m in found}

    async def list_items(self, result: str) -> Listing:
        listed = await self.hub().list_files(result)
        shown = sorted(listed, key=lambda f: (not f.is_gguf, f.path))  # what can be served first
        self.files = {f.path: f for f in shown}
        rows = [(f.path, (plain(f.path), "" if f.size is None else byte_size(f.size),
                          plain(f.quantization or "") if f.is_gguf else "", plain((f.lfs_sha256 or "")[:12])))
                for f in shown]
        return rows, {f.path: (f.path.casefold(), f.size or 0, f.quantization or "", "") for f in shown}

    async def pick(self, result: str, item: str) -> None:
        app: DeckApp = self.app  # type: ignore[assignment]
        if app.readonly:
            self.say("read-only console: downloads are disabled")
            return
        hub_file = self.files[item]
        targets = hub_targets(self.deck, hub_file)
        if not targets:
            self.say("nowhere to put it: give a llamacpp provider `models_dir:`, or pull a GGUF file that names its "
                     "quantisation onto an Ollama provider")
            return
        provider = await self.choose_target(hub_file.path, targets)
        if provider is None:
            return
        config = self.deck.providers[provider]
        if config.kind == "ollama":
            model = f"hf.co/{result}:{hub_file.quantization}"
            if await app.push_screen_wait(confirm_pull(self.deck, provider, model, hub_file.size)):
                self.downloaded(provider, model, None)
            return
        directory = Path(config.models_dir or "")
        dest = safe_destination(directory, hub_file.path)
        call = f"GET {self.hub().download_url(result, hub_file.path)}\n  → {dest}"
        if hub_file.lfs_sha256:
            call += f"  (sha256 {hub_file.lfs_sha256})"
        if await app.push_screen_wait(confirm_download(self.deck, provider, hub_file.path, call, directory,
                                                       hub_file.size)):
            access = self.access
            self.downloaded(provider, f"hub:{hub_file.path.rsplit('/', 1)[-1]}",
                                  lambda: hub_download_stream(access, result, hub_file.path, directory))
