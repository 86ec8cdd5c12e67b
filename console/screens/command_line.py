"""The `:` command line: the command table, parsing, completion of commands and provider/alias names, Up/Down
through the commands typed before, and the nearest name for a mistyped one."""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.suggester import Suggester
from textual.widgets import Input, Static

from console.command_history import CommandHistory, HistoryWalk
from providers.safe_text import one_line


@dataclass(frozen=True, slots=True)
class CommandSpec:
    """One `:` command. `args` name what each argument is, for completion: provider, alias, target, model, spec."""

    name: str
    args: tuple[str, ...]
    usage: str
    help: str
    destructive: bool = False
    demo_only: bool = False
    aliases: tuple[str, ...] = ()


COMMANDS: tuple[CommandSpec, ...] = (
    CommandSpec("health", (), ":health", "show the Health pane"),
    CommandSpec("models", (), ":models", "show the Models pane"),
    CommandSpec("graphs", (), ":graphs", "show the Graphs pane"),
    CommandSpec("routes", (), ":routes", "show the Routes pane"),
    CommandSpec("chat", ("target",), ":chat [ALIAS|PROVIDER/MODEL]", "show the Chat pane, optionally on a target"),
    CommandSpec("images", (), ":images", "show the Images pane"),
    CommandSpec("pull", ("provider", "model"), ":pull PROVIDER MODEL", "pull a model (asks first)", destructive=True),
    CommandSpec("route", ("alias",), ":route ALIAS", "the explain plan of an alias"),
    CommandSpec("events", ("provider",), ":events [FILTER]",
                "what happened: health, breakers, requests, operations, reloads (FILTER narrows it)"),
    CommandSpec("chaos", ("provider", "spec"), ":chaos PROVIDER [SPEC|off]",
                "demo: make a provider fail or slow down (default 503@0.7,delay:1.5); off mends it", demo_only=True),
    CommandSpec("hub", ("query",), ":hub QUERY", "search the Hugging Face Hub for GGUF models; download one",
                destructive=True),
    CommandSpec("civitai", ("query",), ":civitai [--lora] QUERY",
                "search CivitAI checkpoints (or LoRAs); download one", destructive=True),
    CommandSpec("upload", ("dropbox",), ":upload [PROVIDER]",
                "upload the shown image or the current chat session to Dropbox"),
    CommandSpec("host", ("host",), ":host NAME|all", "narrow every pane to one host; :host all shows every host"),
    CommandSpec("keys", (), ":keys", "set or delete API keys in the keyring"),
    CommandSpec("save-config", (), ":save-config", "write a starter config with the servers that were found"),
    CommandSpec("refresh", (), ":refresh", "probe every provider now"),
    CommandSpec("reload", (), ":reload", "read the config file again and apply it (checked first)"),
    CommandSpec("help", (), ":help", "every key binding"),
    CommandSpec("q", (), ":q", "quit", aliases=("quit",)),
)


def available_commands(*, readonly: bool, demo: bool) -> tuple[CommandSpec, ...]:
    """The commands this session offers: no destructive ones when read-only, `:chaos` only in the demo."""
    return tuple(c for c in COMMANDS if not (readonly and c.destructive) and (demo or not c.demo_only))


def find_command(name: str, commands: Sequence[CommandSpec]) -> CommandSpec | None:
    return next((c for c in commands if name == c.name or name in c.aliases), None)


def parse_command(text: str) -> tuple[str, list[str]]:
    """`:pull local-ollama qwen2.5:7b` → ("pull", ["local-ollama", "qwen2.5:7b"])."""
    words = text.strip().removeprefix(":").split()
    return (words[0].lower(), words[1:]) if words else ("", [])


def closest(word: str, known: Iterable[str]) -> str | None:
    """The known name nearest to a mistyped `word` (`modles` → `models`), or None when none is near."""
    found = difflib.get_close_matches(word, list(known), n=1, cutoff=0.6)
    return found[0] if found else None


SHOWN_NAMES = 8
"""An unknown name's message lists at most this many of the known ones."""


def unknown_name(what: str, word: str, known: Sequence[str]) -> str:
    """`unknown provider 'box-vlm' — did you mean box-vllm?`, or the known names when none is near."""
    nearest = closest(word, known)
    if nearest is not None:
        return f"unknown {what} {word!r} — did you mean {nearest}?"
    if not known:
        return f"unknown {what} {word!r}; there is none"
    listed = ", ".join(known[:SHOWN_NAMES]) + (", …" if len(known) > SHOWN_NAMES else "")
    return f"unknown {what} {word!r} (one of {listed})"


@dataclass(frozen=True)
class Completions:
    """What the command line can complete: the available commands and names by argument kind; and the commands
    typed before, for Up/Down."""

    commands: tuple[CommandSpec, ...]
    names: Mapping[str, Sequence[str]] = field(default_factory=dict)
    history: CommandHistory = field(default_factory=CommandHistory)


def _common_prefix(words: Sequence[str]) -> str:
    first, last = min(words), max(words)  # the sorted extremes differ first where any two differ
    length = 0
    while length < min(len(first), len(last)) and first[length] == last[length]:
        length += 1
    return first[:length]


def _extend(prefix: str, candidates: Sequence[str]) -> tuple[str, bool] | None:
    """(completion, unique): the only match, else the matches' longest common prefix when it is longer than
    `prefix`, else the first match (so repeated Tabs still move on)."""
    matches = [c for c in candidates if c.startswith(prefix)]
    if not matches:
        return None
    if len(matches) == 1:
        return matches[0], True
    if prefix in matches:
        return prefix, True
    common = _common_prefix(matches)
    return (common, False) if len(common) > len(prefix) else (matches[0], False)


def complete(value: str, completions: Completions) -> str | None:
    """`value` with its last word completed (a command, then its arguments), or None when nothing fits."""
    text = value.removeprefix(":")
    parts = text.split(" ")
    if len(parts) == 1:
        if not parts[0]:
            return None
        names = [n for c in completions.commands for n in (c.name, *c.aliases)]
        found = _extend(parts[0].lower(), names)
        if found is None:
            return None
        word, unique = found
        spec = find_command(word, completions.commands) if unique else None
        return ":" + word + (" " if spec and spec.args else "")
    spec = find_command(parts[0].lower(), completions.commands)
    position = len(parts) - 2
    if spec is None or position >= len(spec.args):
        return None
    found = _extend(parts[-1], completions.names.get(spec.args[position], ()))
    if found is None:
        return None
    word, unique = found
    more = unique and position + 1 < len(spec.args) and not word.endswith("/")
    return ":" + " ".join([*parts[:-1], word]) + (" " if more else "")


def hint(value: str, completions: Completions) -> str:
    """Usage and help of the command being typed, or of every command that starts like it."""
    name = parse_command(value)[0]
    exact = find_command(name, completions.commands)
    if exact is not None:
        return one_line(f"{exact.usage} — {exact.help}")
    matching = [c for c in completions.commands if c.name.startswith(name)] or list(completions.commands)
    return one_line("  ".join(c.usage for c in matching))


class CommandSuggester(Suggester):
    """Shows the completion greyed out as you type; Tab or → accepts it."""

    def __init__(self, completions: Completions) -> None:
        super().__init__(use_cache=False, case_sensitive=True)
        self.completions = completions

    async def get_suggestion(self, value: str) -> str | None:
        # Completions hold model names a server chose; the greyed-out suggestion is drawn as typed text.
        suggestion = complete(value, self.completions)
        return None if suggestion is None else one_line(suggestion)


class CommandLine(ModalScreen[str | None]):
    """Returns the command typed (Enter) or None (Esc); a command entered is added to the history and saved."""

    BINDINGS: ClassVar = [
        Binding("escape", "cancel", "Cancel", id="command-cancel"),
        # Not a priority binding: Tab must complete what was typed before it, so it waits its turn behind the
        # characters still queued for the input (a priority key would be handled ahead of them)
        Binding("tab", "complete", "Complete", id="command-complete"),
        Binding("up", "history_older", "Older", id="command-history-older", show=False),
        Binding("down", "history_newer", "Newer", id="command-history-newer", show=False),
    ]
    CSS_PATH = "command_line.tcss"

    def __init__(self, completions: Completions, initial: str = ":") -> None:
        super().__init__()
        self.completions = completions
        self.initial = initial
        self._walk: HistoryWalk | None = None
        self._recalled: str | None = None
        """The line as the last Up/Down left it: a line that differs was edited since, and starts a new walk."""

    def compose(self) -> ComposeResult:
        with Vertical():
            # not select_on_focus: typing after `:` must add to it, not replace it
            yield Input(self.initial, id="command-input", suggester=CommandSuggester(self.completions),
                        select_on_focus=False)
            yield Static(hint(self.initial, self.completions), id="command-hint", markup=False)

    def on_mount(self) -> None:
        self.set_focus(self.query_one(Input))

    def on_input_changed(self, event: Input.Changed) -> None:
        self.query_one("#command-hint", Static).update(hint(event.value, self.completions))

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        history = self.completions.history
        if history.add(event.value):
            # on a thread: the write ends with an fsync, which the next keystroke must not wait for
            self.app.run_worker(history.save, thread=True, group="command-history", exit_on_error=False)
        self.dismiss(event.value.strip() or None)

    def action_history_older(self) -> None:
        field_input = self.query_one(Input)
        if self._walk is None or field_input.value != self._recalled:
            self._walk = HistoryWalk(self.completions.history.commands, field_input.value)
        self._recall(self._walk.older())

    def action_history_newer(self) -> None:
        if self._walk is not None and self.query_one(Input).value == self._recalled:
            self._recall(self._walk.newer())

    def _recall(self, line: str | None) -> None:
        if line is None:
            self.app.bell()
            return
        field_input = self.query_one(Input)
        field_input.value = line
        field_input.cursor_position = len(line)
        self._recalled = line

    def action_cancel(self) -> None:
        self.dismiss(None)

    def action_complete(self) -> None:
        field_input = self.query_one(Input)
        completion = complete(field_input.value, self.completions)
        if completion is not None:
            field_input.value = completion
            field_input.cursor_position = len(completion)
