"""`:civitai [--lora|--checkpoint] [--base MODEL] QUERY`: CivitAI checkpoints and LoRAs, a model's versions with
their primary file, and a version downloaded into an AUTOMATIC1111 or ComfyUI provider's checkpoint_dir or
lora_dir (a download in the pull queue), checked against CivitAI's SHA-256, then that server asked to list it.
CivitAI's address, key and NSFW choice are the civitai provider's, as for `llmdeck civitai`; NSFW models are hidden
unless it allows them."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, ClassVar

from config.schema import ProviderConfig
from console.panes.models_dialogs import confirm_download
from console.screens.source_browser import Listing, SourceBrowser
from console.widgets.column_fit import ColumnSpec
from console.widgets.keyed_table import plain
from providers.adapters.civitai import LORA_TYPES, CivitaiClient, CivitaiModel, CivitaiVersion, safe_file_name
from providers.civitai_download import IMAGE_KINDS, NoPlaceError, destination_dir
from providers.deck import Deck
from providers.display import byte_size, number
from providers.downloads import safe_destination
from providers.errors import BadRequestError
from providers.model_fetch import civitai_download_stream

if TYPE_CHECKING:
    from console.app import DeckApp

SEARCH_RESULTS = 30


@dataclass(frozen=True, slots=True)
class CivitaiQuery:
    """What `:civitai` was asked: words, and optionally a type (checkpoint, lora) and a base model."""

    words: str
    model_type: str | None = None
    base_model: str | None = None

    @classmethod
    def parse(cls, args: list[str]) -> CivitaiQuery:
        """`--lora`, `--checkpoint` and `--base NAME` anywhere among the words; BadRequestError for any other
        option or a `--base` without a name."""
        words: list[str] = []
        model_type: str | None = None
        base: str | None = None
        rest = iter(args)
        for word in rest:
            if word in ("--lora", "--checkpoint"):
                model_type = word.removeprefix("--")
            elif word == "--base":
                base = next(rest, None)
                if base is None:
                    raise BadRequestError("--base needs a base model, e.g. --base SDXL")
            elif word.startswith("--"):
                raise BadRequestError(f"unknown option {word}: :civitai [--lora|--checkpoint] [--base MODEL] QUERY")
            else:
                words.append(word)
        return cls(" ".join(words), model_type, base)

    def describe(self) -> str:
        kind = {"lora": "LoRAs", "checkpoint": "checkpoints"}.get(self.model_type or "", "checkpoints and LoRAs")
        base = f" for {self.base_model}" if self.base_model else ""
        return f"{kind}{base}: {self.words or 'everything'}"


def civitai_targets(deck: Deck, version: CivitaiVersion) -> list[tuple[str, str]]:
    """(provider, where) for each image server with a folder for this version's type."""
    targets: list[tuple[str, str]] = []
    for name, provider in deck.providers.items():
        if provider.kind not in IMAGE_KINDS:
            continue
        try:
            folder = destination_dir(provider, version)
        except NoPlaceError:
            continue
        on = f" on {provider.host}" if provider.host else ""
        targets.append((name, f"into {folder}{on}"))
    return targets


def refresh_call(provider: ProviderConfig, lora: bool) -> str:
    """How the image server is asked to see the new file, as the call it is."""
    base = (provider.base_url or "").rstrip("/")
    if provider.kind == "a1111":
        return f"POST {base}/sdapi/v1/refresh-{'loras' if lora else 'checkpoints'}"
    return f"GET {base}/object_info/{'LoraLoader' if lora else 'CheckpointLoaderSimple'}"


class CivitaiBrowser(SourceBrowser):
    SOURCE = "CivitAI"
    RESULT_COLUMNS: ClassVar[tuple[ColumnSpec, ...]] = (
        ColumnSpec("name", "Model", 44, min_width=16, cut_middle=True),
        ColumnSpec("type", "Type", 10),
        ColumnSpec("base", "Base model", 16, priority=1, min_width=8),
        ColumnSpec("downloads", "Downloads", 10, short="DL"),
        ColumnSpec("creator", "Creator", 16, priority=2),
    )
    ITEM_COLUMNS: ClassVar[tuple[ColumnSpec, ...]] = (
        ColumnSpec("version", "Version", 24, min_width=8),
        ColumnSpec("base", "Base model", 14, priority=1, min_width=8),
        ColumnSpec("file", "File", 44, min_width=28, cut_middle=True),
        ColumnSpec("size", "Size", 10),
        ColumnSpec("id", "Id", 9, priority=2),
    )

    def __init__(self, deck: Deck, query: CivitaiQuery) -> None:
        super().__init__(deck, query.describe())
        self.search_query = query
        self.models: dict[str, CivitaiModel] = {}

    def civitai(self) -> CivitaiClient:
        return self.deck.civitai()

    async def list_results(self) -> Listing:
        query = self.search_query
        found = await self.civitai().search(query.words, model_type=query.model_type, base_model=query.base_model,
                                            limit=SEARCH_RESULTS, max_results=SEARCH_RESULTS)
        self.models = {str(m.id): m for m in found}
        rows = [(str(m.id), (plain(m.name), plain(m.type), plain(_bases(m)), number(m.downloads), plain(m.creator)))
                for m in found]
        return rows, {str(m.id): (m.name.casefold(), m.type, _bases(m), m.downloads, m.creator.casefold())
                      for m in found}

    async def list_items(self, result: str) -> Listing:
        model = self.models[result]
        rows = []
        for version in model.versions:
            file = next((f for f in version.files if f.primary), version.files[0] if version.files else None)
            size = file.size_bytes if file else None
            rows.append((str(version.id), (plain(version.name), plain(version.base_model),
                                           plain(file.name if file else "no file"),
                                           "" if size is None else byte_size(size), str(version.id))))
        return rows, {str(v.id): (v.name.casefold(), v.base_model, "", 0, v.id) for v in model.versions}

    def items_said(self, result: str, count: int) -> str:
        return f"{self.models[result].name}: {count} versions · enter downloads one"

    async def pick(self, result: str, item: str) -> None:
        app: DeckApp = self.app  # type: ignore[assignment]
        model = self.models[result]
        version = next(v for v in model.versions if str(v.id) == item)
        if not version.model_type:  # the search's version carries its model's type only in the version call
            version = replace(version, model_id=model.id, model_name=model.name, model_type=model.type)
        targets = civitai_targets(self.deck, version)
        if not targets:
            kind = "lora_dir" if version.model_type in LORA_TYPES else "checkpoint_dir"
            self.say(f"nowhere to put a {version.model_type or 'model'}: give an a1111 or comfyui provider `{kind}:`")
            return
        provider = await self.choose_target(f"{model.name} {version.name}", targets)
        if provider is None:
            return
        config = self.deck.providers[provider]
        chosen = version.primary_file()
        folder = destination_dir(config, version)
        dest = safe_destination(folder, safe_file_name(chosen.name))
        civitai = self.civitai()
        url = chosen.download_url or version.download_url or f"{civitai.base_url}/download/models/{version.id}"
        call = (f"GET {url}\n  → {dest}" + (f"  (sha256 {chosen.sha256})" if chosen.sha256 else "")
                + f"\nthen {refresh_call(config, version.model_type in LORA_TYPES)}")
        if await app.push_screen_wait(confirm_download(self.deck, provider, f"{model.name} {version.name}", call,
                                                       folder, chosen.size_bytes)):
            deck_config, target = self.deck.config, config
            self.downloaded(provider, f"civitai:{chosen.name}",
                                  lambda: civitai_download_stream(deck_config, version.id, target))


def _bases(model: CivitaiModel) -> str:
    return ", ".join(dict.fromkeys(v.base_model for v in model.versions if v.base_model))
