"""`llmdeck upload PROVIDER FILE… [--json]`: upload local files into a dropbox provider's `upload_folder`.

A PNG is followed by its JSON sidecar when one lies beside it (the parameters an image was made with). Files go
one after another, in mode `add` with autorename: nothing already in Dropbox is replaced, and the local files are
only read. One row per file: the local file, its Dropbox path (after any autorename), its size and Dropbox's
content hash. `--json` prints one document: a list of {file, path, size, content_hash}.

Exit status: 0 when every file is uploaded; 1 when one failed (a full account, a refused token, Dropbox
unreachable), after the rows of those already uploaded, with one line on stderr saying why; 2 for a provider that
is not configured or not a dropbox, or a file that does not exist.
"""

from __future__ import annotations

import argparse
import asyncio
from pathlib import Path

from rich.table import Column

from config.schema import ProviderConfig
from console.commands.output import print_json, print_table
from console.commands.session import CommandError, fail, load_cli_config
from console.exit_codes import EXIT_FAILED, EXIT_OK, EXIT_USAGE
from providers.adapters.dropbox_upload import UploadedFile, account_of, upload_file, with_sidecars
from providers.display import byte_size
from providers.errors import ProviderError
from providers.http import make_client

HEADINGS = (Column("file", overflow="fold"), Column("dropbox path", overflow="fold"), "size",
            Column("content hash", max_width=20, no_wrap=True, overflow="ellipsis"))


def _provider(args: argparse.Namespace) -> ProviderConfig:
    providers = {p.name: p for p in load_cli_config(args).providers}
    provider = providers.get(args.provider)
    if provider is None:
        dropboxes = sorted(name for name, p in providers.items() if p.kind == "dropbox")
        raise CommandError(f"unknown provider {args.provider!r}; dropbox providers: {', '.join(dropboxes) or 'none'}",
                           EXIT_USAGE)
    if provider.kind != "dropbox":
        raise CommandError(f"{provider.name} (kind {provider.kind}) is not a dropbox provider", EXIT_USAGE)
    return provider


def _files(names: list[str]) -> list[Path]:
    files = [Path(name) for name in names]
    for path in files:
        if not path.is_file():
            raise CommandError(f"{path}: no such file", EXIT_USAGE)
    return with_sidecars(files)


async def _upload(provider: ProviderConfig, files: list[Path], done: list[UploadedFile]) -> None:
    account = account_of(provider)
    async with make_client() as client:
        for path in files:
            done.append(await upload_file(client, account, path))


def run(args: argparse.Namespace) -> int:
    done: list[UploadedFile] = []
    failure: str | None = None
    try:
        provider = _provider(args)
        asyncio.run(_upload(provider, _files(args.files), done))
    except CommandError as exc:
        return fail(str(exc), exc.code)
    except ProviderError as exc:  # a full account, a refused token: one line saying which and why
        failure = f"{exc.provider or args.provider}: {exc.brief}"
    except OSError as exc:
        failure = f"cannot read {exc.filename or 'a file'}: {exc.strerror or exc}"
    if args.json:
        print_json([{"file": str(item.local), "path": item.path, "size": item.size,
                     "content_hash": item.content_hash} for item in done])
    elif done or failure is None:
        print_table(HEADINGS, [(str(item.local), item.path, byte_size(item.size), item.content_hash or "")
                               for item in done])
    return fail(failure, EXIT_FAILED) if failure is not None else EXIT_OK
