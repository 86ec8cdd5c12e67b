"""`python -P -m providers.emulators.restart_command URL`: restart one emulator of the demo lab.

The demo config gives every provider this command as its `restart`, so `r` in the console (and `llmdeck restart`)
works on the demo as on a real lab: the argv runs without a shell and is shown first. The command asks the
emulator at URL to restart, waits until that has happened (the port refuses connections, or the emulator already
counts the restart), says so and ends. The emulator listens again on the same port a few seconds later, so the
health view sees the provider go down and come back, as after a real restart.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Sequence

import httpx

from providers.emulators.restart_route import RESTART_PATH

MODULE = "providers.emulators.restart_command"
DEADLINE_S = 30.0
"""How long the command waits for the emulator to go down before it gives up."""
POLL_S = 0.05
EXIT_FAILED = 1
EXIT_USAGE = 2


class RestartCommandError(RuntimeError):
    """The emulator could not be restarted; the message says why, for the operator."""


def restart_argv(url: str) -> tuple[str, ...]:
    """The restart argv for the emulator at `url`, as the demo config writes it.

    `-P` keeps the current directory off sys.path, so a `providers` folder wherever the console was started cannot
    stand in for this package. A `$` in the interpreter's path is doubled: restart arguments expand variables.
    """
    return (sys.executable.replace("$", "$$"), "-P", "-m", MODULE, url)


async def _listening(host: str, port: int) -> bool:
    try:
        _, writer = await asyncio.wait_for(asyncio.open_connection(host, port), timeout=2.0)
    except (OSError, TimeoutError):
        return False
    writer.close()
    return True


async def restart(url: str, *, deadline_s: float = DEADLINE_S) -> str:
    """Ask the emulator at `url` to restart and wait until it has gone down; return what to tell the operator."""
    target = httpx.URL(url)
    host, port = target.host, target.port or 80
    # trust_env=False: a proxy from the environment must not stand between this command and a loopback port.
    async with httpx.AsyncClient(timeout=10.0, trust_env=False) as client:
        try:
            reply = await client.post(target.join(RESTART_PATH))
        except httpx.ConnectError:
            raise RestartCommandError(f"nothing listens at {host}:{port}: the emulator is down already "
                                      "(a `refuse` chaos? `:chaos NAME off` mends it)") from None
        except httpx.HTTPError as exc:
            raise RestartCommandError(f"{host}:{port} did not take the restart: {type(exc).__name__}") from None
        if reply.status_code != 202:
            raise RestartCommandError(f"{host}:{port} answered {reply.status_code}: it is no demo lab emulator "
                                      "that can restart")
        try:
            asked = reply.json()
            before, down_s = int(asked["restarts"]), float(asked["down_s"])
        except (ValueError, KeyError, TypeError):
            raise RestartCommandError(f"{host}:{port} took the restart but its answer makes no sense") from None
        loop = asyncio.get_running_loop()
        give_up_at = loop.time() + deadline_s
        while loop.time() < give_up_at:
            if not await _listening(host, port):
                return f"{host}:{port} stopped listening; it listens again in about {down_s:g} s"
            # Down and back between two looks: the emulator has counted the restart.
            try:
                done = (await client.get(target.join(RESTART_PATH))).json().get("restarts", 0)
            except (httpx.HTTPError, ValueError):
                done = before
            if int(done) > before:
                return f"{host}:{port} restarted and listens again"
            await asyncio.sleep(POLL_S)
    raise RestartCommandError(f"{host}:{port} still listens {deadline_s:g} s after it was asked to restart")


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) != 1 or not args[0].startswith(("http://", "https://")):
        print(f"usage: python -P -m {MODULE} http://HOST:PORT", file=sys.stderr)
        return EXIT_USAGE
    try:
        said = asyncio.run(restart(args[0]))
    except RestartCommandError as exc:
        print(f"restart failed: {exc}", file=sys.stderr)
        return EXIT_FAILED
    print(said)
    return 0


if __name__ == "__main__":
    sys.exit(main())
