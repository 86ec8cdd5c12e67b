"""Downloading one large file: resumable, checked against its SHA-256, never half-written under its real name.

The bytes go to `NAME.part` beside the destination. A later call resumes it with `Range: bytes=N-`; only when the
whole file is there and its SHA-256 matches is it renamed to NAME (after an fsync), so a model directory never
holds a truncated or corrupt model under a name a backend would load. A mismatch removes the part, so the next
try starts clean; a cancelled or cut download keeps it, so the next try continues. No UI here: callers get
`DownloadProgress` callbacks and a `DownloadResult`, or one of the errors below.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import hashlib
import os
import re
import shutil
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from io import FileIO
from pathlib import Path, PurePosixPath

import httpx

from providers.bounded_body import read_error_bytes
from providers.errors import BadRequestError, ProtocolError, ProviderError
from providers.http import error_from_status, error_from_transport

MAX_REDIRECTS = 5
"""The Hub answers /resolve with one redirect to its CDN; a chain longer than this is a loop or a trap."""
HASH_BLOCK = 8 * 1024 * 1024
"""How much of an existing part is read at a time to carry its SHA-256 forward when resuming."""
PART_SUFFIX = ".part"
_DISK_FULL = frozenset({errno.ENOSPC, errno.EDQUOT})
_CONTENT_RANGE = re.compile(r"^bytes\s+(\d+)-(\d+)/(\d+|\*)$|^bytes\s+\*/(\d+)$")
_UNSAFE_CHARS = re.compile(r"[\x00-\x1f\x7f\\:]")
_AUTH_HEADERS = frozenset({"authorization", "cookie", "proxy-authorization"})


class DiskFullError(ProviderError):
    """Not enough free space for the file (checked before the first byte), or the disk filled while writing.
    What was written stays in the .part file."""

    fallback = False
    kind = "disk_full"


class ChecksumMismatchError(ProviderError):
    """The downloaded bytes do not have the SHA-256 the source promised; the .part file has been removed."""

    fallback = False
    kind = "checksum_mismatch"


@dataclass(frozen=True, slots=True)
class DownloadProgress:
    """Bytes in the .part file so far (`resumed_from` of them were there before this call)."""

    done_bytes: int
    total_bytes: int | None
    resumed_from: int


@dataclass(frozen=True, slots=True)
class DownloadResult:
    """The finished file under its real name."""

    path: Path
    size: int
    sha256: str
    resumed_from: int


ProgressCallback = Callable[[DownloadProgress], None]


def part_path(dest: Path) -> Path:
    """Where the bytes of `dest` are kept until the file is complete and verified."""
    return dest.with_name(dest.name + PART_SUFFIX)


def safe_destination(directory: Path, name: str) -> Path:
    """`directory / name` for a file name that came from outside (a repository listing, a server): relative,
    without `..`, NUL, control characters or backslashes, and staying inside `directory` even through symlinks.
    BadRequestError otherwise."""
    pure = PurePosixPath(name)
    if (not name or name != name.strip() or _UNSAFE_CHARS.search(name) or pure.is_absolute()
            or any(part in ("..", ".", "") for part in name.split("/")) or name.endswith(PART_SUFFIX)):
        raise BadRequestError(f"refusing the file name {name!r}: not a plain relative path")
    root = directory.resolve()
    target = (root / Path(*pure.parts)).resolve()
    if not target.is_relative_to(root) or target == root:
        raise BadRequestError(f"refusing the file name {name!r}: it leads outside {directory}")
    return root / Path(*pure.parts)


async def download_file(client: httpx.AsyncClient, url: str, dest: Path, *, expected_sha256: str | None,
                        expected_size: int | None, headers: Mapping[str, str] | None = None,
                        progress: ProgressCallback | None = None, chunk_size: int = 1 << 20) -> DownloadResult:
    """Fetch `url` into `dest` by way of `part_path(dest)`, resuming a part left by an earlier call.

    Raises DiskFullError (too little space, before any byte; or ENOSPC while writing, part kept),
    ChecksumMismatchError (part removed), the taxonomy's errors for HTTP failures (RateLimitedError for a 429,
    AuthFailedError for 401/403, ProtocolError for a dropped connection: part kept), and re-raises
    CancelledError with the part kept. Redirects are followed (at most MAX_REDIRECTS); credentials are not sent
    to another host. The client's timeouts bound every read. A `dest` already there with the expected size and
    SHA-256 is returned as it is (resumed_from == size), with nothing fetched.
    """
    part = part_path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    if expected_sha256 is not None and expected_size is not None and _file_size(dest) == expected_size:
        kept = await _already_there(dest, expected_size, expected_sha256)
        if kept is not None:
            return kept
    present = part.stat().st_size if part.exists() else 0
    if expected_size is not None and present > expected_size:  # longer than the file can be: not this file
        part.unlink()
        present = 0
    _check_space(dest, expected_size, present)
    attempt = _Attempt(client, url, dest, part, expected_sha256, expected_size, dict(headers or {}), progress,
                       max(1, chunk_size))
    if expected_size is not None and present == expected_size and expected_sha256 is not None:
        finished = await attempt.finish_if_complete(present)
        if finished is not None:
            return finished
        present = 0
    return await attempt.run(present)


def free_space(directory: Path) -> int | None:
    """Free bytes where `directory` is (or would be made: its nearest existing parent); None when unknown."""
    for candidate in (directory, *directory.parents):
        if candidate.exists():
            try:
                return shutil.disk_usage(candidate).free
            except OSError:
                return None
    return None


def _file_size(path: Path) -> int | None:
    return path.stat().st_size if path.is_file() else None


async def _already_there(dest: Path, size: int, expected_sha256: str) -> DownloadResult | None:
    """`dest` itself when an earlier download finished it: nothing is fetched again."""
    digest = hashlib.sha256()
    await asyncio.to_thread(_hash_into, digest, dest, size)
    if digest.hexdigest() != expected_sha256.lower():
        return None
    return DownloadResult(dest, size, digest.hexdigest(), size)


def _check_space(dest: Path, expected_size: int | None, present: int) -> None:
    if expected_size is None:
        return
    needed = expected_size - present
    free = shutil.disk_usage(dest.parent).free
    if needed > free:
        raise DiskFullError(f"{dest.name} needs {needed} more bytes but {dest.parent} has {free} free")


class _Attempt:
    """One call of download_file: the request (with its redirects), the writing and the verification."""

    def __init__(self, client: httpx.AsyncClient, url: str, dest: Path, part: Path, expected_sha256: str | None,
                 expected_size: int | None, headers: dict[str, str], progress: ProgressCallback | None,
                 chunk_size: int) -> None:
        self.client = client
        self.url = url
        self.dest = dest
        self.part = part
        self.expected_sha256 = expected_sha256.lower() if expected_sha256 else None
        self.expected_size = expected_size
        self.headers = headers
        self.progress = progress
        self.chunk_size = chunk_size
        self.where = httpx.URL(url).host or None

    async def run(self, present: int) -> DownloadResult:
        for _ in range(2):  # a second round only after a 416 for a part that turned out wrong
            result = await self._fetch(present)
            if result is not None:
                return result
            present = 0
        raise ProtocolError("the server refused the range of a fresh download", provider=self.where)

    async def _fetch(self, present: int) -> DownloadResult | None:
        """The download from `present` on; None when the part had to be thrown away (start again from 0)."""
        request_headers = {**self.headers, "accept-encoding": "identity"}
        if present:
            request_headers["range"] = f"bytes={present}-"
        url = httpx.URL(self.url)
        try:
            for _ in range(MAX_REDIRECTS + 1):
                async with self.client.stream("GET", url, headers=request_headers,
                                              follow_redirects=False) as response:
                    if response.is_redirect:
                        target = response.url.join(response.headers.get("location", ""))
                        if target.host != url.host or target.port != url.port or target.scheme != url.scheme:
                            # As browsers and huggingface_hub do: a key for the Hub is not a CDN's business.
                            request_headers = {k: v for k, v in request_headers.items()
                                               if k.lower() not in _AUTH_HEADERS}
                        url = target
                        continue
                    return await self._receive(response, present)
        except httpx.HTTPError as exc:
            raise error_from_transport(exc, self.where) from None
        raise ProtocolError(f"more than {MAX_REDIRECTS} redirects from {self.url}", provider=self.where)

    async def _receive(self, response: httpx.Response, present: int) -> DownloadResult | None:
        status = response.status_code
        if status == 416:
            total = _range_total(response.headers.get("content-range", ""))
            if present and (total is None or total == present):
                finished = await self.finish_if_complete(present, size_confirmed=total == present)
                if finished is not None:
                    return finished
            self.part.unlink(missing_ok=True)
            return None
        if status >= 400:
            body = (await read_error_bytes(response, self.where)).decode("utf-8", "replace")
            raise error_from_status(status, body, response.headers, self.where)
        if status not in (200, 206):
            raise ProtocolError(f"unexpected HTTP {status} for a download", status=status, provider=self.where)
        encoding = response.headers.get("content-encoding", "identity").strip().lower()
        if encoding not in ("", "identity"):
            raise ProtocolError(f"a download sent with content-encoding {encoding!r}", provider=self.where)
        total = self.expected_size
        if status == 206:
            start, _, whole = _range(response.headers.get("content-range", ""))
            if start != present:
                raise ProtocolError(f"asked for bytes from {present}, got a range from {start}",
                                    provider=self.where)
            total = total if total is not None else whole
        else:  # 200: the whole file from byte 0, whatever was asked
            present = 0
            length = response.headers.get("content-length")
            total = total if total is not None else int(length) if length and length.isdigit() else None
        if self.expected_size is None:  # the server's word on the size is the first there is: check it now
            _check_space(self.dest, total, present)
        return await self._write(response, present, total)

    async def _write(self, response: httpx.Response, resumed_from: int, total: int | None) -> DownloadResult:
        digest = hashlib.sha256()
        if resumed_from:
            await asyncio.to_thread(_hash_into, digest, self.part, resumed_from)
        done = resumed_from
        buffer = bytearray()
        # Unbuffered: what write() reports written is in the file, so a full disk loses nothing unaccounted.
        handle = self.part.open("r+b" if resumed_from else "wb", buffering=0)
        if self.progress is not None:
            self.progress(DownloadProgress(done, total, resumed_from))
        try:
            if resumed_from:  # from exactly the bytes that were hashed, even if the part changed meanwhile
                handle.seek(resumed_from)
                handle.truncate()
            try:
                async for piece in response.aiter_raw():
                    buffer += piece
                    if self.expected_size is not None and done + len(buffer) > self.expected_size:
                        handle.close()
                        self.part.unlink(missing_ok=True)
                        raise ProtocolError(f"the server sent more than the {self.expected_size} bytes promised",
                                            provider=self.where)
                    if len(buffer) >= self.chunk_size:
                        done = self._flush(handle, buffer, digest, done, resumed_from, total)
                    elif self.progress is not None:  # received, not yet written: shown as it arrives
                        self.progress(DownloadProgress(done + len(buffer), total, resumed_from))
            finally:
                # Every byte received is kept, whatever ended the stream (a cut, a timeout, a cancel): it is valid
                # data at the right offset, and the next call resumes after it.
                if buffer and not handle.closed:
                    done = self._flush(handle, buffer, digest, done, resumed_from, total)
        except OSError as exc:
            if exc.errno in _DISK_FULL:
                raise DiskFullError(f"the disk filled while writing {self.part.name} ({done} bytes kept): "
                                    f"{exc.strerror}", provider=self.where) from None
            raise
        except httpx.HTTPError as exc:
            raise error_from_transport(exc, self.where) from None
        finally:
            if not handle.closed:
                handle.close()
        if total is not None and done != total:
            raise ProtocolError(f"the download ended at {done} of {total} bytes (kept in {self.part.name})",
                                provider=self.where)
        return await self._verify_and_rename(digest.hexdigest(), done, resumed_from)

    def _flush(self, handle: FileIO, buffer: bytearray, digest: hashlib._Hash, done: int, resumed_from: int,
               total: int | None) -> int:
        data = bytes(buffer)
        buffer.clear()
        try:
            written = 0
            while written < len(data):
                written += handle.write(data[written:]) or 0
        except OSError:
            # Part of the data may be on disk: cut back to what is known good, so a resume continues there (a
            # device that cannot be truncated keeps the first error the one that is reported).
            with contextlib.suppress(OSError):
                handle.truncate(done)
            raise
        digest.update(data)
        done += len(data)
        if self.progress is not None:
            self.progress(DownloadProgress(done, total, resumed_from))
        return done

    async def finish_if_complete(self, size: int, *, size_confirmed: bool = False) -> DownloadResult | None:
        """The part as the finished file when its SHA-256 is the expected one (or, with none expected, when the
        server confirmed its size); None, the part removed, otherwise."""
        digest = hashlib.sha256()
        await asyncio.to_thread(_hash_into, digest, self.part, size)
        expected = self.expected_sha256
        if (expected is None and not size_confirmed) or (expected is not None and digest.hexdigest() != expected):
            self.part.unlink(missing_ok=True)
            return None
        return await self._verify_and_rename(digest.hexdigest(), size, size)

    async def _verify_and_rename(self, sha256: str, size: int, resumed_from: int) -> DownloadResult:
        if self.expected_sha256 is not None and sha256 != self.expected_sha256:
            self.part.unlink(missing_ok=True)
            raise ChecksumMismatchError(f"{self.dest.name}: SHA-256 {sha256} is not the expected "
                                        f"{self.expected_sha256}; the partial file was removed",
                                        provider=self.where)
        await asyncio.to_thread(_commit, self.part, self.dest)
        return DownloadResult(self.dest, size, sha256, resumed_from)


def _hash_into(digest: hashlib._Hash, path: Path, size: int) -> None:
    with path.open("rb") as handle:
        left = size
        while left > 0:
            block = handle.read(min(HASH_BLOCK, left))
            if not block:
                break
            digest.update(block)
            left -= len(block)


def _commit(part: Path, dest: Path) -> None:
    """fsync the part, rename it to `dest`, fsync the directory: after a crash the name holds the whole file."""
    with part.open("rb") as handle:
        os.fsync(handle.fileno())
    part.replace(dest)
    directory = os.open(dest.parent, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)


def _range(header: str) -> tuple[int, int, int | None]:
    """(first, last, total) of a `Content-Range: bytes A-B/N` header; ProtocolError for anything else."""
    match = _CONTENT_RANGE.match(header.strip())
    if match is None or match.group(1) is None:
        raise ProtocolError(f"a 206 reply with Content-Range {header[:80]!r}")
    whole = match.group(3)
    return int(match.group(1)), int(match.group(2)), None if whole == "*" else int(whole)


def _range_total(header: str) -> int | None:
    """N of a 416's `Content-Range: bytes */N`, when the server said."""
    match = _CONTENT_RANGE.match(header.strip())
    if match is None:
        return None
    total = match.group(4) or match.group(3)
    return int(total) if total and total != "*" else None
