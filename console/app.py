"""The console App: the shell around the six panes (header, pane switching, filter, command line, help).

The app owns the message flow and the clock. Deck events come from the DeckBridge as coalesced messages; the
app hands each attached pane its own copy and brings the header and the ledger banner up to date once per
message. Its one clock (CLOCK_S) is for what moves with time alone: the header's streams and spend and the
ledger banner (cheap compares that redraw nothing unchanged), and the shown pane, synced only when it says
`needs_clock()`."""

from __future__ import annotations

import importlib
import os
from pathlib import PurePath
from typing import TYPE_CHECKING, ClassVar

from rich.style import Style
from rich.text import Text
from textual import events, on
from textual.app import App, ComposeResult
from textual.binding import BindingType
from textual.notifications import SeverityLevel
from textual.widget import Widget
from textual.widgets import ContentSwitcher, Input, Static, TextArea

from console.bridge import DeckBridge
from console.clipboard import clipboard_writes
from console.keymap import APP_BINDINGS, keymap_from_config, pane_binding_id
from console.panes import PANES, PANES_CSS
from console.panes.base import CLOCK_S, DeckPane
from console.panes.unavailable import UnavailablePane
from console.screens.confirm import QuitDialog
from console.screens.help import HelpScreen, live_entries
from console.screens.onboarding import OnboardingScreen
from console.shell_commands import DeckCommandProvider, ShellCommands
from console.widgets.deck_status import DeckStatus
from console.widgets.field_form import in_form
from console.widgets.footer import DeckFooter
from console.widgets.ledger_banner import LedgerBanner
from console.widgets.status_badge import theme_style
from providers.deck import Deck
from providers.safe_text import one_line, terminal_safe

if TYPE_CHECKING:  # the demo pulls in the emulators: imported only when a demo runs
    from console.demo import DemoSession
    from console.discovery import DiscoveryOutcome

TYPED_IN_TEXT_FIELDS = frozenset({"command_line", "filter"})
SHELL_ACTIONS = frozenset({"show_pane", "next_pane", "previous_pane", "command_line", "filter", "help", "step_back"})


class DeckApp(App[None]):
    """Renders the Deck it is given (already started); the caller owns the Deck's lifecycle."""

    CSS_PATH: ClassVar[list[str | PurePath]] = ["app.tcss", PANES_CSS]  # the shell's, then the panes'
    TITLE = "llmdeck"
    BINDINGS: ClassVar[list[BindingType]] = list(APP_BINDINGS)
    COMMANDS = App.COMMANDS | {DeckCommandProvider}

    def __init__(self, deck: Deck, *, readonly: bool = False, demo: DemoSession | None = None,
                 discovery: DiscoveryOutcome | None = None, traffic: bool = True,
                 panes: tuple[tuple[str, str, str], ...] = PANES, first_pane: str = "health",
                 clock_s: float = CLOCK_S, host: str | None = None) -> None:
        super().__init__()
        self.deck = deck
        self.host_context = host
        """The host every pane is narrowed to (`--host`, `:host NAME`); None: every host."""
        self.readonly = readonly
        self.demo = demo
        self.discovery = discovery
        self.traffic = traffic and demo is not None
        self.pane_specs = {pane_id: (title, target) for pane_id, title, target in panes}
        self.pane_order = [pane_id for pane_id, _, _ in panes]
        self.current_pane = first_pane
        self.filters: dict[str, str] = {}
        self.panes: dict[str, DeckPane] = {}
        self.bridge = DeckBridge(deck, self)
        self.clock_s = clock_s
        self.clock_ticks = 0
        # Held here, not queried: every tick and every deck message reach them without walking the DOM.
        self.status = DeckStatus(deck, demo=demo is not None, readonly=readonly,
                                 chaos=demo.chaos if demo is not None else None, host=host, id="deck-status")
        self.ledger_banner = LedgerBanner(deck, id="ledger-banner")
        self.shell = ShellCommands(self)
        self.animation_level = "none"  # every animated frame is bandwidth over SSH
        if deck.config.ui.theme in self.available_themes:
            self.theme = deck.config.ui.theme
        keymap = keymap_from_config(deck.config.ui.keys)
        if keymap:
            self.set_keymap(keymap)

    # --- layout -------------------------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        yield self.status
        yield self.ledger_banner
        yield Static(id="pane-tabs")
        first = self._build_pane(self.current_pane)
        self.panes[self.current_pane] = first
        with ContentSwitcher(initial=first.id, id="panes"):
            yield first
        yield Input(placeholder="filter: substring, !text inverts · Enter keeps · Esc clears", id="filter")
        yield DeckFooter(compact=True)

    def on_mount(self) -> None:
        self.bridge.attach()
        self.set_interval(self.clock_s, self.clock_tick)
        self._show_tabs()
        self._focus_pane(self.panes[self.current_pane])
        if self.demo is not None:
            self.notify("Demo: emulators on loopback, throw-away keys, data in a temp dir. "
                        ":chaos PROVIDER breaks one, :chaos PROVIDER off mends it.", title="DEMO", timeout=10)
            if self.traffic:
                from console.demo import run_traffic

                self.run_worker(run_traffic(self.deck), group="demo_traffic", exit_on_error=False)
        elif self.discovery is not None and self.discovery.found:
            self.notify(f"No config file: found {', '.join(self.discovery.names)}. :save-config writes a starter "
                        f"config to {self.discovery.config_path}", title="Auto-discovery", timeout=12, markup=False)
        elif self.discovery is not None:
            self.push_screen(OnboardingScreen(self.discovery.config_path, self.discovery.probed))

    def on_unmount(self) -> None:
        self.bridge.detach()

    def notify(self, message: str, *, title: str = "", severity: SeverityLevel = "information",
               timeout: float | None = None, markup: bool = True) -> None:
        """Every toast is plain, terminal-safe text: messages quote errors, names and bodies from servers, and
        no message in llmdeck uses markup, so a `[/x]` in a model name cannot crash the console."""
        del markup
        super().notify(terminal_safe(message), title=one_line(title), severity=severity, timeout=timeout,
                       markup=False)

    @property
    def filter_input(self) -> Input:
        return self.query_one("#filter", Input)

    # --- panes --------------------------------------------------------------------------------------

    def _build_pane(self, pane_id: str) -> DeckPane:
        """Import the pane's module now; a pane that cannot load becomes a placeholder saying so."""
        title, target = self.pane_specs[pane_id]
        module_name, _, class_name = target.partition(":")
        try:
            pane_class: type[DeckPane] = getattr(importlib.import_module(module_name), class_name)
        except (ImportError, AttributeError) as exc:
            return UnavailablePane(self.deck, pane_id, title, type(exc).__name__, readonly=self.readonly)
        pane = pane_class(self.deck, readonly=self.readonly)
        pane.set_reactive(DeckPane.host, self.host_context)  # before its first draw: no watcher to run yet
        return pane

    def pane(self, pane_id: str) -> DeckPane | None:
        return self.panes.get(pane_id)

    async def show_pane(self, pane_id: str) -> DeckPane:
        """Switch to a pane, building and mounting it on first use (a fast start costs one pane, not six)."""
        pane = self.panes.get(pane_id)
        if pane is None:
            pane = self.panes[pane_id] = self._build_pane(pane_id)
            await self.query_one(ContentSwitcher).mount(pane)
            if self.filters.get(pane_id):
                pane.apply_filter(self.filters[pane_id])
        self.query_one(ContentSwitcher).current = pane.id
        self.current_pane = pane_id
        self._close_filter()
        self._show_tabs()
        # Now, not after the next refresh: keys typed right after the digit (or arriving in the same packet over
        # SSH) act on the pane just shown, and its footer bindings are the ones shown.
        self._focus_pane(pane)
        return pane

    def set_host(self, host: str | None) -> None:
        """Narrow every pane and the header to one host (None: every host again)."""
        self.host_context = host
        self.status.host = host
        for pane in self.panes.values():
            pane.host = host

    def _focus_pane(self, pane: DeckPane) -> None:
        self.set_focus(pane.focus_target())

    def _show_tabs(self) -> None:
        variables = self.theme_variables
        tabs = Text()
        for number, pane_id in enumerate(self.pane_order, start=1):
            key = self._keymap.get(pane_binding_id(pane_id), str(number))
            label = f" {key} {self.pane_specs[pane_id][0]} "
            if pane_id == self.current_pane:
                tabs.append(label, style=theme_style("accent", variables, bold=True) + Style(reverse=True))
            else:
                tabs.append(label, style=theme_style("foreground-muted", variables))
        self.query_one("#pane-tabs", Static).update(tabs)
        self.status.filter_text = self.filters.get(self.current_pane, "")

    def on_descendant_focus(self, event: events.DescendantFocus) -> None:
        # A steady cursor: a blinking one redraws its line twice a second, which an idle console over SSH pays
        # for in bytes and CPU (bench/idle_cpu.py, Chat and Images panes), as k9s and btop do not.
        if isinstance(event.widget, Input | TextArea):
            event.widget.cursor_blink = False

    # --- deck messages and the clock ----------------------------------------------------------------

    @on(DeckBridge.HealthChanged)
    @on(DeckBridge.RequestsFinished)
    @on(DeckBridge.CatalogsChanged)
    def forward_deck_messages(self, message: DeckBridge.HealthChanged | DeckBridge.RequestsFinished
                              | DeckBridge.CatalogsChanged) -> None:
        """Every attached pane gets its own copy (a hidden one keeps its state, the shown one redraws what
        changed); the header and the banner are brought up to date once."""
        if not self._update_header_and_banner():
            return  # the app is shutting down: its widgets are gone, messages still in the queue are dropped
        for pane in list(self.panes.values()):
            if pane.is_attached:
                pane.post_message(message.copy())

    def clock_tick(self) -> None:
        """What moves with time alone: a stream starting (no deck event says so), a ledger write failing, and
        whatever the shown pane says needs the clock (a breaker's countdown). Nothing else is touched."""
        self.clock_ticks += 1
        if not self._update_header_and_banner():
            return
        pane = self.panes.get(self.current_pane)
        if pane is not None and pane.display and pane.needs_clock():
            pane.sync()

    def _update_header_and_banner(self) -> bool:
        """Each redrawn only if its text changed; False once they are gone (the app is leaving)."""
        if not self.status.is_attached:
            return False
        self.status.update_from()
        self.ledger_banner.check()
        return True

    # --- actions ------------------------------------------------------------------------------------

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "submit_filter":
            return self.focused is self.filter_input  # elsewhere Enter goes to the focused widget
        if action not in SHELL_ACTIONS:
            return True
        if action in TYPED_IN_TEXT_FIELDS and isinstance(self.focused, Input | TextArea):
            return False  # `:` and `/` are text in a text field
        if action in ("next_pane", "previous_pane") and in_form(self.focused):
            return False  # in a form (Images) Tab walks the fields; Esc, then a digit or `:`, switches panes
        # A dialog is open: its own keys rule (Tab moves between its buttons). On the main screen Tab
        # switches panes, even from a text field, so no pane can trap the keyboard.
        return len(self.screen_stack) == 1

    async def action_show_pane(self, pane_id: str) -> None:
        if pane_id in self.pane_specs:
            await self.show_pane(pane_id)

    async def action_next_pane(self) -> None:
        index = self.pane_order.index(self.current_pane)
        await self.show_pane(self.pane_order[(index + 1) % len(self.pane_order)])

    async def action_previous_pane(self) -> None:
        index = self.pane_order.index(self.current_pane)
        await self.show_pane(self.pane_order[(index - 1) % len(self.pane_order)])

    async def action_command_line(self, initial: str = ":") -> None:
        from console.screens.command_line import CommandLine

        # Awaited (`:` is a priority binding): the input is mounted and focused before the next key is handed
        # out, so keys typed ahead reach it, in order.
        await self.push_screen(CommandLine(self.shell.completions(), initial), callback=self.shell.execute)

    def action_help(self) -> None:
        self.push_screen(HelpScreen(live_entries(self), self.shell.commands))

    def action_events(self) -> None:
        """`E`: the Events view (the same as `:events`; nothing if it is already open)."""
        self.shell.cmd_events([])

    # --- leaving and the clipboard --------------------------------------------------------------------

    def running_work(self) -> list[str]:
        """What quitting would stop, pane by pane."""
        return [work for pane in list(self.panes.values()) if pane.is_attached for work in pane.running_work()]

    async def action_quit(self) -> None:
        """Ctrl-Q: quit, but first ask while something runs; pressed again over that dialog, it quits. Ctrl-C, a
        hang-up and SIGTERM never ask (`action_interrupt`, console/leaving.py)."""
        running = self.running_work()
        if not running or isinstance(self.screen, QuitDialog):
            self.exit()
            return
        self.push_screen(QuitDialog(running), self._quit_if_confirmed)

    def _quit_if_confirmed(self, confirmed: bool | None) -> None:
        if confirmed:
            self.exit()

    def action_interrupt(self) -> None:
        self.exit()

    def copy_to_clipboard(self, text: str) -> None:
        """Textual's OSC 52 write (which also keeps `self.clipboard`), and inside tmux the same sequence passed
        through to the outer terminal (console/clipboard.py)."""
        super().copy_to_clipboard(text)
        writes = clipboard_writes(text, os.environ)[1:]  # the first, the plain sequence, Textual has written
        if writes and self._driver is not None:
            for sequence in writes:
                self._driver.write(sequence)

    def action_refresh_now(self) -> None:
        self.deck.probe_now()
        pane = self.panes.get(self.current_pane)
        if pane is not None:
            pane.refresh_now()
        self.status.update_from()

    def action_filter(self) -> None:
        field = self.filter_input
        field.value = self.filters.get(self.current_pane, "")
        field.add_class("open")
        # shown and focused now, not on the next refresh: the keys typed right after `/` must land in it
        field.display = True
        self.set_focus(field)

    def action_step_back(self) -> None:
        """Esc: close the filter line (clearing it), else leave a text field (so 1–6, `:` and `/` work again),
        else clear the pane's filter."""
        if self.filter_input.has_class("open") or (
                self.filters.get(self.current_pane) and not _editing(self.focused)):
            self._set_filter("")
            self._close_filter()
            self._focus_pane(self.panes[self.current_pane])
        elif _editing(self.focused):
            pane = self.panes[self.current_pane]
            target = next((w for w in pane.query("*")
                           if isinstance(w, Widget) and w.focusable and not _editing(w)), None)
            self.set_focus(target)

    def _set_filter(self, text: str) -> None:
        self.filters[self.current_pane] = text
        pane = self.panes.get(self.current_pane)
        if pane is not None:
            pane.apply_filter(text)
        self.status.filter_text = text

    def _close_filter(self) -> None:
        self.filter_input.remove_class("open")
        self.filter_input.display = False

    @on(Input.Changed, "#filter")
    def filter_changed(self, event: Input.Changed) -> None:
        if self.filter_input.has_class("open"):
            self._set_filter(event.value)

    def action_submit_filter(self) -> None:
        field = self.filter_input
        self._set_filter(field.value)
        self._close_filter()
        self._focus_pane(self.panes[self.current_pane])
        # Enter is a priority binding, so the letters typed just before it may still wait in the field's queue:
        # once the field has taken them, the filter is applied again with its whole text.
        field.call_later(self._apply_typed_filter, self.current_pane)

    def _apply_typed_filter(self, pane_id: str) -> None:
        if pane_id == self.current_pane and self.filter_input.value != self.filters.get(pane_id, ""):
            self._set_filter(self.filter_input.value)


def _editing(widget: Widget | None) -> bool:
    """A widget that takes typed text, where digits and `:` are input rather than commands."""
    return isinstance(widget, Input | TextArea)
