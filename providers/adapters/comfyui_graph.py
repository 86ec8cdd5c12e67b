"""The built-in ComfyUI text-to-image API graph (ComfyUI's own default workflow), filled from an ImageRequest."""

from __future__ import annotations

from typing import Any

from providers.base import ImageRequest

SAVE_NODE = "9"
"""The node whose output holds the finished image."""

DEFAULT_SAMPLER = "euler"
DEFAULT_SCHEDULER = "normal"

_A1111_SAMPLERS: dict[str, tuple[str, str | None]] = {
    "euler": ("euler", None),
    "euler a": ("euler_ancestral", None),
    "heun": ("heun", None),
    "lms": ("lms", None),
    "ddim": ("ddim", "ddim_uniform"),
    "unipc": ("uni_pc", None),
    "dpm++ 2m": ("dpmpp_2m", None),
    "dpm++ 2m karras": ("dpmpp_2m", "karras"),
    "dpm++ sde": ("dpmpp_sde", None),
    "dpm++ sde karras": ("dpmpp_sde", "karras"),
    "dpm++ 2m sde": ("dpmpp_2m_sde", None),
    "dpm++ 2m sde karras": ("dpmpp_2m_sde", "karras"),
}
"""A1111 display names → (ComfyUI sampler_name, scheduler), so one request works on both backends."""


def comfy_sampler(name: str | None) -> tuple[str, str]:
    """(sampler_name, scheduler) for ComfyUI; ComfyUI's own names pass through unchanged."""
    if not name:
        return DEFAULT_SAMPLER, DEFAULT_SCHEDULER
    sampler, scheduler = _A1111_SAMPLERS.get(name.strip().lower(), (name, None))
    return sampler, scheduler or DEFAULT_SCHEDULER


def text_to_image_graph(request: ImageRequest, *, checkpoint: str, seed: int) -> dict[str, dict[str, Any]]:
    """The default workflow in API format: checkpoint → two prompts → empty latent → KSampler → decode → save.

    `seed` must already be concrete (ComfyUI has no "random" seed value); links are [node_id, output_index].
    """
    sampler, scheduler = comfy_sampler(request.sampler)
    return {
        "3": {"class_type": "KSampler", "inputs": {
            "seed": seed, "steps": request.steps, "cfg": request.cfg_scale, "sampler_name": sampler,
            "scheduler": scheduler, "denoise": 1.0,
            "model": ["4", 0], "positive": ["6", 0], "negative": ["7", 0], "latent_image": ["5", 0]}},
        "4": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": checkpoint}},
        "5": {"class_type": "EmptyLatentImage",
              "inputs": {"width": request.width, "height": request.height, "batch_size": 1}},
        "6": {"class_type": "CLIPTextEncode", "inputs": {"text": request.prompt, "clip": ["4", 1]}},
        "7": {"class_type": "CLIPTextEncode", "inputs": {"text": request.negative, "clip": ["4", 1]}},
        "8": {"class_type": "VAEDecode", "inputs": {"samples": ["3", 0], "vae": ["4", 2]}},
        SAVE_NODE: {"class_type": "SaveImage", "inputs": {"filename_prefix": "llmdeck", "images": ["8", 0]}},
    }
