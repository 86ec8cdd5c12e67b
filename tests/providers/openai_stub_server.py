"""A loopback server that replays recorded bodies byte for byte and remembers what it was asked."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from providers.emulators.faults import FaultPlan
from providers.emulators.server import EmulatorServer

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
"""Bodies recorded from real servers (see its README), kept in the repo so a fresh clone can run the tests."""


def fixture_bytes(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


@dataclass(frozen=True)
class Canned:
    """One recorded reply. `splits`: byte offsets where the body is cut into separate writes."""

    body: bytes
    status: int = 200
    content_type: str = "application/json"
    splits: tuple[int, ...] = ()

    @classmethod
    def fixture(cls, name: str, **kwargs: object) -> Canned:
        content_type = "text/event-stream" if name.endswith(".sse") else (
            "text/plain; version=0.0.4" if name.endswith(".txt") else "application/json")
        return cls(fixture_bytes(name), content_type=str(kwargs.pop("content_type", content_type)), **kwargs)  # type: ignore[arg-type]


@dataclass
class Seen:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class StubServer:
    url: str
    seen: list[Seen] = field(default_factory=list)

    def paths(self) -> list[str]:
        return [s.path for s in self.seen]


def _pieces(canned: Canned) -> list[bytes]:
    bounds = [0, *sorted(p for p in set(canned.splits) if 0 < p < len(canned.body)), len(canned.body)]
    return [canned.body[a:b] for a, b in itertools.pairwise(bounds)]


@contextmanager
def serve(routes: dict[str, Canned]) -> Iterator[StubServer]:
    """Serve `{"GET /path": Canned, ...}` on 127.0.0.1; anything else is a 404 in the OpenAI envelope."""
    seen: list[Seen] = []

    async def handler(request: Request) -> Response:
        path = "/" + request.path_params["path"]
        seen.append(Seen(request.method, path, dict(request.headers), await request.body()))
        canned = routes.get(f"{request.method} {path}")
        if canned is None:
            return Response(b'{"error":{"message":"not found","type":"invalid_request_error","code":null}}',
                            status_code=404, media_type="application/json")

        async def pieces() -> AsyncIterator[bytes]:
            for piece in _pieces(canned):
                yield piece
                await asyncio.sleep(0.001)  # separate writes, so the client really sees the splits

        return StreamingResponse(pieces(), status_code=canned.status, media_type=canned.content_type)

    app = Starlette(routes=[Route("/{path:path}", handler, methods=["GET", "POST"])])
    server = EmulatorServer(app=app, plan=FaultPlan()).start()
    try:
        yield StubServer(server.url, seen)
    finally:
        server.stop()
