"""Headless commands over the Deck: health, models, chat, route explain, pull, delete, unload, restart, image."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Column

from console.commands.chat_stop import ChatStop
from console.commands.output import print_json, print_json_line, print_table, write_document
from console.commands.session import CommandError, fail, host_context_of, open_deck
from console.exit_codes import EXIT_FAILED, EXIT_OK, EXIT_USAGE
from providers.base import ChatRequest, ImageProgress, ImageRequest, Message, PullProgress
from providers.chat_settings import ChatSettings
from providers.deck import Deck
from providers.display import count, milliseconds
from providers.errors import ProviderError, StreamBrokenError, UnknownProviderError, UnsupportedError
from providers.host_context import providers_on
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
    except UnsupportedError as exc:  # the backend cannot do this at all: the command line asked too much
        return fail(str(exc), EXIT_USAGE)
    except ProviderError as exc:
        return fail(str(exc), EXIT_FAILED)


def _require(deck: Deck, provider: str, capability: str, doing: str) -> None:
    """Refuse what the provider's adapter says it cannot do, before any call is made or any progress drawn."""
    if not getattr(deck.adapter(provider).capabilities, capability):
        kind = deck.providers[provider].kind
        raise CommandError(f"{provider} (kind {kind}) cannot {doing}", EXIT_USAGE)


def health(args: argparse.Namespace) -> int:
    async def operation(deck: Deck) -> int:
        host = host_context_of(args, deck.config)
        results = await deck.health_all(None if host is None else providers_on(deck.providers, host))
        rows = [
            {"name": name, "kind": deck.providers[name].kind, "status": h.status,
             "latency_ms": None if h.latency_ms is None else round(h.latency_ms, 1), "version": h.version,
             "models_loaded": list(h.models_loaded), "detail": h.detail}
            for name, h in results.items()
        ]
        if args.json:
            print_json(rows)
        else:
            # At a terminal a long detail (an HTML error body) is cut to one line; a pipe gets all of it.
            detail = Column("detail", max_width=60, no_wrap=True, overflow="ellipsis")
            print_table(
                ("provider", "kind", "status", "latency", "version", "loaded", detail),
                [(name, deck.providers[name].kind, h.status,
                  "" if h.latency_ms is None else milliseconds(h.latency_ms), h.version,
                  ", ".join(h.models_loaded), h.detail) for name, h in results.items()])
        return EXIT_OK if all(h.status in ("up", "degraded") for h in results.values()) else EXIT_FAILED

    return _run(args, operation)


def models(args: argparse.Namespace) -> int:
    async def operation(deck: Deck) -> int:
        host = host_context_of(args, deck.config)
        catalog = await deck.catalog(args.provider)
        on_host = set(providers_on(deck.providers, host))
        entries = [entry for entry in catalog.entries if entry.model.provider in on_host]
        errors = {name: error for name, error in catalog.errors.items() if name in on_host}
        rows = [
            {"provider": e.model.provider, "name": e.model.name, "kind": e.model.kind,
             "size_bytes": e.model.size_bytes, "quantization": e.model.quantization,
             "context_length": e.model.context_length, "loaded": e.model.loaded,
             "input_usd_per_mtok": e.input_usd_per_mtok, "output_usd_per_mtok": e.output_usd_per_mtok}
            for e in entries
        ]
        if args.json:
            print_json(rows)
        elif rows or not errors:  # nothing on stdout when every provider failed: only the errors
            print_table(("provider", "model", "size", "quant", "context", "loaded", "$/Mtok in/out"),
                        [_model_cells(row) for row in rows])
        for provider, error in errors.items():
            sys.stderr.write(f"llmdeck: {one_line(provider)}: {one_line(str(error))}\n")
        return EXIT_FAILED if errors and not entries else EXIT_OK

    return _run(args, operation)


def _model_cells(row: Mapping[str, object]) -> tuple[object, ...]:
    size = row["size_bytes"]
    price_in, price_out = row["input_usd_per_mtok"], row["output_usd_per_mtok"]
    return (row["provider"], row["name"], "" if not isinstance(size, int) else f"{size / 1e9:.1f} GB",
            row["quantization"], row["context_length"] or "", "●" if row["loaded"] else "",
            f"{price_in:.2f}/{price_out:.2f}" if isinstance(price_in, float | int) and
            isinstance(price_out, float | int) else "")


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
        wrote = False  # whether the answer put anything on stdout, which then needs its closing newline
        with ChatStop() as stop:  # a signal or a closed stdout ends the stream; what was said is kept
            try:
                async with run:
                    try:
                        async for chunk in run:
                            if chunk.text and not args.json and (piece := shown.feed(chunk.text)):
                                stop.write(piece)
                                wrote = True
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
        routed = run.routed
        if args.json:
            served = routed.served_by
            print_json({
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
        elif (rest := shown.finish()) or wrote:  # no answer, no line: an error then follows nothing on stdout
            sys.stdout.write(rest + "\n")
        if error is not None:
            if isinstance(error, StreamBrokenError):
                return fail(f"stream cut after {count(len(error.partial), 'character')}: {error}")
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
            print_json(rows)
        else:
            # A ready hop's reason is "ready" unless it is the one that would serve: said once, in the state.
            print_table(("#", "provider", "model", "via", "state", "reason"),
                        [(index, h.provider, h.model, h.via, h.state, "" if h.reason == h.state else h.reason)
                         for index, h in enumerate(plan, 1)])
        return EXIT_OK

    return _run(args, operation)


def _pull_event(args: argparse.Namespace, step: PullProgress) -> dict[str, object]:
    return {"provider": args.provider, "model": args.model, "status": step.status,
            "completed_bytes": step.completed_bytes, "total_bytes": step.total_bytes or None,
            "fraction": step.fraction, "done": step.done}


def pull(args: argparse.Namespace) -> int:
    async def operation(deck: Deck) -> int:
        _require(deck, args.provider, "pull", "pull models")
        if args.json:  # one line per event as it comes, for a script that shows or logs progress its own way
            async for step in deck.pull(args.provider, args.model):
                print_json_line(_pull_event(args, step))
            return EXIT_OK
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


def _done(args: argparse.Namespace, call: str, said: str) -> int:
    """What a model operation did: one line, or with --json the call it made."""
    if args.json:
        print_json({"provider": args.provider, "model": args.model, "call": call})
    else:
        sys.stdout.write(one_line(said) + "\n")
    return EXIT_OK


def delete(args: argparse.Namespace) -> int:
    async def operation(deck: Deck) -> int:
        _require(deck, args.provider, "delete", "delete models")
        call = deck.describe("delete", args.provider, args.model)
        sys.stderr.write(f"will call: {one_line(call)}\n")
        if not args.yes and not _confirm(f"delete {args.model} from {args.provider}?"):
            return fail("not deleted (confirm, or pass --yes)")
        await deck.delete(args.provider, args.model)
        return _done(args, call, f"deleted {args.model} from {args.provider}")

    return _run(args, operation)


def unload(args: argparse.Namespace) -> int:
    async def operation(deck: Deck) -> int:
        _require(deck, args.provider, "unload", "unload models")
        call = deck.describe("unload", args.provider, args.model)
        sys.stderr.write(f"will call: {one_line(call)}\n")
        await deck.unload(args.provider, args.model)
        return _done(args, call, f"unloaded {args.model} on {args.provider}")

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
        if args.json:
            print_json({"provider": args.provider, "how": plan.how, "command": plan.shown,
                        "returncode": outcome.returncode, "output": outcome.output})
        elif outcome.output:
            sys.stdout.write(terminal_safe(outcome.output))
        return EXIT_OK if outcome.returncode == 0 else fail(f"restart exited with {outcome.returncode}")

    return _run(args, operation)


def _refuse_to_overwrite(out: Path, *, force: bool) -> str | None:
    """Why the image may not be written to `out` (its PNG or its JSON sidecar is there already), or None."""
    if out.is_dir():
        return f"{out} is a directory; give a file name for --out"
    if force:
        return None
    taken = [str(path) for path in dict.fromkeys((out, out.with_suffix(".json"))) if path.exists()]
    if not taken:
        return None
    verb = "exists" if len(taken) == 1 else "exist"
    return f"{' and '.join(taken)} {verb} already; pass --force to overwrite"


def image(args: argparse.Namespace) -> int:
    request = ImageRequest(prompt=args.prompt, negative=args.negative or "", width=args.width, height=args.height,
                           steps=args.steps, seed=args.seed, model=args.model)
    # Checked before the generation, which takes a while: a refusal then costs nothing.
    if (refusal := _refuse_to_overwrite(Path(args.out), force=args.force)) is not None:
        return fail(f"image: {refusal}", EXIT_USAGE)

    async def operation(deck: Deck) -> int:
        _require(deck, args.provider, "images", "generate images")
        with Progress(TextColumn("{task.description}"), BarColumn(), console=Console(stderr=True)) as progress:
            task = progress.add_task(f"{args.provider}: generating", total=1.0)

            def on_progress(step: ImageProgress) -> None:
                progress.update(task, completed=step.fraction)

            saved = await deck.generate_image(args.provider, request, on_progress=on_progress, out=Path(args.out))
        if args.json:
            print_json({"path": str(saved.path), "provider": saved.provider, "model": saved.model,
                        "width": saved.width, "height": saved.height, "seed": saved.seed, "ms": round(saved.ms, 1)})
        else:
            took = milliseconds(saved.ms)
            sys.stdout.write(f"{saved.path} ({saved.width}×{saved.height}, seed {saved.seed}, {took})\n")
        return EXIT_OK

    return _run(args, operation)


def export_litellm(args: argparse.Namespace) -> int:
    import yaml

    from console.commands.session import load_cli_config
    from providers.export_litellm import ExportError, litellm_config, yaml_header

    try:
        config = load_cli_config(args)
        document = litellm_config(config)
    except CommandError as exc:
        return fail(str(exc), exc.code)
    except ExportError as exc:
        return fail(f"export litellm: {exc}", EXIT_FAILED)
    if args.json:  # the same document; LiteLLM reads JSON too (it is YAML)
        text = json.dumps(document, indent=2) + "\n"
    else:  # the variables the proxy needs, said where the operator reads the file
        text = yaml_header(config) + yaml.safe_dump(document, sort_keys=False)
    problem = write_document(text, args.out)
    return fail(problem, EXIT_FAILED) if problem else EXIT_OK
