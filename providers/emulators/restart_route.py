"""`/_emulator/restart` in front of any emulator app: how the demo's restart command reaches its emulator.

POST answers 202 with how long the emulator will stay down, then the server stops listening and listens again
on the same port (EmulatorServer.restart). GET tells how many restarts have completed, so the command can see a
restart that was over before it looked. Only servers started with a restart delay have the route (the demo lab);
every other emulator answers the path as its own app does.
"""

from __future__ import annotations

from collections.abc import Callable

from starlette.responses import JSONResponse, PlainTextResponse
from starlette.types import ASGIApp, Receive, Scope, Send

RESTART_PATH = "/_emulator/restart"


class RestartRoute:
    """ASGI wrapper: `restart()` is called once the 202 has been handed to the connection."""

    def __init__(self, app: ASGIApp, *, restart: Callable[[], None], down_s: float,
                 restarts: Callable[[], int]) -> None:
        self.app = app
        self.restart = restart
        self.down_s = down_s
        self.restarts = restarts

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] != RESTART_PATH:
            await self.app(scope, receive, send)
            return
        if scope["method"] == "GET":
            await JSONResponse({"restarts": self.restarts(), "down_s": self.down_s})(scope, receive, send)
            return
        if scope["method"] != "POST":
            await PlainTextResponse("405: Method Not Allowed", status_code=405,
                                    headers={"allow": "GET, POST"})(scope, receive, send)
            return
        body = {"restarting": True, "restarts": self.restarts(), "down_s": self.down_s}
        await JSONResponse(body, status_code=202)(scope, receive, send)
        self.restart()
