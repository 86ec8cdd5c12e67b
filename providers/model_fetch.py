"""Fetching a model from a source (the Hugging Face Hub, CivitAI) onto the box that serves it, shared by the CLI
(`llmdeck hub|civitai download`) and the console's pull queue. UI-free.

The CLI shows progress through callbacks; the queue reads a stream of `PullProgress`, the shape a backend's pull
has, so a download is one more row beside the pulls (progress, cancel, one at a time per host). `progress_stream`
turns the one into the other: the download runs as a task, the stream yields its newest progress, and closing the
stream (a cancel) cancels the task, which keeps the `.part` file for a later resume.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import httpx

from config.schema import DeckConfig, ProviderConfig
from config.secrets import SecretsError, resolve_reference
from providers.adapters.civitai import DEFAULT_BASE_URL as CIVITAI_URL
from providers.adapters.civitai import CivitaiClient
from providers.adapters.hf_hub import DEFAULT_BASE_URL as HUB_URL
from providers.adapters.hf_hub import HubClient
from providers.base import PullProgress
from providers.civitai_download import AlreadyThereError, NoPlaceError, PlacedModel, download_version
from providers.deck import adapter_options
from providers.display import byte_size
from providers.downloads import DownloadProgress, DownloadResult, ProgressCallback, part_path
from providers.errors import AuthFailedError, BadRequestError, ProtocolError, ProviderError, ProviderTimeoutError
from providers.http import make_client

RESUME_ATTEMPTS = 3
"""A dropped connection or a stalled read is resumed at once this many times in all before the download gives up
(the part is kept either way, so asking again continues)."""
HUB_TIMEOUT_S = 60.0
HUB_CONNECT_TIMEOUT_S = 10.0


@dataclass(frozen=True, slots=True)
class HubAccess:
    """Where the Hub is and how to authenticate, from the config's huggingface provider."""

    base_url: str
    provider: str | None
    token: str | None
    key_problem: str | None
    """Why a configured key could not be read (a gated repository's refusal then says so)."""


def hub_access(config: DeckConfig) -> HubAccess:
    """The first huggingface provider's hub_url and key; the public Hub without a key when there is none."""
    provider = next((p for p in config.providers if p.kind == "huggingface"), None)
    if provider is None:
        return HubAccess(HUB_URL, None, None, None)
    token, problem = None, None
    if provider.api_key:
        try:
            token = resolve_reference(provider.api_key)
        except SecretsError as exc:
            problem = str(exc)
    return HubAccess(provider.hub_url or HUB_URL, provider.name, token, problem)


def hub_client(http: httpx.AsyncClient, access: HubAccess) -> HubClient:
    token = access.token
    return HubClient(http, base_url=access.base_url, token=(lambda: token) if token else None, name="hub")


def hub_client_session() -> httpx.AsyncClient:
    """The HTTP client a Hub session uses: CDN redirects and multi-GB bodies want longer reads than a probe."""
    return make_client(timeout_s=HUB_TIMEOUT_S, connect_timeout_s=HUB_CONNECT_TIMEOUT_S)


def gated_message(repo: str, exc: AuthFailedError, access: HubAccess) -> str:
    """A refusal of a gated (or private) repository, with what to do about it."""
    if access.key_problem is not None:
        advice = f"the key of provider {access.provider} could not be read: {access.key_problem}"
    elif access.token is None:
        advice = ("no Hub key is configured: accept the terms on the repository's page, then give a "
                  "huggingface provider `api_key: keyring:NAME` and store the token with `llmdeck keys set NAME`")
    else:
        advice = f"the key of provider {access.provider} has no access: accept the terms on the repository's page"
    return f"{repo} is gated and refused the download ({exc.brief}); {advice}"


async def hub_download(hub: HubClient, access: HubAccess, repo: str, path: str, directory: Path, *,
                       progress: ProgressCallback | None = None,
                       resume_hint: str = "download it again to resume") -> DownloadResult:
    """One Hub file into `directory`, resumed at once after a dropped connection or a stall (RESUME_ATTEMPTS in
    all). A gated refusal says what to do; a failure that keeps a part says how much, and `resume_hint`."""
    try:
        for attempt in range(1, RESUME_ATTEMPTS + 1):
            try:
                return await hub.download(repo, path, directory, progress=progress)
            except (ProtocolError, ProviderTimeoutError):
                if attempt == RESUME_ATTEMPTS or not part_path(directory / path).exists():
                    raise
    except AuthFailedError as exc:
        raise AuthFailedError(gated_message(repo, exc, access), status=exc.status, provider="hub") from None
    except BadRequestError:
        raise
    except ProviderError as exc:
        kept = part_path(directory / path)
        if kept.exists():
            raise type(exc)(f"{exc.message}; {byte_size(kept.stat().st_size)} kept in {kept}, {resume_hint}",
                            status=exc.status, provider=exc.provider) from None
        raise
    raise AssertionError("unreachable")  # the loop returns or raises


def civitai_provider(config: DeckConfig) -> ProviderConfig | None:
    return next((p for p in config.providers if p.kind == "civitai"), None)


def civitai_client(http: httpx.AsyncClient, provider: ProviderConfig | None) -> CivitaiClient:
    """CivitAI as the config's first civitai provider sees it (its address, key and NSFW choice); CivitAI itself
    without a key, NSFW hidden, when there is none."""
    if provider is None:
        return CivitaiClient(http, base_url=CIVITAI_URL)
    return CivitaiClient(http, base_url=provider.base_url or CIVITAI_URL,
                         token=adapter_options(provider).api_key, allow_nsfw=provider.allow_nsfw,
                         timeout_s=provider.timeout_s, name=provider.name)


def placed_summary(placed: PlacedModel) -> str:
    """One line for a finished CivitAI download: where it is, and whether its server lists it."""
    how = "already in place" if placed.already_present else "saved"
    listed = f"; {placed.provider} lists it" if placed.listed else f"; {placed.refresh_problem}"
    return f"{how}: {placed.path} ({byte_size(placed.size)}, sha256 checked){listed}"


async def progress_stream(run: Callable[[ProgressCallback], Awaitable[str]]) -> AsyncIterator[PullProgress]:
    """`run(progress)` as a pull's stream: each newest progress as a PullProgress, then the line `run` returns
    with done=True. Errors a download raises outside the taxonomy (a file already there under the name, a
    provider with no folder, the disk) come out as ProviderError, so the queue shows one line for any failure."""
    newest: list[DownloadProgress] = []
    changed = asyncio.Event()

    def report(step: DownloadProgress) -> None:
        newest[:] = [step]
        changed.set()

    task = asyncio.ensure_future(run(report))
    try:
        while not task.done():
            waiter = asyncio.ensure_future(changed.wait())
            try:
                await asyncio.wait((waiter, task), return_when=asyncio.FIRST_COMPLETED)
            finally:
                waiter.cancel()
            if newest:
                changed.clear()
                yield _as_pull(newest.pop())
        try:
            summary = task.result()
        except (AlreadyThereError, NoPlaceError) as exc:
            raise ProviderError(str(exc)) from None
        except OSError as exc:
            raise ProviderError(f"cannot write {exc.filename or 'the file'}: {exc.strerror or exc}") from None
        yield PullProgress(summary, fraction=1.0, done=True)
    finally:
        if not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


def _as_pull(step: DownloadProgress) -> PullProgress:
    total = step.total_bytes or 0
    fraction = step.done_bytes / total if total else None
    shown = f"{byte_size(step.done_bytes)} of {byte_size(total)}" if total else byte_size(step.done_bytes)
    resumed = f", resumed at {byte_size(step.resumed_from)}" if step.resumed_from else ""
    return PullProgress(f"downloading {shown}{resumed}", fraction=fraction, completed_bytes=step.done_bytes,
                        total_bytes=total)


def hub_download_stream(access: HubAccess, repo: str, path: str, directory: Path) -> AsyncIterator[PullProgress]:
    """A Hub file into `directory` as a pull's stream (its own HTTP client, closed with it)."""

    async def run(progress: ProgressCallback) -> str:
        async with hub_client_session() as http:
            result = await hub_download(hub_client(http, access), access, repo, path, directory, progress=progress)
        resumed = f", resumed at {byte_size(result.resumed_from)}" if result.resumed_from else ""
        return f"saved {result.path} ({byte_size(result.size)}, sha256 checked{resumed})"

    return progress_stream(run)


def civitai_download_stream(config: DeckConfig, version_id: int,
                            target: ProviderConfig) -> AsyncIterator[PullProgress]:
    """A CivitAI version into `target`'s folder, then `target` asked to list it, as a pull's stream."""

    async def run(progress: ProgressCallback) -> str:
        async with make_client() as http:
            placed = await download_version(civitai_client(http, civitai_provider(config)), version_id, target,
                                            progress=progress)
        return placed_summary(placed)

    return progress_stream(run)
