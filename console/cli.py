"""The `llmdeck` entry point: argument parsing and dispatch to lazily imported handlers."""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Callable, Sequence
from typing import Any

from console import __version__
from console.exit_codes import EXIT_USAGE

Handler = Callable[[argparse.Namespace], int]


class _Parser(argparse.ArgumentParser):
    """argparse that exits 2 with a one-line reason, as INTERFACE.md requires. `late_epilog` computes text for
    the end of --help only when help is shown, so a list that is costly to import never slows a command down."""

    def __init__(self, *args: Any, late_epilog: Callable[[], str] | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.late_epilog = late_epilog

    def format_help(self) -> str:
        if self.late_epilog is not None:
            self.epilog = self.late_epilog()
        return super().format_help()

    def error(self, message: str) -> None:  # type: ignore[override]
        self.print_usage(sys.stderr)
        sys.stderr.write(f"llmdeck: error: {message}\n")
        raise SystemExit(EXIT_USAGE)


JSON_HELP = "print exactly one JSON document on stdout"


def _emulator_kinds() -> str:
    from console.commands.emulate import kinds_line  # imports the emulators: only for --help

    return kinds_line()


def _handler(parser: argparse.ArgumentParser, target: str) -> None:
    """Register `module:function` as the handler; imported only when the command runs (fast start)."""
    parser.set_defaults(handler=target)


def _not_available(parser: argparse.ArgumentParser) -> None:
    parser.set_defaults(handler=None)


def _common(parser: argparse.ArgumentParser, *, json_help: str | None = None) -> None:
    # SUPPRESS: an absent sub-command --config must not overwrite `llmdeck --config PATH COMMAND`.
    parser.add_argument("--config", metavar="PATH", default=argparse.SUPPRESS,
                        help="config file (default: $LLMDECK_CONFIG or XDG)")
    if json_help is not None:
        parser.add_argument("--json", action="store_true", help=json_help)


def _host_context(parser: argparse.ArgumentParser, help_text: str) -> None:
    # SUPPRESS, as --config: `llmdeck --host NAME COMMAND` and `llmdeck COMMAND --host NAME` both count.
    parser.add_argument("--host", metavar="NAME", dest="host_context", default=argparse.SUPPRESS, help=help_text)


def _model_operation(parser: argparse.ArgumentParser, doing: str) -> None:
    _common(parser, json_help="print the call that was made as one JSON document")
    parser.add_argument("provider", metavar="PROVIDER", help=f"the configured provider to {doing}")
    parser.add_argument("model", metavar="MODEL", help="the model's name as the provider lists it")


def build_parser() -> argparse.ArgumentParser:
    """The whole command line of INTERFACE.md."""
    parser = _Parser(prog="llmdeck", description="Operate the AI backends of a lab from one terminal console.")
    parser.add_argument("--version", action="version", version=f"llmdeck {__version__}")
    parser.add_argument("--config", metavar="PATH", help="config file (default: $LLMDECK_CONFIG or XDG)")
    parser.add_argument("--demo", action="store_true", help="start built-in emulators and a demo config")
    parser.add_argument("--readonly", action="store_true", help="hide and disable destructive actions")
    parser.add_argument("--host", metavar="NAME", dest="host_context", default=None,
                        help="narrow to one host of `hosts:` (the console: `:host all` widens it again)")
    _handler(parser, "console.commands.tui:run")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    p = sub.add_parser("health", help="probe every provider once")
    _common(p, json_help=JSON_HELP)
    _host_context(p, "only this host's providers")
    _handler(p, "console.commands.ops:health")

    p = sub.add_parser("models", help="the model catalog across providers")
    _common(p, json_help=JSON_HELP)
    p.add_argument("--provider", metavar="NAME", help="only this provider's models")
    _host_context(p, "only the models of this host's providers")
    _handler(p, "console.commands.ops:models")

    p = sub.add_parser("chat", help="chat with an alias or PROVIDER/MODEL")
    _common(p, json_help="print the answer, the route taken, timings, usage and cost as one JSON document")
    p.add_argument("target", metavar="TARGET", help="a route alias, or PROVIDER/MODEL")
    p.add_argument("prompt", metavar="PROMPT", nargs="?", help="what to ask (read from stdin when left out)")
    p.add_argument("--system", metavar="S", help="a system prompt sent before the conversation")
    p.add_argument("--max-tokens", metavar="N", type=int, help="the most tokens the answer may have")
    p.add_argument("--session", metavar="NAME|ID",
                   help="continue this session with its history (a new name starts a session so named)")
    p.add_argument("--new", action="store_true", help="start a new session, even if --session names one")
    _handler(p, "console.commands.ops:chat")

    sessions = sub.add_parser("sessions", help="chat sessions kept in the ledger")
    sessions_sub = sessions.add_subparsers(dest="sessions_command", metavar="ACTION", parser_class=_Parser,
                                           required=True)
    p = sessions_sub.add_parser("list", help="id, title, target, last activity and turns of each session")
    _common(p, json_help=JSON_HELP)
    _handler(p, "console.commands.sessions:list_sessions")
    p = sessions_sub.add_parser("show", help="the turns of one session")
    _common(p, json_help=JSON_HELP)
    p.add_argument("session", metavar="ID|NAME", help="the session's id or name (see `sessions list`)")
    _handler(p, "console.commands.sessions:show_session")
    p = sessions_sub.add_parser("export", help="one session as Markdown or JSON")
    _common(p, json_help="the same as --format json")
    p.add_argument("session", metavar="ID|NAME", help="the session's id or name (see `sessions list`)")
    p.add_argument("--format", choices=("md", "json"), default="md", help="md (the default) or json")
    p.add_argument("--out", metavar="FILE", help="write to FILE instead of stdout")
    _handler(p, "console.commands.sessions:export_session")

    route = sub.add_parser("route", help="routing table tools")
    route_sub = route.add_subparsers(dest="route_command", metavar="ACTION", parser_class=_Parser, required=True)
    p = route_sub.add_parser("explain", help="the plan for an alias right now")
    _common(p, json_help=JSON_HELP)
    p.add_argument("alias", metavar="ALIAS", help="a route alias, or PROVIDER/MODEL")
    _handler(p, "console.commands.ops:route_explain")

    p = sub.add_parser("pull", help="pull a model with a progress bar")
    _common(p, json_help="print each progress event as one JSON object per line, as it comes")
    p.add_argument("provider", metavar="PROVIDER", help="the configured provider to pull onto (one that can pull)")
    p.add_argument("model", metavar="MODEL", help="the model's name in the provider's registry")
    _handler(p, "console.commands.ops:pull")

    p = sub.add_parser("delete", help="delete a model (asks first)")
    _model_operation(p, "delete the model from")
    p.add_argument("--yes", action="store_true", help="do not ask")
    _handler(p, "console.commands.ops:delete")

    p = sub.add_parser("unload", help="free a model's memory")
    _model_operation(p, "unload the model on")
    _handler(p, "console.commands.ops:unload")

    p = sub.add_parser("restart", help="restart a provider (shows the argv first)")
    _common(p, json_help="print the command run, its exit status and output as one JSON document")
    p.add_argument("provider", metavar="PROVIDER", help="the configured provider to restart")
    p.add_argument("--yes", action="store_true", help="do not ask")
    _handler(p, "console.commands.ops:restart")

    p = sub.add_parser("image", help="text to image")
    _common(p, json_help=JSON_HELP)
    p.add_argument("provider", metavar="PROVIDER", help="the configured image provider (a1111, comfyui, …)")
    p.add_argument("prompt", metavar="PROMPT", help="what the image shows")
    p.add_argument("--out", metavar="FILE.png", required=True,
                   help="where to write the PNG (a JSON sidecar with the parameters goes beside it)")
    p.add_argument("--force", action="store_true", help="overwrite FILE.png and its sidecar if they exist")
    p.add_argument("--model", metavar="CKPT", help="the checkpoint to use (default: the provider's current one)")
    p.add_argument("--negative", metavar="TEXT", help="what the image should not show")
    p.add_argument("--width", metavar="W", type=int, default=512, help="width in pixels (default 512)")
    p.add_argument("--height", metavar="H", type=int, default=512, help="height in pixels (default 512)")
    p.add_argument("--steps", metavar="N", type=int, default=20, help="sampling steps (default 20)")
    p.add_argument("--seed", metavar="S", type=int, default=-1, help="the seed; -1 (the default) picks one")
    _handler(p, "console.commands.ops:image")

    keys = sub.add_parser("keys", help="API keys in the OS keyring")
    keys_sub = keys.add_subparsers(dest="keys_command", metavar="ACTION", parser_class=_Parser, required=True)
    p = keys_sub.add_parser("set", help="store a key (read from a hidden prompt or stdin)")
    p.add_argument("name", metavar="NAME", help="the key's name, as `keyring:NAME` refers to it in the config")
    # Captured only to refuse it without echoing it back (argparse would print the secret in its error).
    p.add_argument("argv_secret", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)
    _handler(p, "console.commands.keys:set_key")
    p = keys_sub.add_parser("list", help="key names and masked tails")
    p.add_argument("--json", action="store_true", help=JSON_HELP)
    _handler(p, "console.commands.keys:list_keys")
    p = keys_sub.add_parser("delete", help="remove a key")
    p.add_argument("name", metavar="NAME", help="the key's name (see `keys list`)")
    _handler(p, "console.commands.keys:delete_key")
    p = keys_sub.add_parser("doctor", help="which keyring backend is active, and how to fix it")
    p.add_argument("--json", action="store_true", help=JSON_HELP)
    _handler(p, "console.commands.keys:doctor")

    cfg = sub.add_parser("config", help="config file tools")
    cfg_sub = cfg.add_subparsers(dest="config_command", metavar="ACTION", parser_class=_Parser, required=True)
    p = cfg_sub.add_parser("validate", help="check a config file")
    p.add_argument("path", metavar="PATH", nargs="?",
                   help="the config file (default: --config, $LLMDECK_CONFIG or XDG)")
    p.add_argument("--config", metavar="PATH", dest="config", default=argparse.SUPPRESS, help=argparse.SUPPRESS)
    p.add_argument("--json", action="store_true",
                   help="print the outcome and every problem as one JSON document (problems stay on stderr too)")
    _handler(p, "console.commands.config_cmd:validate")

    export = sub.add_parser("export", help="export the routes to another tool's format")
    export_sub = export.add_subparsers(dest="export_command", metavar="FORMAT", parser_class=_Parser, required=True)
    p = export_sub.add_parser("litellm", help="a LiteLLM proxy config")
    _common(p, json_help="the same config as JSON instead of YAML")
    p.add_argument("--out", metavar="FILE", help="write to FILE instead of stdout")
    _handler(p, "console.commands.ops:export_litellm")

    hub = sub.add_parser("hub", help="find and fetch models on the Hugging Face Hub")
    hub_sub = hub.add_subparsers(dest="hub_command", metavar="ACTION", parser_class=_Parser, required=True)
    p = hub_sub.add_parser("search", help="repositories matching QUERY: downloads, likes, last update")
    _common(p, json_help=JSON_HELP)
    p.add_argument("query", metavar="QUERY", help="what to look for, e.g. llama 3.2 instruct")
    p.add_argument("--gguf", action="store_true", help="only repositories with GGUF files (for llama.cpp/Ollama)")
    _handler(p, "console.commands.hub:search")
    p = hub_sub.add_parser("files", help="a repository's files with size, quantisation and sha256")
    _common(p, json_help=JSON_HELP)
    p.add_argument("repo", metavar="REPO", help="OWNER/NAME")
    _handler(p, "console.commands.hub:files")
    p = hub_sub.add_parser("download", help="download one file (resumable, sha256-checked)")
    _common(p, json_help="print progress as JSON lines and the result as the last line")
    p.add_argument("repo", metavar="REPO", help="OWNER/NAME")
    p.add_argument("file", metavar="FILE", help="the file's path in the repository")
    where = p.add_mutually_exclusive_group()
    where.add_argument("--to", metavar="DIR", help="the directory to download into")
    where.add_argument("--provider", metavar="NAME",
                       help="a llamacpp provider (into its models_dir) or an ollama one (pulled as hf.co/REPO:QUANT)")
    _handler(p, "console.commands.hub:download")

    civitai = sub.add_parser("civitai", help="find and fetch checkpoints and LoRAs on CivitAI")
    civitai_sub = civitai.add_subparsers(dest="civitai_command", metavar="ACTION", parser_class=_Parser,
                                         required=True)
    p = civitai_sub.add_parser("search", help="models matching QUERY, with their versions")
    _common(p, json_help=JSON_HELP)
    p.add_argument("query", metavar="QUERY", help="what to look for")
    p.add_argument("--type", choices=("checkpoint", "lora"), default=None, help="only this type of model")
    _handler(p, "console.commands.civitai:search")
    p = civitai_sub.add_parser("download", help="download a model version into an image provider's directory")
    _common(p, json_help="print progress as JSON lines and the result as the last line")
    p.add_argument("version_id", metavar="VERSION_ID", type=int, help="the model version's id (from search)")
    p.add_argument("--provider", metavar="NAME", required=True,
                   help="an a1111 or comfyui provider (into its checkpoint_dir or lora_dir)")
    _handler(p, "console.commands.civitai:download")

    p = sub.add_parser("upload", help="upload files (images, exports) to a Dropbox provider")
    _common(p, json_help=JSON_HELP)
    p.add_argument("provider", metavar="PROVIDER", help="the dropbox provider")
    p.add_argument("files", metavar="FILE", nargs="+", help="the files to upload")
    _handler(p, "console.commands.upload:run")

    p = sub.add_parser("gpus", help="the GPUs of each host: utilisation, memory, temperature, power, processes")
    _common(p, json_help=JSON_HELP)
    _host_context(p, "only this host's GPUs")
    _handler(p, "console.commands.gpus:run")

    p = sub.add_parser("serve-metrics", help="run the health monitor headless and serve /metrics for Prometheus")
    _common(p)
    p.add_argument("--listen", metavar="ADDR:PORT", default="127.0.0.1:9464",
                   help="the address to serve /metrics on (default 127.0.0.1:9464)")
    _handler(p, "console.commands.serve_metrics:run")

    p = sub.add_parser("emulate", help="run one built-in emulator in the foreground", late_epilog=_emulator_kinds)
    p.add_argument("kind", metavar="KIND", help="the backend to emulate (the kinds are listed below)")
    p.add_argument("--port", metavar="N", type=int, default=0, help="the port to listen on (default 0: a free one)")
    p.add_argument("--host", metavar="ADDR", default="127.0.0.1", help="the address to listen on (default 127.0.0.1)")
    p.add_argument("--faults", metavar="SPEC", default="",
                   help="faults to inject as NAME[:ARG][@P],… (refuse, 503, delay:2@0.5, …)")
    p.add_argument("--json", action="store_true", help="announce the address as one JSON line: {kind, url, faults}")
    _handler(p, "console.commands.emulate:run")
    return parser


def _resolve(target: str) -> Handler | None:
    module_name, _, function_name = target.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name == module_name:
            return None
        raise
    handler: Handler | None = getattr(module, function_name, None)
    return handler


def main(argv: Sequence[str] | None = None) -> int:
    """Parse, dispatch, and turn the outcome into the exit codes of INTERFACE.md."""
    parser = build_parser()
    args = parser.parse_args(argv)
    target: str | None = args.handler
    handler = _resolve(target) if target else None
    if handler is None:
        name = " ".join(
            part for part in (args.command, *(getattr(args, f"{args.command}_command", None) or "",)) if part
        ) or "console"
        sys.stderr.write(f"llmdeck: {name}: not available yet\n")
        return EXIT_USAGE
    try:
        code = handler(args)
        sys.stdout.flush()  # now, not at exit, so a reader that has left is met where it is handled
        return code
    except KeyboardInterrupt:
        sys.stderr.write("llmdeck: interrupted\n")
        return 130
    except BrokenPipeError:  # stdout's reader left (`| head`): what it wanted it has; stop without a word
        from console.commands.chat_stop import PIPE_CLOSED_EXIT, silence_stdout

        silence_stdout()
        return PIPE_CLOSED_EXIT


if __name__ == "__main__":
    raise SystemExit(main())
