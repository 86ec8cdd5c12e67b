"""Generated images on disk: each PNG with a JSON sidecar holding the parameters, under the data dir."""

from __future__ import annotations

import json
import os
import re
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

from config.secret_registry import contains_secret, scrub
from providers.base import ImageRequest, ImageResult
from providers.errors import ProtocolError


@dataclass(frozen=True, slots=True)
class SavedImage:
    path: Path
    sidecar: Path
    provider: str
    model: str | None
    width: int
    height: int
    seed: int | None
    ms: float


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-")[:40] or "image"


def save_image(directory: Path, provider: str, request: ImageRequest, result: ImageResult, ms: float,
               out: Path | None = None) -> SavedImage:
    """Write the PNG (atomically: temp file then rename) and its sidecar; return where they are.

    The sidecar is scrubbed of known secrets (its `info` is the backend's text); a PNG that carries one (in a
    text chunk, say) is refused with ProtocolError rather than written where backups and `grep` reach it."""
    if contains_secret(result.png.decode("latin-1")):
        raise ProtocolError("the image reply carries a known secret (an echoed key?); it was not saved",
                            provider=provider)
    if out is None:
        directory.mkdir(parents=True, exist_ok=True)
        stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S-%f")
        out = directory / f"{stamp}-{_slug(provider)}-{result.seed if result.seed is not None else 'x'}.png"
    else:
        out.parent.mkdir(parents=True, exist_ok=True)
    sidecar = out.with_suffix(".json")
    _write_atomic(out, result.png)
    meta = {
        "provider": provider, "model": result.model, "width": result.width, "height": result.height,
        "seed": result.seed, "ms": round(ms, 1), "request": asdict(request),
        "info": {k: v for k, v in result.info.items() if isinstance(v, str | int | float | bool | type(None))},
    }
    _write_atomic(sidecar, scrub(json.dumps(meta, indent=2)).encode())
    return SavedImage(out, sidecar, provider, result.model, result.width, result.height, result.seed, ms)


def _write_atomic(path: Path, data: bytes) -> None:
    temp = path.with_name(f".{path.name}.tmp")
    with temp.open("wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    temp.replace(path)
