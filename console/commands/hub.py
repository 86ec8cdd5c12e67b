"""`llmdeck hub search|files|download`: find GGUF models on the Hugging Face Hub and fetch them where they are used.

The Hub's address is the `huggingface` provider's `hub_url` (else https://huggingface.co) and its key that
provider's `api_key`, sent only when the key resolves (public repositories need none). A download goes into --to
DIR, a llamacpp provider's `models_dir`, or, for an ollama provider, becomes that server's own pull of
`hf.co/OWNER/REPO:QUANT`. Downloads resume: an interrupted one keeps FILE.part and continues from it next time.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn, TransferSpeedColumn

from config.schema import DeckConfig, ProviderConfig
from console.commands.output import print_json, print_json_line, print_table
from console.commands.session import CommandError, fail, load_cli_config
from console.exit_codes import EXIT_FAILED, EXIT_OK, EXIT_USAGE
from providers.adapters.hf_hub import SEARCH_FIELDS, HubClient, HubFile
from providers.display import byte_size, number
from providers.downloads import DownloadProgress, DownloadResult, safe_destination
from providers.errors import BadRequestError, NotFoundError, ProviderError, RateLimitedError
from providers.model_fetch import HubAccess, hub_access, hub_client, hub_client_session, hub_download
from providers.safe_text import one_line

SEARCH_RESULTS = 50
JSON_PROGRESS_EVERY_S = 0.5
"""At most one JSON progress line per this many seconds (plus the first and the last): a script gets a steady
trickle, not one line per megabyte."""



def _run(args: argparse.Namespace, operation: Callable[[HubClient, HubAccess], Awaitable[int]]) -> int:
    try:
        access = hub_access(load_cli_config(args))

        async def main() -> int:
            async with hub_client_session() as client:
                return await operation(hub_client(client, access), access)

        return asyncio.run(main())
    except CommandError as exc:
        return fail(str(exc), exc.code)
    except RateLimitedError as exc:
        wait = f"; the Hub asks to wait {number(exc.retry_after)} s" if exc.retry_after is not None else ""
        return fail(f"rate limited by the Hub{wait}: {exc.brief}", EXIT_FAILED)
    except NotFoundError as exc:  # before BadRequestError, whose subclass it is: a missing repo is no usage error
        return fail(str(exc), EXIT_FAILED)
    except BadRequestError as exc:
        return fail(str(exc), EXIT_USAGE)
    except ProviderError as exc:
        return fail(str(exc), EXIT_FAILED)


def search(args: argparse.Namespace) -> int:
    async def operation(hub: HubClient, _access: HubAccess) -> int:
        models = await hub.search(args.query, filter_tag="gguf" if args.gguf else None, limit=SEARCH_RESULTS,
                                  max_results=SEARCH_RESULTS, expand=SEARCH_FIELDS)
        if args.json:
            print_json([{"repo": m.id, "downloads": m.downloads, "likes": m.likes, "updated": m.last_modified,
                         "gated": m.gated, "gguf": "gguf" in m.tags} for m in models])
        else:
            print_table(("repo", "downloads", "likes", "updated", "gated"),
                        [(m.id, m.downloads, m.likes, (m.last_modified or "")[:10], "gated" if m.gated else "")
                         for m in models])
        return EXIT_OK

    return _run(args, operation)


def files(args: argparse.Namespace) -> int:
    async def operation(hub: HubClient, _access: HubAccess) -> int:
        listed = await hub.list_files(args.repo)
        if args.json:
            print_json([{"path": f.path, "size": f.size, "quant": f.quantization if f.is_gguf else None,
                         "sha256": f.lfs_sha256} for f in listed])
        else:
            print_table(("path", "size", "quant", "sha256"),
                        [(f.path, "" if f.size is None else byte_size(f.size), f.quantization if f.is_gguf else "",
                          f.lfs_sha256 or "") for f in listed])
        return EXIT_OK

    return _run(args, operation)


def download(args: argparse.Namespace) -> int:
    try:
        config = load_cli_config(args)
        provider = _provider(config, args.provider) if args.provider else None
        if provider is not None and provider.kind == "ollama":
            return _pull_on_ollama(args, provider)
        directory = _directory(args, provider)
        safe_destination(directory, args.file)
    except CommandError as exc:
        return fail(str(exc), exc.code)
    except BadRequestError as exc:
        return fail(str(exc), EXIT_USAGE)

    async def operation(hub: HubClient, access: HubAccess) -> int:
        result = await _download_shown(hub, access, args, directory)
        if args.json:
            print_json_line({"repo": args.repo, "file": args.file, "path": str(result.path), "size": result.size,
                             "sha256": result.sha256, "resumed_from": result.resumed_from, "done": True})
        else:
            resumed = f", resumed at {byte_size(result.resumed_from)}" if result.resumed_from else ""
            sys.stdout.write(one_line(f"downloaded {args.repo}/{args.file} to {result.path} "
                                      f"({byte_size(result.size)}, sha256 {result.sha256}{resumed})") + "\n")
        return EXIT_OK

    try:
        return _run(args, operation)
    except KeyboardInterrupt:
        return fail(f"download of {args.file} cancelled; the partial file is kept, run the same command again to "
                    "resume", 130)


async def _download_shown(hub: HubClient, access: HubAccess, args: argparse.Namespace,
                          directory: Path) -> DownloadResult:
    """The download with its progress as JSON lines (--json) or a bar on a terminal."""
    report = _json_progress(args) if args.json else None
    with _progress_bar(args.file) as bar:
        def progress(step: DownloadProgress) -> None:
            if report is not None:
                report(step)
            if bar is not None:
                bar(step)

        return await hub_download(hub, access, args.repo, args.file, directory, progress=progress,
                                  resume_hint="run the same command again to resume")


def _json_progress(args: argparse.Namespace) -> Callable[[DownloadProgress], None]:
    last = [0.0]

    def report(step: DownloadProgress) -> None:
        now = time.monotonic()
        final = step.total_bytes is not None and step.done_bytes >= step.total_bytes
        if not final and now - last[0] < JSON_PROGRESS_EVERY_S:
            return
        last[0] = now
        print_json_line({"repo": args.repo, "file": args.file, "done_bytes": step.done_bytes,
                         "total_bytes": step.total_bytes, "resumed_from": step.resumed_from})

    return report


class _progress_bar:  # noqa: N801 - used as a context manager, named as one
    """A Rich bar on stderr when stderr is a terminal; nothing otherwise (a log wants no redraws)."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.progress: Progress | None = None

    def __enter__(self) -> Callable[[DownloadProgress], None] | None:
        if not sys.stderr.isatty():
            return None
        columns = (TextColumn("{task.description}", markup=False), BarColumn(), DownloadColumn(),
                   TransferSpeedColumn(), TimeRemainingColumn())
        progress = Progress(*columns, console=Console(stderr=True))
        progress.start()
        self.progress = progress
        task = progress.add_task(one_line(self.name), total=None)

        def update(step: DownloadProgress) -> None:
            progress.update(task, total=step.total_bytes, completed=step.done_bytes)

        return update

    def __exit__(self, *exc: object) -> None:
        if self.progress is not None:
            self.progress.stop()


def _provider(config: DeckConfig, name: str) -> ProviderConfig:
    provider = next((p for p in config.providers if p.name == name), None)
    if provider is None:
        configured = ", ".join(sorted(p.name for p in config.providers)) or "none"
        raise CommandError(f"unknown provider {name!r}; configured: {configured}", EXIT_USAGE)
    if provider.kind not in ("llamacpp", "ollama"):
        raise CommandError(f"{name} is kind {provider.kind}: hub download goes into a llamacpp provider's "
                           "models_dir or an ollama provider's pull", EXIT_USAGE)
    return provider


def _directory(args: argparse.Namespace, provider: ProviderConfig | None) -> Path:
    if provider is None:
        return Path(args.to).expanduser() if args.to else Path.cwd()
    if not provider.models_dir:
        raise CommandError(f"{provider.name} has no models_dir: set `models_dir:` on it, or use --to DIR", EXIT_USAGE)
    return Path(provider.models_dir)


def _pull_on_ollama(args: argparse.Namespace, provider: ProviderConfig) -> int:
    """Ollama fetches GGUF repositories itself: `hf.co/OWNER/REPO:QUANT` is handed to its pull."""
    hub_file = HubFile(args.file)
    if not hub_file.is_gguf or hub_file.quantization is None:
        return fail(f"Ollama pulls hf.co/{args.repo}:QUANT, and {args.file!r} names no quantisation of a GGUF "
                    "file (such as Q4_K_M)", EXIT_USAGE)
    from console.commands.ops import pull  # the Deck's pull, its progress and its output, as `llmdeck pull`

    model = f"hf.co/{args.repo}:{hub_file.quantization}"
    return pull(argparse.Namespace(**{**vars(args), "provider": provider.name, "model": model}))
