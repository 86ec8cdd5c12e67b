"""What the `:` commands and the command palette do: each turns into a pane switch, a screen or a Deck intent."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from functools import partial
from typing import TYPE_CHECKING

from textual.command import DiscoveryHit, Hit, Hits, Provider

from console.screens.command_line import Completions, available_commands, find_command, parse_command
from console.screens.route_plan import RoutePlanScreen

if TYPE_CHECKING:
    from console.app import DeckApp

PANE_COMMANDS = ("health", "models", "graphs", "routes", "chat", "images")


class ShellCommands:
    """Runs `:` commands against the app; unknown or refused commands become a notification, never a crash."""

    def __init__(self, app: DeckApp) -> None:
        self.app = app
        self.commands = available_commands(readonly=app.readonly, demo=app.demo is not None)

    def completions(self) -> Completions:
        deck = self.app.deck
        providers = list(deck.providers)
        aliases = deck.aliases()
        return Completions(self.commands, {
            "provider": providers, "alias": aliases, "target": [*aliases, *(f"{p}/" for p in providers)],
            "spec": ["off", "refuse", "503", "429:5", "delay:2", "stall_mid:5", "cut"],
        })

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
                self.fail(f"unknown command :{name} — press ? for help, : then Tab to complete")
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

    def _call_pane(self, pane_id: str, method: str, *args: str) -> None:
        target = getattr(self.app.pane(pane_id), method, None)
        if callable(target):
            target(*args)
        else:
            self.fail(f"the {pane_id} pane of this build cannot {method.replace('_', ' ')}")

    async def cmd_pull(self, args: list[str]) -> None:
        if len(args) != 2 or args[0] not in self.app.deck.providers:
            self.fail("usage: :pull PROVIDER MODEL (PROVIDER one of " + ", ".join(self.app.deck.providers) + ")")
            return
        await self.app.show_pane("models")
        self._call_pane("models", "request_pull", *args)

    def cmd_route(self, args: list[str]) -> None:
        if len(args) != 1 or args[0] not in self.app.deck.aliases():
            self.fail("usage: :route ALIAS (one of " + ", ".join(self.app.deck.aliases()) + ")")
            return
        self.app.push_screen(RoutePlanScreen(self.app.deck, args[0]))

    def cmd_chaos(self, args: list[str]) -> None:
        if not args:
            self.fail("usage: :chaos PROVIDER [SPEC|off]")
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
        self.app.notify(f"wrote {path} with {len(discovery.found)} provider(s); restart llmdeck to use it",
                        markup=False)

    def cmd_refresh(self, args: list[str]) -> None:
        self.app.action_refresh_now()

    def cmd_help(self, args: list[str]) -> None:
        self.app.action_help()

    def cmd_q(self, args: list[str]) -> None:
        self.app.exit()


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
