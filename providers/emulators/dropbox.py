"""An emulator of Dropbox API v2 (PROTOCOLS.md §10.6): space usage for health, files/upload, upload sessions
(start, append_v2, finish) with offset checking, a quota, access-token checks and the OAuth refresh, with the
shared fault spec. RPC, content and OAuth routes are all served from one root.

Not recorded from the real service: the shapes follow Dropbox's API spec and Python SDK (error envelopes
`{"error_summary": "tag/..", "error": {".tag": …}}`, 401 for a bad or expired token, 409 for a route's own error).

Tokens: any Bearer token is accepted except one starting with REVOKED_KEY_PREFIX (401 `invalid_access_token`) or
EXPIRED_TOKEN_PREFIX (401 `expired_access_token`). `POST /oauth2/token` with `grant_type=refresh_token` issues a
fresh token for any refresh token except a revoked one.

Test controls, beside the shared `/_emulator/faults`:
    GET  /_emulator/dropbox/log           every content and OAuth request: route, status, bytes, cursor offset
    GET  /_emulator/dropbox/file?path=P   the stored bytes of one file (404 when none)
    POST /_emulator/dropbox/state         {"free_bytes": N} leaves N bytes of space; {"throttle": K,
         "retry_after": S} answers the next K uploads 429; {"lose_append_replies": [F, …]} keeps the fraction F of
         each next append's bytes and then answers 500, as a reply lost after the data arrived.
"""

from __future__ import annotations

import hashlib
import json
import posixpath
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from providers.emulators.faults import FaultPlan, RequestFaults, control_faults
from providers.emulators.n8n import REVOKED_KEY_PREFIX
from providers.emulators.text import Pace

EXPIRED_TOKEN_PREFIX = "expired-"
BASE_USED = 2_254_857_830
"""Bytes the account holds before anything is uploaded (health reads `2.1 GiB of 2.0 TiB used`)."""
ALLOCATED = 2 * 1024**4
MAX_REQUEST_BYTES = 150 * 1024 * 1024
"""Dropbox takes at most 150 MB in one upload request."""
HASH_BLOCK = 4 * 1024 * 1024

Handler = Callable[[Request, RequestFaults], Awaitable[Response]]


def content_hash(data: bytes) -> str:
    """Dropbox's content hash: SHA-256 over the SHA-256 digests of each 4 MiB block."""
    blocks = b"".join(hashlib.sha256(data[i:i + HASH_BLOCK]).digest() for i in range(0, len(data), HASH_BLOCK))
    return hashlib.sha256(blocks).hexdigest()


def _error(status: int, tag_path: list[str], error: dict[str, Any]) -> Response:
    return JSONResponse({"error_summary": "/".join(tag_path) + "/..", "error": error}, status_code=status)


@dataclass
class _Session:
    data: bytearray = field(default_factory=bytearray)
    closed: bool = False


@dataclass
class DropboxState:
    """What the account holds and the test controls that bend its next answers."""

    files: dict[str, tuple[str, bytes]] = field(default_factory=dict)
    """path_lower → (path_display, bytes)."""
    sessions: dict[str, _Session] = field(default_factory=dict)
    allocated: int = ALLOCATED
    throttle: int = 0
    retry_after: float = 1.0
    lose_append_replies: list[float] = field(default_factory=list)
    log: list[dict[str, Any]] = field(default_factory=list)
    issued: int = 0
    started: int = 0

    def used(self) -> int:
        return BASE_USED + sum(len(data) for _, data in self.files.values())

    def store(self, path: str, data: bytes, *, autorename: bool) -> tuple[str, bytes] | str:
        """Store under `path` (mode add): the same bytes already there are that file; another file there is a
        conflict, renamed `name (1).ext` with autorename. A string is the error tag path."""
        if self.used() + len(data) > self.allocated:
            return "insufficient_space"
        display = path
        number = 0
        while (existing := self.files.get(display.lower())) is not None and existing[1] != data:
            if not autorename:
                return "conflict"
            number += 1
            stem, ext = posixpath.splitext(path)
            display = f"{stem} ({number}){ext}"
        self.files[display.lower()] = (display, data)
        return display, data


def _metadata(display: str, data: bytes) -> dict[str, Any]:
    stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    digest = content_hash(data)
    return {".tag": "file", "name": posixpath.basename(display), "path_lower": display.lower(),
            "path_display": display, "id": f"id:{digest[:22]}", "client_modified": stamp, "server_modified": stamp,
            "rev": digest[:16], "size": len(data), "is_downloadable": True, "content_hash": digest}


def _bearer(request: Request) -> str | None:
    value = request.headers.get("authorization", "")
    return value.removeprefix("Bearer ").strip() if value.startswith("Bearer ") else None


def _token_refusal(request: Request, route: str) -> Response | None:
    token = _bearer(request)
    if token is None:
        return PlainTextResponse(f'Error in call to API function "{route}": Must provide HTTP header '
                                 '"Authorization" or URL parameter "authorization".', status_code=400)
    if token.startswith(REVOKED_KEY_PREFIX):
        return _error(401, ["invalid_access_token"], {".tag": "invalid_access_token"})
    if token.startswith(EXPIRED_TOKEN_PREFIX):
        return _error(401, ["expired_access_token"], {".tag": "expired_access_token"})
    return None


async def _bounded_body(request: Request) -> bytes | None:
    """The request body, or None past Dropbox's per-request limit (read no further)."""
    body = bytearray()
    async for piece in request.stream():
        body += piece
        if len(body) > MAX_REQUEST_BYTES:
            return None
    return bytes(body)


def _api_arg(request: Request, route: str) -> dict[str, Any] | Response:
    text = request.headers.get("dropbox-api-arg", "")
    try:
        arg = json.loads(text)
    except ValueError:
        arg = None
    if not isinstance(arg, dict):
        return PlainTextResponse(f'Error in call to API function "{route}": HTTP header "Dropbox-API-Arg": could '
                                 "not decode input as JSON", status_code=400)
    return arg


def _routes(state: DropboxState) -> dict[str, Handler]:
    async def space_usage(request: Request, faults: RequestFaults) -> Response:
        if (refusal := _token_refusal(request, "users/get_space_usage")) is not None:
            return refusal
        if (await request.body()).strip() != b"null":
            # Routes without arguments take the JSON body `null`; Dropbox answers 400 in plain text otherwise.
            return PlainTextResponse('Error in call to API function "users/get_space_usage": request body: could '
                                     "not decode input as JSON", status_code=400)
        return faults.json_reply({"used": state.used(), "allocation": {".tag": "individual",
                                                                       "allocated": state.allocated}},
                                 malformed=b'{"used": unterminated')

    async def upload(arg: dict[str, Any], data: bytes) -> Response:
        stored = state.store(str(arg.get("path", "")), data, autorename=bool(arg.get("autorename")))
        if isinstance(stored, str):
            return _error(409, ["path", stored], {".tag": "path", "reason": {".tag": stored},
                                                  "upload_session_id": "none"})
        return JSONResponse(_metadata(*stored))

    async def start(arg: dict[str, Any], data: bytes) -> Response:
        state.started += 1
        session_id = f"sess-{state.started:06d}"
        state.sessions[session_id] = _Session(bytearray(data), closed=bool(arg.get("close")))
        return JSONResponse({"session_id": session_id})

    def lookup(arg: dict[str, Any], data: bytes, prefix: list[str]) -> _Session | Response:
        cursor = arg.get("cursor")
        session = state.sessions.get(str(cursor.get("session_id"))) if isinstance(cursor, dict) else None
        if session is None or not isinstance(cursor, dict):
            return _error(409, [*prefix, "not_found"], _nest(prefix, {".tag": "not_found"}))
        if cursor.get("offset") != len(session.data):
            offset_error = {".tag": "incorrect_offset", "correct_offset": len(session.data)}
            return _error(409, [*prefix, "incorrect_offset"], _nest(prefix, offset_error))
        if session.closed and data:
            return _error(409, [*prefix, "closed"], _nest(prefix, {".tag": "closed"}))
        return session

    async def append(arg: dict[str, Any], data: bytes) -> Response:
        found = lookup(arg, data, [])
        if isinstance(found, Response):
            return found
        if state.lose_append_replies:
            kept = state.lose_append_replies.pop(0)
            found.data += data[: int(len(data) * kept)]
            return _error(500, ["internal_error"], {".tag": "internal_error"})
        found.data += data
        found.closed = bool(arg.get("close"))
        return JSONResponse(None)

    async def finish(arg: dict[str, Any], data: bytes) -> Response:
        found = lookup(arg, data, ["lookup_failed"])
        if isinstance(found, Response):
            return found
        commit = arg.get("commit")
        commit = commit if isinstance(commit, dict) else {}
        stored = state.store(str(commit.get("path", "")), bytes(found.data) + data,
                             autorename=bool(commit.get("autorename")))
        if isinstance(stored, str):
            return _error(409, ["path", stored], {".tag": "path", "path": {".tag": stored}})
        state.sessions = {key: value for key, value in state.sessions.items() if value is not found}
        return JSONResponse(_metadata(*stored))

    content = {"files/upload": upload, "files/upload_session/start": start,
               "files/upload_session/append_v2": append, "files/upload_session/finish": finish}
    return {"POST /2/users/get_space_usage": space_usage, "POST /oauth2/token": _oauth(state),
            **{f"POST /2/{route}": _content(state, route, handler) for route, handler in content.items()}}


def _nest(prefix: list[str], error: dict[str, Any]) -> dict[str, Any]:
    """`finish` wraps a lookup error as {".tag": "lookup_failed", "lookup_failed": {…}}."""
    for tag in reversed(prefix):
        error = {".tag": tag, tag: error}
    return error


ContentHandler = Callable[[dict[str, Any], bytes], Awaitable[Response]]


def _content(state: DropboxState, route: str, handler: ContentHandler) -> Handler:
    """A content-style route: the token, the Dropbox-API-Arg header and the raw body, checked and logged."""

    async def run(request: Request, faults: RequestFaults) -> Response:
        entry: dict[str, Any] = {"route": route}
        state.log.append(entry)
        response = await _answer(request, entry)
        entry["status"] = response.status_code
        if response.status_code == 200:  # the shared body faults (cut, truncate, malformed) strike the reply
            return faults.json_reply(json.loads(bytes(response.body)), malformed=b'{"name": unterminated')
        return response

    async def _answer(request: Request, entry: dict[str, Any]) -> Response:
        if (refusal := _token_refusal(request, route)) is not None:
            return refusal
        arg = _api_arg(request, route)
        if isinstance(arg, Response):
            return arg
        cursor = arg.get("cursor")
        if isinstance(cursor, dict):
            entry["offset"] = cursor.get("offset")
        entry["path"] = arg.get("path") or (arg.get("commit") or {}).get("path")
        if state.throttle > 0:
            state.throttle -= 1
            return JSONResponse({"error_summary": "too_many_requests/..",
                                 "error": {"reason": {".tag": "too_many_requests"},
                                           "retry_after": state.retry_after}},
                                status_code=429, headers={"retry-after": f"{state.retry_after:g}"})
        data = await _bounded_body(request)
        if data is None:
            return PlainTextResponse(f'Error in call to API function "{route}": request body is over 150 MB',
                                     status_code=400)
        entry["bytes"] = len(data)
        return await handler(arg, data)

    return run


def _oauth(state: DropboxState) -> Handler:
    async def token(request: Request, _faults: RequestFaults) -> Response:
        form = {key: values[0] for key, values in parse_qs((await request.body()).decode("utf-8", "replace")).items()}
        entry: dict[str, Any] = {"route": "oauth2/token", "grant_type": form.get("grant_type")}
        state.log.append(entry)
        if form.get("grant_type") != "refresh_token" or not form.get("client_id"):
            entry["status"] = 400
            return JSONResponse({"error": "invalid_request", "error_description": "client_id and a grant_type of "
                                 "refresh_token are required"}, status_code=400)
        if form.get("refresh_token", "").startswith(REVOKED_KEY_PREFIX) or not form.get("refresh_token"):
            entry["status"] = 400
            return JSONResponse({"error": "invalid_grant", "error_description": "refresh token is invalid or revoked"},
                                status_code=400)
        state.issued += 1
        entry["status"] = 200
        return JSONResponse({"access_token": f"sl.refreshed-{state.issued:04d}-emulated", "token_type": "bearer",
                             "expires_in": 14400})

    return token


def _status_error(status: int, headers: dict[str, str]) -> Response:
    tag = "expired_access_token" if status == 401 else "too_many_requests" if status == 429 else "internal_error"
    return JSONResponse({"error_summary": f"{tag}/..", "error": {".tag": tag}}, status_code=status, headers=headers)


def _controls(state: DropboxState) -> list[Route]:
    async def log(_request: Request) -> Response:
        return JSONResponse(state.log)

    async def file(request: Request) -> Response:
        found = state.files.get(request.query_params.get("path", "").lower())
        if found is None:
            return JSONResponse({"error": "no such file"}, status_code=404)
        return Response(found[1], media_type="application/octet-stream")

    async def set_state(request: Request) -> Response:
        payload = await request.json()
        if "free_bytes" in payload:
            state.allocated = state.used() + int(payload["free_bytes"])
        if "throttle" in payload:
            state.throttle = int(payload["throttle"])
            state.retry_after = float(payload.get("retry_after", 1.0))
        if "lose_append_replies" in payload:
            state.lose_append_replies = [float(f) for f in payload["lose_append_replies"]]
        return JSONResponse({"used": state.used(), "allocated": state.allocated})

    return [Route("/_emulator/dropbox/log", log, methods=["GET"]),
            Route("/_emulator/dropbox/file", file, methods=["GET"]),
            Route("/_emulator/dropbox/state", set_state, methods=["POST"])]


def build(*, plan: FaultPlan, pace: Pace, seed: int, flavour: str) -> Starlette:  # noqa: ARG001
    """The Dropbox emulator, with an empty account of its own."""
    state = DropboxState()

    def endpoint(handler: Handler) -> Callable[[Request], Awaitable[Response]]:
        async def run(request: Request) -> Response:
            faults = plan.for_request(request)
            await faults.before_response()
            if (fault := faults.status_fault()) is not None and fault.status is not None:
                return _status_error(fault.status, faults.retry_after_headers())
            return await handler(request, faults)

        return run

    async def faults_route(request: Request) -> Response:
        return await control_faults(request, plan)

    routes = [Route(key.partition(" ")[2], endpoint(handler), methods=[key.partition(" ")[0]])
              for key, handler in _routes(state).items()]
    routes.append(Route("/_emulator/faults", faults_route, methods=["GET", "POST"]))
    return Starlette(routes=[*routes, *_controls(state)])
