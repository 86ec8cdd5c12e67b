"""Uploading local files to Dropbox (PROTOCOLS.md §10.6): `files/upload` for small files, an upload session
(`start`, `append_v2`, `finish`) in chunks for large ones. UI-free.

- Mode `add` with autorename: an upload never replaces a file already in Dropbox; a name taken by other bytes
  becomes `name (1).ext`.
- The local file is only ever read, a chunk at a time (memory stays bounded by the chunk size), never changed.
- 429 is waited out as Retry-After says (bounded); 5xx and dropped connections are tried again a few times. An
  append whose reply was lost is resumed from the offset Dropbox says it holds (`incorrect_offset`).
- 401 (`expired_access_token`, `invalid_access_token`): with a refresh token and app key configured, a new
  access token is asked for once (POST /oauth2/token, grant_type=refresh_token) and the call made again. The new
  token lives in this process's memory only, registered with the redactor like every secret read.
- A full account (`insufficient_space`) is AccountFullError, a quota error: trying again cannot help.
- When Dropbox returns a content hash, it is checked against the local file's, so a resumed session that lost or
  repeated bytes is caught rather than reported as uploaded.

Not recorded from the real service: request and error shapes are from Dropbox's API spec and Python SDK.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

import httpx

from config.schema import ProviderConfig
from config.secret_registry import register_secret
from config.secrets import SecretsError, resolve_reference
from providers.errors import (
    AuthFailedError,
    BadRequestError,
    ProtocolError,
    ProviderError,
    QuotaExhaustedError,
)
from providers.http import error_from_status, fetch, parse_json, retry_after_seconds
from providers.safe_text import one_line

MIB = 1024 * 1024
HASH_BLOCK = 4 * MIB
"""Dropbox hashes content in 4 MiB blocks."""
MAX_REQUEST_BYTES = 150 * 1000 * 1000
"""Dropbox takes at most 150 MB in one upload request."""
REPLY_LIMIT = 1 * MIB
"""A reply is a file's metadata or an error: far below this."""
PUBLIC_API_HOST = "api.dropboxapi.com"
PUBLIC_CONTENT_URL = "https://content.dropboxapi.com"


class AccountFullError(QuotaExhaustedError):
    """The Dropbox account has no space left for the file."""


@dataclass(frozen=True, slots=True)
class UploadTuning:
    """How files are sent. Tests shrink the sizes to exercise sessions with small files."""

    single_limit_bytes: int = 8 * MIB
    """Files up to this size go in one `files/upload`; larger ones in an upload session."""
    chunk_bytes: int = 8 * MIB
    """Bytes per session request (and the most of a file held in memory)."""
    attempts: int = 5
    """Tries of one request through 429s, 5xx and dropped connections."""
    max_wait_s: float = 120.0
    """The longest Retry-After waited; a longer one fails the upload as rate limited."""
    backoff_s: float = 0.5
    """The first pause before trying again after a 5xx or a dropped connection (doubled each time)."""

    def __post_init__(self) -> None:
        if not 0 < self.single_limit_bytes <= MAX_REQUEST_BYTES or not 0 < self.chunk_bytes <= MAX_REQUEST_BYTES:
            raise ValueError("Dropbox takes between 1 byte and 150 MB per upload request")


@dataclass(frozen=True, slots=True)
class UploadedFile:
    """One file in Dropbox: where it went (after any autorename), its size and Dropbox's content hash."""

    local: Path
    path: str
    size: int
    content_hash: str | None


SecretSource = Callable[[], str | None]


@dataclass(frozen=True, slots=True)
class DropboxAccount:
    """Where and as whom to upload: built from a dropbox provider's config by `account_of`."""

    provider: str
    api_url: str
    content_url: str
    folder: str
    access_token: SecretSource | None
    refresh_token: SecretSource | None = None
    app_key: str | None = None
    app_secret: SecretSource | None = None
    timeout_s: float = 60.0
    connect_timeout_s: float = 5.0

    @property
    def timeout(self) -> httpx.Timeout:
        return httpx.Timeout(self.timeout_s, connect=self.connect_timeout_s)

    @property
    def can_refresh(self) -> bool:
        return self.refresh_token is not None and bool(self.app_key)


def _reference(provider: str, reference: str | None) -> SecretSource | None:
    if reference is None:
        return None

    def resolve() -> str:
        try:
            return resolve_reference(reference)  # registers the value with the redactor
        except SecretsError as exc:
            raise AuthFailedError(str(exc), provider=provider) from None

    return resolve


def account_of(provider: ProviderConfig) -> DropboxAccount:
    """The account of a dropbox provider. Against the public API, uploads go to the content host; any other
    base_url (a proxy, the emulator) serves every route from its root."""
    api_url = (provider.base_url or f"https://{PUBLIC_API_HOST}").rstrip("/")
    content_url = PUBLIC_CONTENT_URL if urlsplit(api_url).hostname == PUBLIC_API_HOST else api_url
    return DropboxAccount(
        provider=provider.name, api_url=api_url, content_url=content_url, folder=provider.upload_folder,
        access_token=_reference(provider.name, provider.api_key),
        refresh_token=_reference(provider.name, provider.refresh_token), app_key=provider.app_key,
        app_secret=_reference(provider.name, provider.app_secret),
        # A chunk of megabytes on a slow uplink: the read timeout covers Dropbox's answer after the body.
        timeout_s=max(provider.timeout_s, 60.0), connect_timeout_s=provider.connect_timeout_s)


_refreshed: dict[tuple[str, str], str] = {}
"""Access tokens renewed by this process, by (provider, api_url): memory only, never written."""


def destination(folder: str, local: Path) -> str:
    """The Dropbox path for `local` in `folder` (`/` is the root)."""
    return f"{folder.rstrip('/')}/{local.name}"


def with_sidecars(files: Iterable[Path]) -> list[Path]:
    """`files` in order, each PNG followed by its JSON sidecar when one lies beside it (and is not listed)."""
    listed = list(dict.fromkeys(files))
    result: list[Path] = []
    for path in listed:
        result.append(path)
        sidecar = path.with_suffix(".json")
        if path.suffix.lower() == ".png" and sidecar not in listed and sidecar.is_file():
            result.append(sidecar)
    return result


def local_content_hash(path: Path) -> str:
    """Dropbox's content hash of a local file: SHA-256 over the SHA-256 of each 4 MiB block, read a block at
    a time."""
    blocks = hashlib.sha256()
    with path.open("rb") as handle:
        while block := handle.read(HASH_BLOCK):
            blocks.update(hashlib.sha256(block).digest())
    return blocks.hexdigest()


def _read_at(path: Path, offset: int, size: int) -> bytes:
    with path.open("rb") as handle:
        handle.seek(offset)
        return handle.read(size)


def _api_arg(arg: Mapping[str, Any]) -> str:
    """The Dropbox-API-Arg header: JSON with every non-ASCII character escaped, and DEL too, as Dropbox asks."""
    return json.dumps(arg).replace("\x7f", "\\u007f")


class _RouteError(Exception):
    """A 409: the route's own error, e.g. `path/insufficient_space/..` or `incorrect_offset/..`."""

    def __init__(self, summary: str, error: Any) -> None:
        super().__init__(summary)
        self.summary = summary
        self.error = error


def _correct_offset(error: Any) -> int | None:
    """The offset Dropbox holds, from an `incorrect_offset` error however deeply it is nested."""
    while isinstance(error, dict):
        if error.get(".tag") == "incorrect_offset" and isinstance(error.get("correct_offset"), int):
            return int(error["correct_offset"])
        tag = error.get(".tag")
        error = error.get(tag) if isinstance(tag, str) else None
    return None


def _token_failure(provider: str, body: str, can_refresh: bool) -> AuthFailedError:
    tag = _summary(body).split("/")[0] or "refused"
    advice = ("the refresh did not help" if can_refresh
              else "configure refresh_token and app_key to renew it, or store a new access token")
    return AuthFailedError(f"Dropbox refused the access token ({tag}): {advice}", status=401, provider=provider)


def _summary(body: str) -> str:
    try:
        parsed = json.loads(body)
    except ValueError:
        return ""
    summary = parsed.get("error_summary") if isinstance(parsed, dict) else None
    return summary if isinstance(summary, str) else ""


class _Uploader:
    """One account's calls: the token (renewed at most once per upload), retries and route errors."""

    def __init__(self, client: httpx.AsyncClient, account: DropboxAccount, tuning: UploadTuning) -> None:
        self.client = client
        self.account = account
        self.tuning = tuning
        self.refreshed_once = False

    async def token(self) -> str:
        cached = _refreshed.get((self.account.provider, self.account.api_url))
        if cached:
            return cached
        configured = self.account.access_token() if self.account.access_token is not None else None
        if configured:
            return configured
        if self.account.can_refresh:
            return await self.refresh()
        raise AuthFailedError("no Dropbox access token configured: set api_key, or refresh_token and app_key",
                              provider=self.account.provider)

    async def refresh(self) -> str:
        """A new short-lived access token from the refresh token (OAuth 2 `refresh_token` grant)."""
        account = self.account
        self.refreshed_once = True
        refresh_token = account.refresh_token() if account.refresh_token is not None else None
        form = {"grant_type": "refresh_token", "refresh_token": refresh_token or "", "client_id": account.app_key or ""}
        secret = account.app_secret() if account.app_secret is not None else None
        if secret:
            form["client_secret"] = secret
        response = await fetch(self.client, "POST", f"{account.api_url}/oauth2/token", provider=account.provider,
                               headers={"Content-Type": "application/x-www-form-urlencoded"},
                               content=urlencode(form).encode(), timeout_s=account.timeout, max_bytes=REPLY_LIMIT)
        body = parse_json(response.content, account.provider, "oauth2/token") if response.content else None
        if response.status_code != 200 or not isinstance(body, dict):
            code = body.get("error") if isinstance(body, dict) else None
            raise AuthFailedError(f"Dropbox refused the refresh token ({one_line(str(code or response.status_code))})"
                                  ": store a new one", status=response.status_code, provider=account.provider)
        token = body.get("access_token")
        if not isinstance(token, str) or not token:
            raise ProtocolError("oauth2/token answered without an access_token", provider=account.provider)
        register_secret(token)  # before anything could print it
        _refreshed[(account.provider, account.api_url)] = token
        return token

    async def call(self, route: str, arg: Mapping[str, Any], data: bytes) -> Any:
        """POST a content route; the parsed JSON reply. Retries 429 / 5xx / dropped connections (bounded),
        renews the token once on 401, and raises _RouteError for a 409."""
        tries = 0
        while True:
            tries += 1
            headers = {"Authorization": f"Bearer {await self.token()}", "Content-Type": "application/octet-stream",
                       "Dropbox-API-Arg": _api_arg(arg)}
            try:
                response = await fetch(self.client, "POST", f"{self.account.content_url}/2/{route}",
                                       provider=self.account.provider, headers=headers, content=data,
                                       timeout_s=self.account.timeout, max_bytes=REPLY_LIMIT)
            except ProviderError as exc:  # refused, timed out, dropped: the same request may be tried again
                if not exc.retryable or tries >= self.tuning.attempts:
                    raise
                await asyncio.sleep(float(self.tuning.backoff_s * 2 ** (tries - 1)))
                continue
            status, body = response.status_code, response.text
            if status == 200:
                return parse_json(response.content, self.account.provider, route)
            if status == 401:
                if self.account.can_refresh and not self.refreshed_once:
                    _refreshed.pop((self.account.provider, self.account.api_url), None)
                    await self.refresh()
                    tries -= 1  # the renewed token's try is not a retry
                    continue
                raise _token_failure(self.account.provider, body, self.account.can_refresh)
            if status == 409:
                parsed = parse_json(response.content, self.account.provider, route)
                error = parsed.get("error") if isinstance(parsed, dict) else None
                raise _RouteError(_summary(body), error)
            if status == 429 or status >= 500:
                wait = self._wait(response, tries)
                if wait is None:
                    raise error_from_status(status, body, response.headers, self.account.provider)
                await asyncio.sleep(wait)
                continue
            raise error_from_status(status, body, response.headers, self.account.provider)

    def _wait(self, response: httpx.Response, tries: int) -> float | None:
        """How long to pause before trying again, or None when the tries are spent or the wait is too long."""
        if tries >= self.tuning.attempts:
            return None
        if response.status_code != 429:
            return float(self.tuning.backoff_s * 2 ** (tries - 1))
        wait = retry_after_seconds(response.headers)
        if wait is None:
            parsed = parse_json(response.content, self.account.provider, "429") if response.content else None
            error = parsed.get("error") if isinstance(parsed, dict) else None
            after = error.get("retry_after") if isinstance(error, dict) else None
            wait = float(after) if isinstance(after, int | float) else 1.0
        if wait > self.tuning.max_wait_s:
            return None
        return max(0.0, float(wait))


def _commit(path: str) -> dict[str, Any]:
    return {"path": path, "mode": "add", "autorename": True, "mute": False}


async def upload_file(client: httpx.AsyncClient, account: DropboxAccount, local: Path, *,
                      tuning: UploadTuning | None = None) -> UploadedFile:
    """Upload `local` into the account's folder; what Dropbox holds now. Raises ProviderError (AccountFullError,
    AuthFailedError, RateLimitedError, …) or OSError for a file that cannot be read."""
    tuning = tuning or UploadTuning()
    size = (await asyncio.to_thread(local.stat)).st_size
    uploader = _Uploader(client, account, tuning)
    target = destination(account.folder, local)
    try:
        if size <= tuning.single_limit_bytes:
            data = await asyncio.to_thread(_read_at, local, 0, tuning.single_limit_bytes + 1)
            if len(data) != size:
                raise OSError(f"{local} changed while it was being uploaded")
            metadata = await uploader.call("files/upload", _commit(target), data)
        else:
            metadata = await _session_upload(uploader, local, size, target)
    except _RouteError as exc:
        raise _route_failure(account.provider, local, size, exc) from None
    return await _checked(account.provider, local, size, metadata)


async def _session_upload(uploader: _Uploader, local: Path, size: int, target: str) -> Any:
    """start with the first chunk, append_v2 the middle ones, finish with the last; after a lost reply, go on
    from the offset Dropbox holds."""
    chunk = uploader.tuning.chunk_bytes
    first = await asyncio.to_thread(_read_at, local, 0, chunk)
    started = await uploader.call("files/upload_session/start", {"close": False}, first)
    session_id = started.get("session_id") if isinstance(started, dict) else None
    if not isinstance(session_id, str):
        raise ProtocolError("upload_session/start answered without a session_id", provider=uploader.account.provider)
    offset = len(first)
    resumes = 0
    while True:
        last = size - offset <= chunk
        data = await asyncio.to_thread(_read_at, local, offset, chunk)
        if len(data) != min(chunk, size - offset):
            raise OSError(f"{local} changed while it was being uploaded")
        cursor = {"session_id": session_id, "offset": offset}
        try:
            if last:
                return await uploader.call("files/upload_session/finish", {"cursor": cursor, "commit": _commit(target)},
                                           data)
            await uploader.call("files/upload_session/append_v2", {"cursor": cursor, "close": False}, data)
        except _RouteError as exc:
            correct = _correct_offset(exc.error)
            resumes += 1
            if correct is None or not 0 <= correct <= size or resumes > uploader.tuning.attempts:
                raise
            offset = correct
            continue
        offset += len(data)


def _route_failure(provider: str, local: Path, size: int, exc: _RouteError) -> ProviderError:
    if "insufficient_space" in exc.summary:
        # No status: "HTTP 409" says less than the sentence does.
        return AccountFullError(f"the Dropbox account is full: no room for {local.name} ({size} bytes)",
                                provider=provider)
    return BadRequestError(f"Dropbox refused {local.name}: {one_line(exc.summary) or 'error 409'}", status=409,
                           provider=provider)


async def _checked(provider: str, local: Path, size: int, metadata: Any) -> UploadedFile:
    if not isinstance(metadata, dict) or not isinstance(metadata.get("path_display"), str):
        raise ProtocolError("the upload answered without the file's metadata", provider=provider)
    remote_hash = metadata.get("content_hash")
    remote_size = metadata.get("size")
    if isinstance(remote_size, int) and remote_size != size:
        raise ProtocolError(f"Dropbox holds {remote_size} bytes of {local.name}, not {size}", provider=provider)
    if isinstance(remote_hash, str) and remote_hash != await asyncio.to_thread(local_content_hash, local):
        raise ProtocolError(f"Dropbox's content hash of {local.name} does not match the local file",
                            provider=provider)
    return UploadedFile(local=local, path=metadata["path_display"], size=size,
                        content_hash=remote_hash if isinstance(remote_hash, str) else None)

