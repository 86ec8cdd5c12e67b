"""One CivitAI model version into an image server's folder, then that server told to look again.

The version's primary file goes to the image provider's `checkpoint_dir` (a Checkpoint) or `lora_dir` (a LoRA)
through providers/downloads.py (resumable, SHA-256 checked, never half-written under its name). After it lands,
AUTOMATIC1111 is asked to rescan (`POST /sdapi/v1/refresh-checkpoints` or `/refresh-loras`) and its list read;
ComfyUI rescans its folders when /object_info is read, so that is read. Whether the new file is listed is part of
the result: the file is on disk either way, and a server on another box may read a different folder.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from config.schema import ProviderConfig
from providers.adapters.civitai import LORA_TYPES, CivitaiClient, CivitaiVersion, safe_file_name
from providers.deck import adapter_options
from providers.downloads import ProgressCallback, download_file, safe_destination
from providers.errors import AuthFailedError, ProtocolError, ProviderError
from providers.http import MAX_LISTING_BYTES, parse_json, send

IMAGE_KINDS = ("a1111", "comfyui")
HASH_BLOCK = 8 * 1024 * 1024


class NoPlaceError(ValueError):
    """The chosen provider cannot take this file: not an image server, or no folder configured for its type."""


class AlreadyThereError(Exception):
    """A different file already has the destination's name; it is left alone."""


@dataclass(frozen=True, slots=True)
class PlacedModel:
    version_id: int
    model_type: str
    path: Path
    size: int
    sha256: str
    provider: str
    listed: bool
    """Whether the image server listed the file after its refresh."""
    refresh_problem: str | None = None
    """Why the refresh or the listing failed, when it did."""
    already_present: bool = False


def check_image_provider(provider: ProviderConfig) -> None:
    """NoPlaceError unless `provider` is an image server with at least one download folder."""
    if provider.kind not in IMAGE_KINDS:
        raise NoPlaceError(f"{provider.name} is kind {provider.kind}: CivitAI models go to an a1111 or comfyui "
                           "provider")
    if not provider.checkpoint_dir and not provider.lora_dir:
        raise NoPlaceError(f"{provider.name} has neither checkpoint_dir nor lora_dir set: nowhere to put models")


def destination_dir(provider: ProviderConfig, version: CivitaiVersion) -> Path:
    """The folder for this version's type on `provider`; NoPlaceError when there is none."""
    kind = version.model_type
    if kind == "Checkpoint":
        folder, option = provider.checkpoint_dir, "checkpoint_dir"
    elif kind in LORA_TYPES:
        folder, option = provider.lora_dir, "lora_dir"
    else:
        raise NoPlaceError(f"version {version.id} is a {kind or 'model of unknown type'}: only checkpoints and "
                           "LoRAs are downloaded")
    if not folder:
        raise NoPlaceError(f"{provider.name} has no {option} for a {kind}")
    return Path(folder)


async def download_version(civitai: CivitaiClient, version_id: int, provider: ProviderConfig, *,
                           progress: ProgressCallback | None = None) -> PlacedModel:
    """Fetch `version_id`'s primary file into `provider`'s folder and refresh the provider's list."""
    check_image_provider(provider)
    version = await civitai.version(version_id)
    folder = destination_dir(provider, version)
    chosen = version.primary_file()
    dest = safe_destination(folder, safe_file_name(chosen.name, civitai.name))
    url = chosen.download_url or version.download_url or f"{civitai.base_url}/download/models/{version.id}"
    if not civitai.same_origin(url):
        raise ProtocolError(f"version {version.id}'s download link leaves CivitAI ({httpx.URL(url).host}); not "
                              "followed", provider=civitai.name)
    lora = version.model_type in LORA_TYPES
    if dest.exists():
        sha = await asyncio.to_thread(_sha256_of, dest)
        if chosen.sha256 is None or sha != chosen.sha256:
            raise AlreadyThereError(f"{dest} already exists and is not this version's file; not overwritten")
        listed, problem = await refresh_and_find(civitai.client, provider, dest.name, lora=lora)
        return PlacedModel(version.id, version.model_type, dest, dest.stat().st_size, sha, provider.name, listed,
                           problem, already_present=True)
    try:
        result = await download_file(civitai.client, url, dest, expected_sha256=chosen.sha256,
                                     expected_size=chosen.size_bytes, headers=civitai.auth_headers(),
                                     progress=progress)
    except AuthFailedError as exc:
        hint = "the key was refused" if civitai.auth_headers() else f"it needs an API key (api_key on {civitai.name})"
        raise AuthFailedError(f"CivitAI refused the download of version {version.id}: {hint} ({exc.message})",
                              status=exc.status, provider=civitai.name) from None
    listed, problem = await refresh_and_find(civitai.client, provider, result.path.name, lora=lora)
    return PlacedModel(version.id, version.model_type, result.path, result.size, result.sha256, provider.name,
                       listed, problem)


async def refresh_and_find(client: httpx.AsyncClient, provider: ProviderConfig, file_name: str, *,
                           lora: bool) -> tuple[bool, str | None]:
    """(listed, problem): ask the image server to rescan and look for `file_name` in what it lists."""
    try:
        if provider.kind == "a1111":
            names = await _a1111_names(client, provider, lora=lora)
        else:
            names = await _comfyui_names(client, provider, lora=lora)
    except ProviderError as exc:
        return False, f"refresh of {provider.name} failed: {exc}"
    listed = file_name in names
    return listed, None if listed else f"{provider.name} does not list {file_name} after its refresh"


def _headers(provider: ProviderConfig) -> dict[str, str]:
    options = adapter_options(provider)
    headers = {name: value for name, value in options.headers.items() if name.lower() != "origin"}
    key = options.api_key() if options.api_key is not None and provider.kind == "a1111" else None
    if key and ":" in key:  # as the A1111 adapter does for --api-auth user:pass
        headers["Authorization"] = "Basic " + base64.b64encode(key.encode()).decode()
    return headers


async def _get_json(client: httpx.AsyncClient, provider: ProviderConfig, method: str, path: str) -> Any:
    response = await send(client, method, f"{(provider.base_url or '').rstrip('/')}{path}", provider=provider.name,
                          headers=_headers(provider), timeout_s=provider.timeout_s, max_bytes=MAX_LISTING_BYTES)
    return parse_json(response.content, provider.name, f"{method} {path}")


def _base_name(path: str) -> str:
    return path.replace("\\", "/").rsplit("/", 1)[-1]


async def _a1111_names(client: httpx.AsyncClient, provider: ProviderConfig, *, lora: bool) -> set[str]:
    """File names A1111 lists after a rescan: each checkpoint's `filename`, each LoRA's `path` (server paths)."""
    await _get_json(client, provider, "POST", "/sdapi/v1/refresh-loras" if lora else "/sdapi/v1/refresh-checkpoints")
    listing = await _get_json(client, provider, "GET", "/sdapi/v1/loras" if lora else "/sdapi/v1/sd-models")
    field = "path" if lora else "filename"
    return {_base_name(entry[field]) for entry in (listing if isinstance(listing, list) else ())
            if isinstance(entry, dict) and isinstance(entry.get(field), str)}


async def _comfyui_names(client: httpx.AsyncClient, provider: ProviderConfig, *, lora: bool) -> set[str]:
    """File names ComfyUI offers for its loader's input (it rescans the folder when asked)."""
    node, field = ("LoraLoader", "lora_name") if lora else ("CheckpointLoaderSimple", "ckpt_name")
    info = await _get_json(client, provider, "GET", f"/object_info/{node}")
    try:
        spec = info[node]["input"]["required"][field]
    except (KeyError, TypeError):
        return set()
    return {_base_name(name) for name in _combo_options(spec)}


def _combo_options(spec: Any) -> list[str]:
    """A COMBO input's choices in either shape: the older `[[names…], {…}]` or `["COMBO", {"options": […]}]`."""
    if isinstance(spec, list) and spec and isinstance(spec[0], list):
        choices: Any = spec[0]
    elif isinstance(spec, list) and len(spec) > 1 and isinstance(spec[1], dict):
        choices = spec[1].get("options")
    else:
        return []
    return [name for name in choices if isinstance(name, str)] if isinstance(choices, list) else []


def _sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while block := handle.read(HASH_BLOCK):
            digest.update(block)
    return digest.hexdigest()
