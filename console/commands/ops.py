"""Headless commands over the Deck: health, models, chat, route explain, pull, delete, unload, restart, image."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table
from rich.text import Text

from console.commands.chat_stop import ChatStop
from console.commands.session import CommandError, fail, open_deck
from console.exit_codes import EXIT_FAILED, EXIT_OK, EXIT_USAGE
from providers.base import ChatRequest, ImageProgress, ImageRequest, Message
from providers.chat_settings import ChatSettings
from providers.deck import Deck
from providers.errors import ProviderError, StreamBrokenError, UnknownProviderError
from providers.ledger import UnknownSessionError
from providers.router import RouteFailedError, UnknownTargetError
from providers.safe_text import TerminalSafeStream, one_line, terminal_safe
from providers.sessions import SessionPick, pick_session
from providers.turns import TurnPlan

Operation = Callable[[Deck], Awaitable[int]]


def _run(args: argparse.Namespace, operation: Operation) -> int:
    async def main() -> int:
        async with open_deck(args) as deck:
            return await operation(deck)

    try:
        return asyncio.run(main())
    except CommandError as exc:
        return fail(str(exc), exc.code)
    except UnknownTargetError as exc:
        return fail(str(exc), EXIT_USAGE)
    except UnknownProviderError as exc:
        return fail(str(exc), EXIT_USAGE)
    except ProviderError as exc:
        return fail(str(exc), EXIT_FAILED)


def _cell(value: object) -> Text:
    """A table cell from a backend or config value: one terminal-safe line, never read as Rich markup."""
    return Text(one_line("" if value is None else str(value)))


def _print_json(document: object) -> None:
    sys.stdout.write(json.dumps(document, indent=2) + "\n")


def health(args: argparse.Namespace) -> int:
    async def operation(deck: Deck) -> int:
        results = await deck.health_all()
        rows = [
            {"name": name, "kind": deck.providers[name].kind, "status": h.status,
             "latency_ms": None if h.latency_ms is None else round(h.latency_ms, 1), "version": h.version,
             "models_loaded": list(h.models_loaded), "detail": h.detail}
            for name, h in results.items()
        ]
        if args.json:
            _print_json(rows)
        else:
            table = Table("provider", "kind", "status", "latency", "version", "loaded", "detail", box=None)
            for name, h in results.items():
                latency = "" if h.latency_ms is None else f"{h.latency_ms:.0f} ms"
                table.add_row(_cell(name), _cell(deck.providers[name].kind), _cell(h.status), latency,
                              _cell(h.version or ""), _cell(", ".join(h.models_loaded)), _cell((h.detail or "")[:60]))
            Console().print(table)
        return EXIT_OK if all(h.status in ("up", "degraded") for h in results.values()) else EXIT_FAILED

    return _run(args, operation)


def models(args: argparse.Namespace) -> int:
    async def operation(deck: Deck) -> int:
        catalog = await deck.catalog(args.provider)
        rows = [
            {"provider": e.model.provider, "name": e.model.name, "kind": e.model.kind,
             "size_bytes": e.model.size_bytes, "quantization": e.model.quantization,
             "context_length": e.model.context_length, "loaded": e.model.loaded,
             "input_usd_per_mtok": e.input_usd_per_mtok, "output_usd_per_mtok": e.output_usd_per_mtok}
            for e in catalog.entries
        ]
        if args.json:
            _print_json(rows)
        else:
            table = Table("provider", "model", "size", "quant", "context", "loaded", "$/Mtok in/out", box=None)
            for row in rows:
                size = "" if row["size_bytes"] is None else f"{int(row['size_bytes']) / 1e9:.1f} GB"
                price = ("" if row["input_usd_per_mtok"] is None
                         else f"{row['input_usd_per_mtok']:.2f}/{row['output_usd_per_mtok']:.2f}")
                table.add_row(_cell(row["provider"]), _cell(row["name"]), size, _cell(row["quantization"] or ""),
                              _cell(row["context_length"] or ""), "●" if row["loaded"] else "", price)
            Console().print(table)
        for provider, error in catalog.errors.items():
            sys.stderr.write(f"llmdeck: {one_line(provider)}: {one_line(str(error))}\n")
        return EXIT_FAILED if catalog.errors and not catalog.entries else EXIT_OK

    return _run(args, operation)


def _chat_request(pick: SessionPick, prompt: str) -> ChatRequest:
    """The session's history (when one is continued), then the prompt."""
    settings = pick.settings
    system = (Message("system", settings.system_prompt),) if settings.system_prompt else ()
    return ChatRequest(model="", messages=(*system, *pick.history, Message("user", prompt)),
                       max_tokens=settings.max_tokens, temperature=settings.temperature)


def chat(args: argparse.Namespace) -> int:
    prompt = args.prompt if args.prompt is not None else sys.stdin.read()
    if not prompt.strip():
        return fail("chat: give a PROMPT or pipe one on stdin", EXIT_USAGE)
    given = ChatSettings(args.system or "", args.max_tokens)

    async def operation(deck: Deck) -> int:
        ledger = deck.history()
        if ledger is None:  # open_deck refuses a deck without one; this keeps the reason in one place
            raise CommandError(deck.ledger_problem or "the ledger is not open", EXIT_FAILED)
        try:
            pick = await asyncio.to_thread(pick_session, ledger, args.session, new=args.new, prompt=prompt,
                                           target=args.target, given=given)
        except UnknownSessionError as exc:
            raise CommandError(str(exc), EXIT_USAGE) from None
        # Leaving the run writes the request row and the turn (one transaction), however it ends.
        run = deck.chat_stream(args.target, _chat_request(pick, prompt), turn=TurnPlan(prompt, pick.session))
        error: ProviderError | None = None
        # Model text is outside text: escape sequences are removed even when split across chunks.
        shown = TerminalSafeStream()
        with ChatStop() as stop:  # a signal or a closed stdout ends the stream; what was said is kept
            try:
                async with run:
                    try:
                        async for chunk in run:
                            if chunk.text and not args.json:
                                stop.write(shown.feed(chunk.text))
                    except (asyncio.CancelledError, BrokenPipeError) as exc:
                        run.stop_reason = stop.reason
                        stop.absorb(exc)
            except ProviderError as exc:
                error = exc
            except asyncio.CancelledError as exc:  # a signal while the turn was written: finish it, then end
                stop.absorb(exc)
                await run.aclose()
        if stop.stopped:
            return stop.exit_code()
        if not args.json:
            sys.stdout.write(shown.finish())
        routed = run.routed
        if args.json:
            served = routed.served_by
            _print_json({
                "text": run.text,  # scrubbed of known secrets, unlike the router's raw text
                "served_by": {"provider": served.provider, "model": served.model} if served else None,
                "attempts": [a.as_dict() for a in routed.attempts],
                "ttft_ms": None if routed.ttft_ms is None else round(routed.ttft_ms, 1),
                "total_ms": None if routed.total_ms is None else round(routed.total_ms, 1),
                # estimated: the server sent no usage, so llmdeck counted (its tokenizer, else characters/4).
                "usage": {"prompt_tokens": routed.usage.prompt_tokens,
                          "completion_tokens": routed.usage.completion_tokens,
                          "estimated": routed.usage.estimated} if routed.usage else None,
                "cost_usd": run.cost_usd,
                "error": None if error is None else {"kind": error.kind, "message": str(error)},
            })
        else:
            sys.stdout.write("\n")
        if error is not None:
            if isinstance(error, StreamBrokenError):
                return fail(f"stream cut after {len(error.partial)} characters: {error}")
            if isinstance(error, RouteFailedError) and not args.json:
                for attempt in error.attempts:
                    sys.stderr.write(one_line(f"  {attempt.provider}/{attempt.model}: {attempt.outcome} "
                                              f"{attempt.error_kind or attempt.reason}") + "\n")
            return fail(str(error))
        return EXIT_OK

    return _run(args, operation)


def route_explain(args: argparse.Namespace) -> int:
    async def operation(deck: Deck) -> int:
        health = await deck.health_all()
        del health  # probing feeds the monitor snapshots the plan reads
        plan = deck.explain(args.alias)
        rows = [{"provider": h.provider, "model": h.model, "via": h.via, "state": h.state, "reason": h.reason}
                for h in plan]
        if args.json:
            _print_json(rows)
        else:
            table = Table("#", "provider", "model", "via", "state", "reason", box=None)
            for index, row in enumerate(rows, 1):
                table.add_row(str(index), *(_cell(row[key]) for key in ("provider", "model", "via", "state", "reason")))
            Console().print(table)
        return EXIT_OK

    return _run(args, operation)


def pull(args: argparse.Namespace) -> int:
    async def operation(deck: Deck) -> int:
        # markup=False: the status line is the server's words.
        columns = (TextColumn("{task.description}", markup=False), BarColumn(), DownloadColumn(),
                   TimeRemainingColumn())
        with Progress(*columns, console=Console(stderr=True), transient=False) as progress:
            task = progress.add_task(one_line(f"pull {args.model}"), total=None)
            async for step in deck.pull(args.provider, args.model):
                total = step.total_bytes or None
                progress.update(task, description=one_line(f"{args.model}: {step.status}"), total=total,
                                completed=step.completed_bytes)
                if step.done:
                    progress.update(task, total=total or 1, completed=total or 1)
        sys.stdout.write(one_line(f"pulled {args.model} on {args.provider}") + "\n")
        return EXIT_OK

    try:
        return _run(args, operation)
    except KeyboardInterrupt:
        return fail(f"pull of {args.model} cancelled", 130)


def _confirm(question: str) -> bool:
    if not sys.stdin.isatty():
        return False
    sys.stderr.write(f"{question} [y/N] ")
    sys.stderr.flush()
    return sys.stdin.readline().strip().lower() in ("y", "yes")


def delete(args: argparse.Namespace) -> int:
    async def operation(deck: Deck) -> int:
        sys.stderr.write(f"will call: {deck.describe('delete', args.provider, args.model)}\n")
        if not args.yes and not _confirm(f"delete {args.model} from {args.provider}?"):
            return fail("not deleted (confirm, or pass --yes)")
        await deck.delete(args.provider, args.model)
        sys.stdout.write(f"deleted {args.model} from {args.provider}\n")
        return EXIT_OK

    return _run(args, operation)


def unload(args: argparse.Namespace) -> int:
    async def operation(deck: Deck) -> int:
        sys.stderr.write(f"will call: {deck.describe('unload', args.provider, args.model)}\n")
        await deck.unload(args.provider, args.model)
        sys.stdout.write(f"unloaded {args.model} on {args.provider}\n")
        return EXIT_OK

    return _run(args, operation)


def restart(args: argparse.Namespace) -> int:
    async def operation(deck: Deck) -> int:
        plan = deck.restart_plan(args.provider)
        if plan.argv is None:
            return fail(plan.shown, EXIT_USAGE)
        sys.stderr.write(f"will run ({plan.how}): {plan.shown}\n")
        if not args.yes and not _confirm(f"restart {args.provider}?"):
            return fail("not restarted (confirm, or pass --yes)")
        try:
            outcome = await deck.restart(args.provider)
        except (OSError, ValueError) as exc:  # a refused argv, or a command that cannot be started
            return fail(f"restart of {args.provider} failed: {exc}")
        if outcome.output:
            sys.stdout.write(terminal_safe(outcome.output))
        return EXIT_OK if outcome.returncode == 0 else fail(f"restart exited with {outcome.returncode}")

    return _run(args, operation)


def image(args: argparse.Namespace) -> int:
    request = ImageRequest(prompt=args.prompt, negative=args.negative or "", width=args.width, height=args.height,
                           steps=args.steps, seed=args.seed, model=args.model)

    async def operation(deck: Deck) -> int:
        with Progress(TextColumn("{task.description}"), BarColumn(), console=Console(stderr=True)) as progress:
            task = progress.add_task(f"{args.provider}: generating", total=1.0)

            def on_progress(step: ImageProgress) -> None:
                progress.update(task, completed=step.fraction)

            saved = await deck.generate_image(args.provider, request, on_progress=on_progress, out=Path(args.out))
        if args.json:
            _print_json({"path": str(saved.path), "provider": saved.provider, "model": saved.model,
                         "width": saved.width, "height": saved.height, "seed": saved.seed, "ms": round(saved.ms, 1)})
        else:
            sys.stdout.write(f"{saved.path} ({saved.width}×{saved.height}, seed {saved.seed}, {saved.ms:.0f} ms)\n")
        return EXIT_OK

    return _run(args, operation)


def export_litellm(args: argparse.Namespace) -> int:
    import yaml

    from console.commands.session import load_cli_config
    from providers.export_litellm import litellm_config

    try:
        document = litellm_config(load_cli_config(args))
    except CommandError as exc:
        return fail(str(exc), exc.code)
    text = "# LiteLLM proxy config exported by llmdeck; keys are read from the environment variables named here.\n"
    text += yaml.safe_dump(document, sort_keys=False)
    if args.out:
        Path(args.out).write_text(text, encoding="utf-8")
        sys.stderr.write(f"wrote {args.out}\n")
    else:
        sys.stdout.write(text)
    return EXIT_OK
