"""`llmdeck civitai search QUERY [--type checkpoint|lora]` and `llmdeck civitai download VERSION_ID --provider NAME`.

Both use the config's first civitai provider (its base_url, api_key and allow_nsfw); with none, CivitAI itself
without a key, NSFW hidden. Search prints one row per model: id, name, type, base models, downloads, and its
versions as `ID name` (the id is what download takes). Download puts the version's primary file into the image
provider's checkpoint_dir or lora_dir, checked against its SHA-256, then asks that provider to list it again.

Exit status: 0 done (a provider that does not list the file after its refresh is a warning on stderr, not a
failure: the file is in place); 1 when CivitAI fails or refuses (no key, a hash mismatch, a hostile file name);
2 for a provider that is not a1111/comfyui or has no folder for the model's type, or an unknown provider.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Awaitable, Callable
from typing import TypeVar

import httpx
from rich.console import Console
from rich.progress import BarColumn, DownloadColumn, Progress, TaskID, TextColumn, TimeRemainingColumn
from rich.table import Column

from config.schema import DeckConfig
from console.commands.output import print_json, print_json_line, print_table
from console.commands.session import CommandError, fail, load_cli_config
from console.exit_codes import EXIT_FAILED, EXIT_OK, EXIT_USAGE
from providers.adapters.civitai import CivitaiModel
from providers.civitai_download import AlreadyThereError, NoPlaceError, PlacedModel, download_version
from providers.display import number
from providers.downloads import DownloadProgress
from providers.errors import ProviderError
from providers.http import make_client
from providers.model_fetch import civitai_client, civitai_provider
from providers.safe_text import one_line

SEARCH_RESULTS = 20
T = TypeVar("T")


def _run(args: argparse.Namespace, work: Callable[[DeckConfig, httpx.AsyncClient], Awaitable[T]]) -> T | int:
    """`work` with the config and an HTTP client; its failures as one line and an exit code."""

    async def main() -> T:
        config = load_cli_config(args)
        async with make_client() as http:
            return await work(config, http)

    try:
        return asyncio.run(main())
    except CommandError as exc:
        return fail(str(exc), exc.code)
    except NoPlaceError as exc:
        return fail(str(exc), EXIT_USAGE)
    except (ProviderError, AlreadyThereError) as exc:
        return fail(str(exc), EXIT_FAILED)


def search(args: argparse.Namespace) -> int:
    async def work(config: DeckConfig, http: httpx.AsyncClient) -> list[CivitaiModel]:
        civitai = civitai_client(http, civitai_provider(config))
        return await civitai.search(args.query, model_type=args.type, limit=SEARCH_RESULTS,
                                    max_results=SEARCH_RESULTS)

    found = _run(args, work)
    if isinstance(found, int):
        return found
    if args.json:
        print_json([_model_document(model) for model in found])
    else:
        versions = Column("versions", max_width=60, overflow="fold")
        print_table(("id", Column("name", max_width=40, overflow="fold"), "type", "base model", "downloads",
                     versions), [_model_cells(model) for model in found])
    return EXIT_OK


def _model_document(model: CivitaiModel) -> dict[str, object]:
    return {
        "id": model.id, "name": model.name, "type": model.type, "nsfw": model.nsfw, "creator": model.creator,
        "downloads": model.downloads, "tags": list(model.tags),
        "versions": [{"id": v.id, "name": v.name, "base_model": v.base_model, "nsfw_level": v.nsfw_level,
                      "files": [{"name": f.name, "type": f.type, "primary": f.primary, "size_bytes": f.size_bytes,
                                 "sha256": f.sha256} for f in v.files]}
                     for v in model.versions]}


def _model_cells(model: CivitaiModel) -> tuple[object, ...]:
    bases = dict.fromkeys(v.base_model for v in model.versions if v.base_model)
    return (model.id, model.name, model.type, ", ".join(bases), number(model.downloads),
            "; ".join(f"{v.id} {v.name}" for v in model.versions))


def download(args: argparse.Namespace) -> int:
    progress = _ProgressShown(json_lines=args.json, version_id=args.version_id)

    async def work(config: DeckConfig, http: httpx.AsyncClient) -> PlacedModel:
        target = next((p for p in config.providers if p.name == args.provider), None)
        if target is None:
            known = ", ".join(p.name for p in config.providers) or "none"
            raise CommandError(f"unknown provider {args.provider!r}; configured: {known}", EXIT_USAGE)
        civitai = civitai_client(http, civitai_provider(config))
        with progress:
            return await download_version(civitai, args.version_id, target, progress=progress.step)

    try:
        placed = _run(args, work)
    except KeyboardInterrupt:
        return fail(f"download of version {args.version_id} cancelled; run it again to resume", 130)
    if isinstance(placed, int):
        return placed
    if args.json:
        print_json_line({"event": "done", "version_id": placed.version_id, "provider": placed.provider,
                         "model_type": placed.model_type, "path": str(placed.path), "size_bytes": placed.size,
                         "sha256": placed.sha256, "already_present": placed.already_present,
                         "listed": placed.listed, "refresh_problem": placed.refresh_problem})
    else:
        how = "already in place" if placed.already_present else "downloaded"
        sys.stdout.write(one_line(f"{how}: {placed.path} (sha256 {placed.sha256})") + "\n")
    if placed.refresh_problem is not None:
        sys.stderr.write(f"llmdeck: warning: {one_line(placed.refresh_problem)}\n")
    return EXIT_OK


class _ProgressShown:
    """Progress as JSON lines on stdout (--json), as a bar on stderr when that is a terminal, else not at all."""

    def __init__(self, *, json_lines: bool, version_id: int) -> None:
        self.json_lines = json_lines
        self.version_id = version_id
        self.bar: Progress | None = None
        self.task: TaskID | None = None
        if not json_lines and sys.stderr.isatty():
            self.bar = Progress(TextColumn("{task.description}", markup=False), BarColumn(), DownloadColumn(),
                                TimeRemainingColumn(), console=Console(stderr=True))

    def __enter__(self) -> _ProgressShown:
        if self.bar is not None:
            self.bar.start()
            self.task = self.bar.add_task(f"version {self.version_id}", total=None)
        return self

    def __exit__(self, *exc: object) -> None:
        if self.bar is not None:
            self.bar.stop()

    def step(self, step: DownloadProgress) -> None:
        if self.json_lines:
            print_json_line({"event": "progress", "version_id": self.version_id, "done_bytes": step.done_bytes,
                             "total_bytes": step.total_bytes, "resumed_from": step.resumed_from})
        elif self.bar is not None and self.task is not None:
            self.bar.update(self.task, completed=step.done_bytes, total=step.total_bytes)
