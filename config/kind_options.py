"""Provider options that mean something to some kinds only: written for another kind they are a mistake worth
saying (a `tenant` on an Ollama would otherwise be silently ignored)."""

from __future__ import annotations

from collections.abc import Iterable

from config.kinds import KINDS

_ONLY_FOR: dict[str, frozenset[str]] = {
    "tenant": frozenset({"chroma"}),
    "database": frozenset({"chroma"}),
    "config_dir": frozenset({"reticulum"}),
    "hub_url": frozenset({"huggingface"}),
    "models_dir": frozenset({"llamacpp"}),
    "checkpoint_dir": frozenset({"a1111", "comfyui"}),
    "lora_dir": frozenset({"a1111", "comfyui"}),
    "allow_nsfw": frozenset({"civitai"}),
    "upload_folder": frozenset({"dropbox"}),
    "auto_upload": frozenset({"dropbox"}),
    "refresh_token": frozenset({"dropbox"}),
    "app_key": frozenset({"dropbox"}),
    "app_secret": frozenset({"dropbox"}),
    "image_timeout_s": frozenset(k for k, info in KINDS.items()
                                 if info.serves_images or info.family == "openai-compatible"),
    "image_idle_s": frozenset(k for k, info in KINDS.items()
                              if info.serves_images or info.family == "openai-compatible"),
}


def misplaced_option(kind: str, written: Iterable[str]) -> str | None:
    """One sentence about the first option in `written` that `kind` does not use, or None."""
    for option in sorted(written):
        kinds = _ONLY_FOR.get(option)
        if kinds is not None and kind and kind not in kinds:
            listed = ", ".join(sorted(kinds)) if len(kinds) <= 4 else "image-generating kinds"
            return f"{option} applies only to kind {listed}, not {kind} — remove it from this provider"
    return None
