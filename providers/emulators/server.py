"""Run an emulator app with uvicorn on 127.0.0.1 in a background thread, with a stoppable listener."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import uvicorn

from providers.emulators.faults import FaultPlan
from providers.emulators.restart_route import RestartRoute

RESTART_POLL_S = 0.02
"""How often a restarted server looks whether its time down is over (or a test has let it go)."""


@dataclass
class EmulatorServer:
    """One emulator on a loopback port. `refuse()` stops listening (connections are refused) and
    `accept()` listens again on the same port, which is how the `refuse` fault is produced for real."""

    app: Any
    plan: FaultPlan
    host: str = "127.0.0.1"
    port: int = 0
    restart_down_s: float | None = None
    """When set, `POST /_emulator/restart` restarts this server, down this many seconds (the demo's `r`)."""
    hold_restarts: bool = False
    """While set, a restarted server stays down until let go: a test can see it down without racing its return."""
    restarts: int = 0
    """Restarts completed: listening again after `restart()`."""
    _server: uvicorn.Server | None = None
    _thread: threading.Thread | None = None
    _listener: threading.Lock = field(default_factory=threading.Lock, repr=False)
    """Held while the listener starts or stops: a restart's thread and the demo's `:chaos` may both change it."""
    _changes: int = 0
    """Bumped by every start and stop, so a restart can tell that someone else has set the listener meanwhile."""

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self, timeout_s: float = 30.0) -> EmulatorServer:
        with self._listener:
            return self._listen(timeout_s)

    def _listen(self, timeout_s: float = 30.0) -> EmulatorServer:
        self._changes += 1
        # proto=IPPROTO_TCP so asyncio sets TCP_NODELAY on accepted sockets; with proto 0 it does not, and
        # Nagle plus delayed ACK adds ~40 ms to every reply on a reused keep-alive connection.
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self.host, self.port))
        self.port = sock.getsockname()[1]
        # Injected faults (cut connections, stalls cancelled at shutdown) make uvicorn log tracebacks; in the demo
        # they would be printed over the console, so only critical messages are logged.
        app = self.app if self.restart_down_s is None else RestartRoute(
            self.app, restart=self.restart, down_s=self.restart_down_s, restarts=lambda: self.restarts)
        config = uvicorn.Config(
            app, log_level="critical", lifespan="off", access_log=False, ws="websockets-sansio",
            timeout_graceful_shutdown=1, timeout_keep_alive=30,
        )
        server = uvicorn.Server(config)
        self._server = server

        def serve() -> None:
            asyncio.run(server.serve(sockets=[sock]))
            sock.close()

        self._thread = threading.Thread(target=serve, name=f"emulator:{self.port}", daemon=True)
        self._thread.start()
        ready = threading.Event()
        for _ in range(int(timeout_s / 0.01)):
            if server.started or not self._thread.is_alive():
                break
            ready.wait(0.01)
        if not server.started:
            raise RuntimeError(f"emulator did not start on {self.url}")
        return self

    def request_stop(self) -> None:
        """Ask the server to exit without waiting (it notices within uvicorn's 0.1 s tick); `stop` then joins."""
        if self._server is not None:
            self._server.should_exit = True
            self._server.force_exit = True

    def stop(self) -> None:
        with self._listener:
            self._halt()

    def _halt(self) -> None:
        self._changes += 1
        self.request_stop()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._server = None
        self._thread = None

    def refuse(self) -> None:
        """Stop listening: new connections are refused until `accept()`."""
        self.stop()

    def accept(self) -> None:
        """Listen again on the same port."""
        with self._listener:
            if self._server is None:
                self._listen()

    def restart(self) -> None:
        """Stop listening now and listen again on the same port after `restart_down_s`, as a restarted backend
        does. It runs in a thread of its own: the request that asked for it is served by the listener it stops."""
        threading.Thread(target=self._restart, name=f"emulator-restart:{self.port}", daemon=True).start()

    def _restart(self) -> None:
        with self._listener:
            if self._server is None:
                return
            self._halt()
            changes = self._changes
        back_at = time.monotonic() + (self.restart_down_s or 0.0)
        pause = threading.Event()
        while time.monotonic() < back_at or self.hold_restarts:
            if self._changes != changes:  # stopped, refused or accepted meanwhile: that wins
                return
            pause.wait(RESTART_POLL_S)
        with self._listener:
            if self._changes == changes and self._server is None:
                self._listen()
                self.restarts += 1

    @property
    def listening(self) -> bool:
        return self._server is not None

    def set_faults(self, spec: str) -> None:
        """Set the server-wide faults; `refuse` stops the listener, anything else restarts it."""
        self.plan.set(spec)
        if any(f.name == "refuse" for f in self.plan.faults):
            self.refuse()
        else:
            self.accept()

    def __enter__(self) -> EmulatorServer:
        return self if self.listening else self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def stop_all(servers: Iterable[EmulatorServer]) -> None:
    """Stop several servers in about the time of one: ask them all, then wait for each."""
    servers = list(servers)
    for server in servers:
        server.request_stop()
    for server in servers:
        server.stop()


SIGNAL_CHECK_S = 0.5
"""How often the waiting main thread wakes: the kernel may deliver Ctrl-C's SIGINT to the server's thread, and Python
runs the handler (KeyboardInterrupt) only when the main thread runs — a wait with no timeout would never end."""


def serve_until_interrupted(server: EmulatorServer) -> None:
    """Block the calling (main) thread until Ctrl-C, then stop `server` (a command that runs one in the foreground)."""
    forever = threading.Event()
    try:
        while not forever.wait(SIGNAL_CHECK_S):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
