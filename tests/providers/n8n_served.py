"""An emulated n8n over a state the test holds (its workflows and executions), so a test can see what an action
changed on the server and serve names of its choosing."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from providers.emulators.faults import FaultPlan
from providers.emulators.n8n import Handler, N8nState, n8n_routes
from providers.emulators.server import EmulatorServer


def _endpoint(handler: Handler, plan: FaultPlan) -> Callable[[Request], Awaitable[Response]]:
    async def run(request: Request) -> Response:
        return await handler(request, plan.for_request(request))

    return run


def serve_n8n(state: N8nState) -> EmulatorServer:
    """A server (use it as a context manager) answering n8n's routes over `state`."""
    plan = FaultPlan()
    routes = [Route(key.partition(" ")[2], _endpoint(handler, plan), methods=[key.partition(" ")[0]])
              for key, handler in n8n_routes(state).items()]
    return EmulatorServer(app=Starlette(routes=routes), plan=plan)
