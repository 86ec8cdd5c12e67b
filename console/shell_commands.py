"""What the `:` commands and the command palette do: each turns into a pane switch, a screen or a Deck intent."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from functools import partial
from typing import TYPE_CHECKING

from textual.command import DiscoveryHit, Hit, Hits, Provider

from config.loader import ConfigError, ConfigProblem, load_config
from console.command_history import HISTORY_FILE_NAME, CommandHistory
from console.screens.command_line import (
    Completions,
    available_commands,
    closest,
    find_command,
    parse_command,
    unknown_name,
)
from console.screens.route_plan import RoutePlanScreen
from providers.display import count
from providers.errors import ProviderError
from providers.host_context import ALL_HOSTS, chosen_host, host_names, host_problem, providers_on
from providers.safe_text import one_line

if TYPE_CHECKING:
    from console.app import DeckApp

PANE_COMMANDS = ("health", "models", "graphs", "routes", "chat", "images")
MODEL_CHECK_S = 2.0
"""How long `:chat PROVIDER/MODEL` waits for the provider's catalog to check the model; a slower one is not asked."""
SHOWN_PROBLEMS = 10
"""A refused `:reload` lists this many of the config's problems; `llmdeck config validate` lists them all."""
REFUSED_RELOAD_TIMEOUT_S = 30.0
"""A refused `:reload` stays on screen this long: there may be several problems to read."""


class ShellCommands:
    """Runs `:` commands against the app; unknown or refused commands become a notification, never a crash."""

    def __init__(self, app: DeckApp) -> None:
        self.app = app
        self.commands = available_commands(readonly=app.readonly, demo=app.demo is not None)
        self.history = CommandHistory.load(app.deck.data_dir / HISTORY_FILE_NAME)

    def completions(self) -> Completions:
        deck = self.app.deck
        providers = list(deck.providers)
        aliases = deck.aliases()
        return Completions(self.commands, {
            "provider": providers, "alias": aliases, "target": [*aliases, *(f"{p}/" for p in providers)],
            "spec": ["off", "refuse", "503", "429:5", "delay:2", "stall_mid:5", "cut"],
            "host": [*host_names(deck.config), ALL_HOSTS],
            "dropbox": [name for name, p in deck.providers.items() if p.kind == "dropbox"],
        }, history=self.history)

    def fail(self, message: str) -> None:
        self.app.notify(message, severity="error", markup=False)

    async def execute(self, text: str | None) -> None:
        """Run one command line (`:` optional); None or blank does nothing (the line was cancelled)."""
        name, args = parse_command(text or "")
        if not name:
            return
        spec = find_command(name, self.commands)
        if spec is None:
            refused = find_command(name, available_commands(readonly=False, demo=True))
            if refused is not None and refused.destructive:
                self.fail(f":{name} is disabled in read-only mode")
            elif refused is not None:
                self.fail(f":{name} only works in the demo (llmdeck --demo)")
            else:
                self.fail(self._unknown_command(name))
            return
        if spec.name == "chat" and args and (problem := await self._target_problem(args[0])) is not None:
            self.fail(problem)
            return
        if spec.name in PANE_COMMANDS:
            await self.app.show_pane(spec.name)
            if spec.name == "chat" and args:
                self._call_pane("chat", "set_target", args[0])
            return
        handler: Callable[[list[str]], object] = getattr(self, f"cmd_{spec.name.replace('-', '_')}")
        result = handler(args)
        if asyncio.iscoroutine(result):
            await result

    def _unknown_command(self, name: str) -> str:
        nearest = closest(name, [n for c in self.commands for n in (c.name, *c.aliases)])
        if nearest is not None:
            return f"unknown command :{name} — did you mean :{nearest}?"
        return f"unknown command :{name} — press ? for help, : then Tab to complete"

    def _provider_problem(self, provider: str) -> str | None:
        known = list(self.app.deck.providers)
        return None if provider in known else unknown_name("provider", provider, known)

    async def _target_problem(self, target: str) -> str | None:
        """Why `:chat TARGET` names no alias, provider or model there is (with the nearest one), or None. The
        model is checked against the provider's catalog when it answers within MODEL_CHECK_S."""
        deck = self.app.deck
        aliases = deck.aliases()
        if target in aliases:
            return None
        provider, slash, model = target.partition("/")
        if not slash:
            if target in deck.providers:
                return f"name a model too: :chat {target}/MODEL"
            nearest = closest(target, [*aliases, *deck.providers])
            if nearest is None:
                return unknown_name("alias", target, aliases)
            shown = f"{nearest}/MODEL" if nearest in deck.providers else nearest
            return f"unknown target {target!r} — did you mean {shown}?"
        if (problem := self._provider_problem(provider)) is not None:
            return problem
        if not model:
            return f"name a model after the slash: :chat {provider}/MODEL"
        if provider not in deck.adapters:
            return None  # no adapter to ask: the chat pane says so itself
        try:
            async with asyncio.timeout(MODEL_CHECK_S):
                catalog = await deck.catalog(provider)
        except (TimeoutError, ProviderError):
            return None  # the provider cannot tell now; the chat itself will
        models = [entry.model.name for entry in catalog.entries if entry.model.provider == provider]
        if provider in catalog.errors or not models or model in models:
            return None
        return unknown_name(f"model at {provider}", model, models)

    def _call_pane(self, pane_id: str, method: str, *args: str) -> None:
        target = getattr(self.app.pane(pane_id), method, None)
        if callable(target):
            target(*args)
        else:
            self.fail(f"the {pane_id} pane of this build cannot {method.replace('_', ' ')}")

    async def cmd_pull(self, args: list[str]) -> None:
        if len(args) != 2:
            self.fail("usage: :pull PROVIDER MODEL (PROVIDER one of " + ", ".join(self.app.deck.providers) + ")")
            return
        if (problem := self._provider_problem(args[0])) is not None:
            self.fail(problem)
            return
        await self.app.show_pane("models")
        self._call_pane("models", "request_pull", *args)

    def cmd_route(self, args: list[str]) -> None:
        if len(args) != 1:
            self.fail("usage: :route ALIAS (one of " + ", ".join(self.app.deck.aliases()) + ")")
            return
        if args[0] not in self.app.deck.aliases():
            self.fail(unknown_name("alias", args[0], self.app.deck.aliases()))
            return
        self.app.push_screen(RoutePlanScreen(self.app.deck, args[0]))

    def cmd_events(self, args: list[str]) -> None:
        """The Events view, its filter set to the words given (`:events box-vllm`); once open, again does nothing."""
        from console.screens.events import EventsScreen

        if not isinstance(self.app.screen, EventsScreen):
            self.app.push_screen(EventsScreen(self.app.deck, " ".join(args)))

    def cmd_chaos(self, args: list[str]) -> None:
        if not args:
            self.fail("usage: :chaos PROVIDER [SPEC|off]")
            return
        if (problem := self._provider_problem(args[0])) is not None:
            self.fail(problem)
            return
        self.app.run_worker(self.apply_chaos(args[0], " ".join(args[1:]) or None), group="chaos",
                            exit_on_error=False)

    async def apply_chaos(self, provider: str, spec: str | None) -> None:
        from console.demo import ChaosError

        demo = self.app.demo
        assert demo is not None  # :chaos is only offered in the demo
        try:
            applied = await asyncio.to_thread(demo.set_chaos, provider, spec)
        except ChaosError as exc:
            self.fail(str(exc))
            return
        self.app.deck.probe_now(provider)
        self.app.status.update_from()
        self.app.notify(f"chaos on {provider}: {applied}" if applied else f"{provider} mended", markup=False)

    def cmd_host(self, args: list[str]) -> None:
        """Narrow every pane and the header to one host, or widen them again with `all` (or no name)."""
        deck = self.app.deck
        name = args[0] if args else ALL_HOSTS
        if (problem := host_problem(name, host_names(deck.config))) is not None:
            self.fail(problem)
            return
        host = chosen_host(name)
        self.app.set_host(host)
        if host is None:
            self.app.notify("Every host shown.", markup=False)
        else:
            shown = count(len(providers_on(deck.providers, host)), "provider")
            self.app.notify(f"Host {host}: {shown} shown. :host all shows every host.", markup=False)

    def cmd_hub(self, args: list[str]) -> None:
        """Search the Hub for GGUF repositories; a file picked there is downloaded through the pull queue."""
        from console.screens.hub_browser import HubBrowser
        from console.screens.source_browser import queue_download

        if not args:
            self.fail("usage: :hub QUERY (words of a repository name, e.g. :hub qwen2.5 gguf)")
            return
        self.app.push_screen(HubBrowser(self.app.deck, " ".join(args)), partial(queue_download, self.app))

    def cmd_civitai(self, args: list[str]) -> None:
        """Search CivitAI; a version picked there is downloaded through the pull queue into an image server."""
        from console.screens.civitai_browser import CivitaiBrowser, CivitaiQuery
        from console.screens.source_browser import queue_download

        try:
            query = CivitaiQuery.parse(args)
        except ProviderError as exc:
            self.fail(exc.message)
            return
        self.app.push_screen(CivitaiBrowser(self.app.deck, query), partial(queue_download, self.app))

    async def cmd_upload(self, args: list[str]) -> None:
        """Upload what is in front of the operator (the Images pane's image, else the Chat pane's session)."""
        from console.upload_by_hand import upload_current

        await upload_current(self.app, args)

    def cmd_keys(self, args: list[str]) -> None:
        from console.screens.keys import KeysScreen  # the keyring library loads on first use, not at start

        self.app.push_screen(KeysScreen(readonly=self.app.readonly))

    async def cmd_save_config(self, args: list[str]) -> None:
        from console.discovery import save_starter_config

        discovery = self.app.discovery
        if discovery is None:
            self.fail("nothing to save: this session runs from " + ("the demo" if self.app.demo else "a config file"))
            return
        try:
            path = await asyncio.to_thread(save_starter_config, discovery.config_path, discovery.found)
        except FileExistsError:
            self.fail(f"{discovery.config_path} already exists; it was not overwritten")
            return
        except OSError as exc:
            self.fail(f"cannot write {discovery.config_path}: {exc.strerror}")
            return
        self.app.notify(f"wrote {path} with {count(len(discovery.found), 'provider')}; restart llmdeck to use it",
                        markup=False)

    def cmd_refresh(self, args: list[str]) -> None:
        self.app.action_refresh_now()

    async def cmd_reload(self, args: list[str]) -> None:
        """Read the config file again; apply it only when it is valid as a whole, else keep the running one."""
        deck = self.app.deck
        path = deck.config_path
        if path is None:
            self.fail("nothing to reload: " + ("the demo has no config file" if self.app.demo is not None else
                                               "no config file was read at start (the servers were found by probing)"))
            return
        try:
            config = await asyncio.to_thread(load_config, path)
        except ConfigError as exc:
            problems = exc.problems
            more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
            deck.record_config_reload(path, error=one_line(f"{problems[0]}{more}"))
            self.app.notify(refused_reload(problems), severity="error", markup=False,
                            timeout=REFUSED_RELOAD_TIMEOUT_S)
            return
        change = await deck.reload(config)
        deck.record_config_reload(path, changes=change.lines())
        self.app.action_refresh_now()
        self.app.notify(one_line(f"reloaded {path}: {change.describe()}"), markup=False)

    def cmd_help(self, args: list[str]) -> None:
        self.app.action_help()

    async def cmd_q(self, args: list[str]) -> None:
        await self.app.action_quit()  # like Ctrl-Q: asks first while a pull, an image or a chat reply runs


def refused_reload(problems: list[ConfigProblem]) -> str:
    """The first problem and the count on the first line, then each problem (up to SHOWN_PROBLEMS) on its own."""
    count = f"{len(problems)} problems" if len(problems) != 1 else "1 problem"
    lines = [f"config not reloaded, the running one stays ({count}): {problems[0]}"]
    lines += [str(problem) for problem in problems[1:SHOWN_PROBLEMS]]
    if len(problems) > SHOWN_PROBLEMS:
        lines.append(f"… {len(problems) - SHOWN_PROBLEMS} more: llmdeck config validate lists them all")
    return "\n".join(one_line(line) for line in lines)  # the problems quote the file: shown as plain text


class DeckCommandProvider(Provider):
    """The `:` commands in Textual's command palette (ctrl+p), with aliases and providers spelled out."""

    def _entries(self) -> list[tuple[str, str]]:
        app: DeckApp = self.app  # type: ignore[assignment]
        shell = app.shell
        entries: list[tuple[str, str]] = []
        for spec in shell.commands:
            if spec.name == "route":
                entries += [(f":route {alias}", f"explain plan of {alias}") for alias in app.deck.aliases()]
            elif spec.name == "chaos":
                entries += [(f":chaos {p}", f"demo: break {p}") for p in app.deck.providers]
                entries += [(f":chaos {p} off", f"demo: mend {p}") for p in app.deck.providers]
            elif spec.name != "pull":  # needs a model name: use the command line
                entries.append((":" + spec.name, spec.help))
        return entries

    def _run(self, command: str) -> None:
        app: DeckApp = self.app  # type: ignore[assignment]
        app.call_later(app.shell.execute, command)

    async def discover(self) -> Hits:
        for command, help_text in self._entries():
            yield DiscoveryHit(command, partial(self._run, command), help=help_text)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for command, help_text in self._entries():
            score = matcher.match(command)
            if score > 0:
                yield Hit(score, matcher.highlight(command), partial(self._run, command), help=help_text)
