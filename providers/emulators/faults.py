"""Fault injection shared by every emulator.

A spec is a comma-separated list of faults, each `NAME[:ARG][@PROBABILITY]`:

    refuse              stop listening (per server only; see EmulatorServer)
    delay:S             answer S seconds late (default 1)
    stall_first:S       send nothing at all for S seconds (default 30), then answer
    stall_mid:S         stop for S seconds (default 30) after a few chunks of a stream
    cut                 drop the connection in the middle of the body
    truncate            end the stream cleanly but without its terminator
    malformed           send a body or chunk that is not valid JSON
    context             the backend's own context-length error
    badhash             a file download serves other bytes than the listing's SHA-256 says (hfhub)
    401 402 429 500 503 529   that status in the backend's error envelope; `429:S` sets Retry-After S

Per server: the spec given at start, or `POST /_emulator/faults {"spec": "..."}` at run time.
Per request: the `x-emulator-fault` header, which replaces the server's spec for that request.
"""

from __future__ import annotations

import asyncio
import json
import random
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass, field
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse

FAULT_HEADER = "x-emulator-fault"
STATUS_FAULTS = frozenset({401, 402, 429, 500, 503, 529})
NAMED_FAULTS = frozenset(
    {"refuse", "delay", "stall_first", "stall_mid", "cut", "truncate", "malformed", "context", "badhash"}
)
CHUNKS_BEFORE_MID_FAULT = 3
"""Mid-stream faults strike after this many body chunks, so some text has reached the client."""


class FaultSpecError(ValueError):
    """A fault spec that cannot be parsed."""


@dataclass(frozen=True, slots=True)
class Fault:
    name: str
    arg: float | None = None
    probability: float = 1.0

    @property
    def status(self) -> int | None:
        return int(self.name) if self.name.isdigit() else None

    def seconds(self, default: float) -> float:
        return default if self.arg is None else self.arg


def parse_faults(spec: str) -> tuple[Fault, ...]:
    """Parse `NAME[:ARG][@P],…`; raise FaultSpecError naming the bad part."""
    faults: list[Fault] = []
    for raw in spec.split(","):
        part = raw.strip()
        if not part:
            continue
        probability = 1.0
        if "@" in part:
            part, _, prob_text = part.partition("@")
            try:
                probability = float(prob_text)
            except ValueError:
                raise FaultSpecError(f"bad probability in fault {raw!r}") from None
        name, _, arg_text = part.partition(":")
        name = name.strip().lower()
        if name not in NAMED_FAULTS and not (name.isdigit() and int(name) in STATUS_FAULTS):
            known = ", ".join(sorted(NAMED_FAULTS) + [str(s) for s in sorted(STATUS_FAULTS)])
            raise FaultSpecError(f"unknown fault {name!r}; known: {known}")
        arg: float | None = None
        if arg_text:
            try:
                arg = float(arg_text)
            except ValueError:
                raise FaultSpecError(f"bad argument in fault {raw!r}") from None
        faults.append(Fault(name, arg, probability))
    return tuple(faults)


@dataclass
class FaultPlan:
    """The server-wide faults plus a seeded random source for probabilistic ones."""

    faults: tuple[Fault, ...] = ()
    seed: int = 0
    _rng: random.Random = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._rng = random.Random(self.seed)

    def set(self, spec: str) -> None:
        self.faults = parse_faults(spec)

    def spec(self) -> str:
        return ",".join(
            f.name + (f":{f.arg:g}" if f.arg is not None else "") + (f"@{f.probability:g}" if f.probability < 1 else "")
            for f in self.faults
        )

    def for_request(self, request: Request) -> RequestFaults:
        """The faults that strike this request: the header's if present, else the server's, after dice."""
        header = request.headers.get(FAULT_HEADER)
        chosen = parse_faults(header) if header else self.faults
        active = tuple(
            f for f in chosen
            if f.name != "refuse" and (f.probability >= 1 or self._rng.random() < f.probability)
        )
        return RequestFaults(active)


@dataclass(frozen=True, slots=True)
class RequestFaults:
    """Faults active for one request, with helpers each emulator calls at the right moment."""

    active: tuple[Fault, ...] = ()

    def get(self, name: str) -> Fault | None:
        return next((f for f in self.active if f.name == name), None)

    def has(self, name: str) -> bool:
        return self.get(name) is not None

    def status_fault(self) -> Fault | None:
        return next((f for f in self.active if f.status is not None), None)

    async def before_response(self) -> None:
        """Apply delay and stall_first before anything is sent."""
        if (fault := self.get("delay")) is not None:
            await asyncio.sleep(fault.seconds(1.0))
        if (fault := self.get("stall_first")) is not None:
            await asyncio.sleep(fault.seconds(30.0))

    def retry_after_headers(self) -> dict[str, str]:
        fault = self.status_fault()
        if fault is None or fault.status not in (429, 503, 529):
            return {}
        seconds = fault.seconds(1.0)
        return {"retry-after": f"{seconds:g}", "retry-after-ms": str(int(seconds * 1000))}

    def json_reply(self, body: Any, *, malformed: bytes, status: int = 200,
                   headers: dict[str, str] | None = None) -> Response:
        """A JSON reply, or its cut / truncated / malformed version when those faults are active. `malformed` is
        the broken body in the backend's own shape."""
        raw = json.dumps(body).encode()
        if self.has("cut"):
            return cut_response(raw)
        if self.has("truncate"):  # the HTTP body is complete, the JSON in it is not
            raw = raw[: len(raw) // 2]
        elif self.has("malformed"):
            raw = malformed
        return Response(raw, status_code=status, media_type="application/json", headers=headers)

    async def shape_stream(self, body: AsyncIterator[bytes], terminator: Iterable[bytes],
                           malformed: bytes) -> AsyncIterator[bytes]:
        """Relay a stream's chunks, applying stall_mid, cut, truncate and malformed."""
        sent = 0
        async for chunk in body:
            if sent == CHUNKS_BEFORE_MID_FAULT:
                if (fault := self.get("stall_mid")) is not None:
                    await asyncio.sleep(fault.seconds(30.0))
                if self.has("cut"):
                    raise ConnectionAbortedError("emulator fault: cut")
                if self.has("malformed"):
                    yield malformed
                    return
            yield chunk
            sent += 1
        if self.has("cut"):
            raise ConnectionAbortedError("emulator fault: cut")
        if self.has("malformed") and sent < CHUNKS_BEFORE_MID_FAULT:
            yield malformed
            return
        if self.has("truncate"):
            return
        for piece in terminator:
            yield piece


def cut_response(body: bytes, media_type: str = "application/json") -> Response:
    """A response that promises the whole body and drops the connection halfway through it."""

    async def half() -> AsyncIterator[bytes]:
        yield body[: max(1, len(body) // 2)]
        raise ConnectionAbortedError("emulator fault: cut")

    return StreamingResponse(half(), media_type=media_type, headers={"content-length": str(len(body))})


async def control_faults(request: Request, plan: FaultPlan) -> Response:
    """GET shows, POST `{"spec": "..."}` sets the server-wide faults (used by tests and the demo's :chaos)."""
    if request.method == "POST":
        payload = await request.json()
        try:
            plan.set(str(payload.get("spec", "")))
        except FaultSpecError as exc:
            return JSONResponse({"error": str(exc)}, status_code=400)
    return JSONResponse({"spec": plan.spec()})
