"""`llmdeck sessions list|show|export`: the chat sessions kept in the ledger, from the console or `llmdeck chat`.

They read the ledger alone (no backend); a data dir without a ledger has no sessions, and nothing is created by
reading. Text a backend wrote (answers, titles, errors) reaches the terminal only made terminal-safe.

`export --out FILE` honours `auto_upload`: when the config has a dropbox provider whose auto_upload is `chats` or
`both`, the written file is uploaded to it and `uploaded to PROVIDER:PATH` said on stderr. The export is done once
the file is written: no config, or one that cannot be read, uploads nothing, and a failed upload is a warning on
stderr with exit status 0. An export to stdout is uploaded nowhere.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Callable
from pathlib import Path

from config.loader import ConfigError, load_config
from config.paths import data_dir, locate_config
from config.schema import ProviderConfig
from console.commands.output import print_json, print_table, write_document
from console.commands.session import fail
from console.exit_codes import EXIT_FAILED, EXIT_OK, EXIT_USAGE
from console.widgets.chat_turn import footer_line, status_line
from providers.adapters.dropbox_upload import account_of, upload_file
from providers.display import count
from providers.dropbox_autoupload import wants
from providers.errors import ProviderError
from providers.http import make_client
from providers.journal_notes import error_text
from providers.ledger import Ledger, LedgerError, UnknownSessionError
from providers.safe_text import one_line, terminal_safe
from providers.sessions import LoadedSession, find_session, load_session, session_document, session_facts

LEDGER_FILE = "ledger.sqlite3"


def _reading(action: Callable[[Ledger | None], int]) -> int:
    """Run `action` over the ledger (None when there is none yet); its failures as one line and an exit code."""
    path = data_dir() / LEDGER_FILE
    try:
        ledger = Ledger.open(path) if path.exists() else None
        try:
            return action(ledger)
        finally:
            if ledger is not None:
                ledger.close()
    except LedgerError as exc:
        return fail(str(exc), EXIT_FAILED)
    except UnknownSessionError as exc:
        return fail(str(exc), EXIT_USAGE)


def _load(ledger: Ledger | None, name_or_id: str) -> tuple[Ledger, LoadedSession]:
    if ledger is None:
        raise UnknownSessionError(f"no chat session with id or name {name_or_id!r}: no chat has been kept yet")
    return ledger, load_session(ledger, find_session(ledger, name_or_id).id)


def list_sessions(args: argparse.Namespace) -> int:
    def action(ledger: Ledger | None) -> int:
        records = ledger.list_sessions() if ledger is not None else []
        counts = ledger.turn_counts() if ledger is not None else {}
        rows = [session_facts(record, counts.get(record.id, 0)) for record in records]
        if args.json:
            print_json(rows)
            return EXIT_OK
        columns = ("id", "title", "target", "updated", "turns")
        print_table(columns, [[row[key] for key in columns] for row in rows])
        return EXIT_OK

    return _reading(action)


def transcript_text(loaded: LoadedSession) -> str:
    """The session as plain text: a heading, then each prompt and answer with the facts line under it."""
    record = loaded.record
    facts = [f"session {record.id}", *([f"target {record.target}"] if record.target else []),
             count(len(loaded.turns), "turn"), loaded.settings.describe()]
    lines = [f"# {one_line(record.title)}", one_line(" · ".join(facts)), ""]
    if record.system_prompt:
        lines += ["System:", record.system_prompt, ""]
    for turn in loaded.turns:
        lines += ["You:", turn.prompt, ""]
        if turn.answer is not None:
            lines += ["Assistant:", turn.answer]
            lines.append(f"  [{one_line(footer_line(turn.summary))}]")
        if mark := status_line(turn.summary):
            lines.append(f"  {one_line(mark)}")
        lines.append("")
    return "\n".join(lines)


def show_session(args: argparse.Namespace) -> int:
    def action(ledger: Ledger | None) -> int:
        _, loaded = _load(ledger, args.session)
        if args.json:
            print_json(session_document(loaded))
        else:
            sys.stdout.write(terminal_safe(transcript_text(loaded)))
        return EXIT_OK

    return _reading(action)


def export_session(args: argparse.Namespace) -> int:
    def action(ledger: Ledger | None) -> int:
        found, loaded = _load(ledger, args.session)
        if args.json or args.format == "json":
            text = json.dumps(session_document(loaded), indent=2) + "\n"
        else:  # read in a terminal too (`cat`, `less -R`): model text in it is made terminal-safe
            text = terminal_safe(found.session_markdown(loaded.record.id))
        problem = write_document(text, args.out)
        return fail(problem, EXIT_FAILED) if problem else EXIT_OK

    code = _reading(action)
    if code == EXIT_OK and args.out:
        upload_export(args, Path(args.out))
    return code


def _chat_dropboxes(args: argparse.Namespace) -> list[ProviderConfig]:
    """The dropbox providers whose auto_upload takes chats. No config file: none (nothing asked for an upload);
    one that cannot be read: none, with a warning, since its auto_upload may have asked."""
    location = locate_config(getattr(args, "config", None))
    if not location.path.exists():
        return []
    try:
        config = load_config(location.path)
    except ConfigError as exc:
        fail(f"warning: not uploaded: {location.path} has {count(len(exc.problems), 'problem')} "
             "(llmdeck config validate lists them)", EXIT_OK)
        return []
    return [provider for provider in config.providers if wants(provider, "chats")]


def upload_export(args: argparse.Namespace, path: Path) -> None:
    """Upload a written export to each dropbox provider whose auto_upload takes chats; say where, or why not."""
    providers = _chat_dropboxes(args)
    if providers:
        asyncio.run(_upload_to(providers, path))


async def _upload_to(providers: list[ProviderConfig], path: Path) -> None:
    async with make_client() as client:
        for provider in providers:
            try:
                uploaded = await upload_file(client, account_of(provider), path)
            except (ProviderError, OSError) as exc:  # the export is written: a warning, not a failure
                reason = one_line(error_text(exc))
                fail(f"warning: {provider.name}: upload failed: {reason} (the export stays in {path})", EXIT_OK)
                continue
            sys.stderr.write(f"uploaded to {one_line(provider.name)}:{one_line(uploaded.path)}\n")
