"""What the Ollama emulator knows: a pullable library, the installed models, and which ones are loaded."""

from __future__ import annotations

import hashlib
import re
from collections import Counter
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta

VRAM_TOTAL_BYTES = 24 * 1024**3
"""The emulated GPU; models that do not fit are partly offloaded to CPU (size_vram < size), as Ollama reports."""
DEFAULT_NUM_CTX = 4096
DEFAULT_KEEP_ALIVE = timedelta(minutes=5)
FOREVER = timedelta(days=365 * 292)
"""Ollama adds math.MaxInt64 ns for a negative keep_alive, which lands about 292 years ahead."""
STARTED = datetime(2025, 3, 14, 9, 26, 53, tzinfo=UTC)
"""modified_at of the models present at start, fixed so listings are reproducible."""


@dataclass(frozen=True, slots=True)
class LibraryModel:
    """A model as the registry would describe it."""

    family: str
    parameter_size: str
    quantization: str
    size: int
    context_length: int
    embedding_length: int
    capabilities: tuple[str, ...] = ("completion",)
    families: tuple[str, ...] = ()

    @property
    def is_embedding(self) -> bool:
        return "embedding" in self.capabilities

    @property
    def tokens_per_s(self) -> float:
        """A plausible generation speed on a mid-range GPU: memory-bound, so inversely proportional to size."""
        return min(250.0, max(8.0, 2.2e11 / self.size))


_LLAMA32_3B = LibraryModel("llama", "3.2B", "Q4_K_M", 2_019_393_189, 131072, 3072, ("completion", "tools"))
_LLAMA31_8B = LibraryModel("llama", "8.0B", "Q4_K_M", 4_920_753_328, 131072, 4096, ("completion", "tools"))
_QWEN25_7B = LibraryModel("qwen2", "7.6B", "Q4_K_M", 4_683_087_332, 32768, 3584, ("completion", "tools"))
_MISTRAL_7B = LibraryModel("llama", "7.2B", "Q4_0", 4_113_301_824, 32768, 4096, ("completion", "tools"))
_PHI3_MINI = LibraryModel("phi3", "3.8B", "Q4_0", 2_176_178_913, 131072, 3072)
_LLAVA_7B = LibraryModel("llama", "7B", "Q4_0", 4_733_363_377, 32768, 4096, ("completion", "vision"), ("llama", "clip"))
_R1_7B = LibraryModel("qwen2", "7.6B", "Q4_K_M", 4_683_075_271, 131072, 3584, ("completion", "thinking"))
_NOMIC = LibraryModel("nomic-bert", "137M", "F16", 274_302_450, 2048, 768, ("embedding",))
_MXBAI = LibraryModel("bert", "334M", "F16", 669_615_493, 512, 1024, ("embedding",))

LIBRARY: dict[str, LibraryModel] = {
    "llama3.2:1b": LibraryModel("llama", "1.2B", "Q8_0", 1_321_098_329, 131072, 2048, ("completion", "tools")),
    "llama3.2:3b": _LLAMA32_3B, "llama3.2:latest": _LLAMA32_3B,
    "llama3.1:8b": _LLAMA31_8B, "llama3.1:latest": _LLAMA31_8B,
    "qwen2.5:0.5b": LibraryModel("qwen2", "494.03M", "Q4_K_M", 397_821_319, 32768, 896, ("completion", "tools")),
    "qwen2.5:7b": _QWEN25_7B, "qwen2.5:latest": _QWEN25_7B,
    "mistral:7b": _MISTRAL_7B, "mistral:latest": _MISTRAL_7B,
    "gemma2:2b": LibraryModel("gemma2", "2.6B", "Q4_0", 1_629_518_495, 8192, 2304),
    "phi3:mini": _PHI3_MINI, "phi3:latest": _PHI3_MINI,
    "llava:7b": _LLAVA_7B, "llava:latest": _LLAVA_7B,
    "deepseek-r1:7b": _R1_7B, "deepseek-r1:latest": _R1_7B,
    "nomic-embed-text:latest": _NOMIC,
    "mxbai-embed-large:latest": _MXBAI,
}
"""What `/api/pull` can fetch by name with realistic sizes and quantizations; any other name is made up on pull."""

STARTING_MODELS = ("llama3.2:1b", "qwen2.5:7b", "mistral:7b", "nomic-embed-text:latest")

_TEMPLATES = {
    "llama": "<|start_header_id|>{{ .Role }}<|end_header_id|>\n\n{{ .Content }}<|eot_id|>",
    "qwen2": "<|im_start|>{{ .Role }}\n{{ .Content }}<|im_end|>\n",
    "gemma2": "<start_of_turn>{{ .Role }}\n{{ .Content }}<end_of_turn>\n",
    "phi3": "<|{{ .Role }}|>\n{{ .Content }}<|end|>\n",
}
_STOPS = {"llama": ("<|eot_id|>",), "qwen2": ("<|im_start|>", "<|im_end|>"), "gemma2": ("<end_of_turn>",),
          "phi3": ("<|end|>",)}
_NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._/-]{0,79}(:[A-Za-z0-9._-]{1,80})?$")
_BYTES_PER_WEIGHT = {"Q4": 0.606, "Q5": 0.71, "Q6": 0.82, "Q8": 1.06, "F1": 2.0}
"""Bytes per weight by quantization prefix (F1 covers F16), to state a parameter count from a file size."""
_PARAMS_IN_TAG = re.compile(r"(\d+(?:\.\d+)?)([bm])$")


def normalize_name(name: str) -> str:
    """Ollama's canonical short name: the library namespace dropped and `:latest` added when no tag is given."""
    name = name.strip().removeprefix("registry.ollama.ai/").removeprefix("library/")
    return name if ":" in name.rsplit("/", 1)[-1] else f"{name}:latest"


def valid_name(name: str) -> bool:
    return bool(_NAME_PATTERN.match(name.strip()))


def sha256_hex(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def library_model(name: str) -> LibraryModel:
    """The library entry for a name, or a plausible one derived from the name itself (stable per name)."""
    known = LIBRARY.get(name)
    if known is not None:
        return known
    base, _, tag = name.partition(":")
    family = re.sub(r"[^a-z]+.*$", "", base.rsplit("/", 1)[-1].lower()) or "llama"
    digest = int(sha256_hex(name)[:8], 16)
    match = _PARAMS_IN_TAG.search(tag.lower())
    params = float(match.group(1)) * (1e9 if match.group(2) == "b" else 1e6) if match else (1 + digest % 8) * 1e9
    # Q4_K_M stores about 4.85 bits per weight.
    size = int(params * 0.606) + digest % 1_000_000
    label = f"{params / 1e9:.1f}B" if params >= 1e9 else f"{params / 1e6:.0f}M"
    return LibraryModel(family, label, "Q4_K_M", size, 8192, 4096)


@dataclass(frozen=True, slots=True)
class Layer:
    digest: str
    size: int
    media_type: str


def layers_of(spec: LibraryModel) -> tuple[Layer, ...]:
    """The blobs a pull fetches: the weights first and largest, then template, license and params.

    Digests depend on the spec only, so two tags of one model (`llama3.2:latest`, `llama3.2:3b`) share them.
    """
    small = {"template": 1_429, "license": 7_712, "params": 96 if spec.is_embedding else 254}
    weights = spec.size - sum(small.values())
    key = f"{spec.family}:{spec.parameter_size}:{spec.quantization}:{spec.size}"
    layers = [Layer("sha256:" + sha256_hex(f"{key}:model"), weights, "application/vnd.ollama.image.model")]
    layers += [Layer("sha256:" + sha256_hex(f"{key}:{kind}"), size, f"application/vnd.ollama.image.{kind}")
               for kind, size in small.items()]
    return tuple(layers)


@dataclass(frozen=True, slots=True)
class InstalledModel:
    name: str
    spec: LibraryModel
    digest: str
    modified_at: datetime


@dataclass(slots=True)
class LoadedModel:
    name: str
    expires_at: datetime
    num_ctx: int
    size: int
    size_vram: int = 0


def now() -> datetime:
    return datetime.now(tz=UTC)


def rfc3339(when: datetime) -> str:
    return when.isoformat().replace("+00:00", "Z")


@dataclass
class OllamaState:
    """Installed and loaded models, changed by pull, delete, copy, load and unload."""

    installed: dict[str, InstalledModel] = field(default_factory=dict)
    loaded: dict[str, LoadedModel] = field(default_factory=dict)
    active_pulls: int = 0
    cancelled: Counter[str] = field(default_factory=Counter)
    """Streams stopped before their end, by route (`pull`, `chat`, `generate`): the client went away or a fault
    cut them. Tests read it to see that closing an iterator reached the server."""
    hold_pulls: bool = False
    """While set, a streamed pull stops halfway through its weights and waits to be let go: a test can act on a
    running pull (cancel it, quit) without racing the pull's end, however slow the machine."""

    @classmethod
    def with_starting_models(cls) -> OllamaState:
        state = cls()
        for name in STARTING_MODELS:
            state.install(name, modified_at=STARTED)
        return state

    def find(self, name: str) -> InstalledModel | None:
        return self.installed.get(normalize_name(name))

    def install(self, name: str, modified_at: datetime | None = None) -> InstalledModel:
        canonical = normalize_name(name)
        spec = library_model(canonical)
        manifest = sha256_hex("".join(layer.digest for layer in layers_of(spec)))
        model = InstalledModel(canonical, spec, manifest, modified_at or now())
        self.installed[canonical] = model
        return model

    def delete(self, name: str) -> bool:
        canonical = normalize_name(name)
        self.loaded.pop(canonical, None)
        return self.installed.pop(canonical, None) is not None

    def copy(self, source: str, destination: str) -> bool:
        found = self.find(source)
        if found is None:
            return False
        target = normalize_name(destination)
        self.installed[target] = replace(found, name=target, modified_at=now())
        return True

    def load(self, model: InstalledModel, keep_alive: timedelta | None, num_ctx: int | None = None) -> float:
        """Load or refresh a model; returns the seconds a cold load takes (0 when already loaded)."""
        self.running()
        expires = now() + (DEFAULT_KEEP_ALIVE if keep_alive is None else keep_alive)
        current = self.loaded.get(model.name)
        if current is not None:
            current.expires_at = expires
            return 0.0
        ctx = min(num_ctx or DEFAULT_NUM_CTX, model.spec.context_length)
        # Weights plus a KV cache and compute graph that grow with the context.
        size = model.spec.size + 256 * 1024**2 + ctx * model.spec.embedding_length * 16
        free = VRAM_TOTAL_BYTES - sum(m.size_vram for m in self.loaded.values())
        self.loaded[model.name] = LoadedModel(model.name, expires, ctx, size, max(0, min(size, free)))
        return model.spec.size / 2e9

    def unload(self, name: str) -> None:
        self.loaded.pop(normalize_name(name), None)

    def running(self) -> list[LoadedModel]:
        """Loaded models, dropping those whose keep_alive has run out."""
        moment = now()
        for name in [n for n, m in self.loaded.items() if m.expires_at <= moment or n not in self.installed]:
            del self.loaded[name]
        return sorted(self.loaded.values(), key=lambda m: m.expires_at, reverse=True)


def details_json(spec: LibraryModel) -> dict[str, object]:
    return {"parent_model": "", "format": "gguf", "family": spec.family,
            "families": list(spec.families or (spec.family,)), "parameter_size": spec.parameter_size,
            "quantization_level": spec.quantization}


def tag_json(model: InstalledModel) -> dict[str, object]:
    return {"name": model.name, "model": model.name, "modified_at": rfc3339(model.modified_at),
            "size": model.spec.size, "digest": model.digest, "details": details_json(model.spec)}


def ps_json(model: InstalledModel, loaded: LoadedModel) -> dict[str, object]:
    return {"name": model.name, "model": model.name, "size": loaded.size, "digest": model.digest,
            "details": details_json(model.spec), "expires_at": rfc3339(loaded.expires_at),
            "size_vram": loaded.size_vram, "context_length": loaded.num_ctx}


def show_json(model: InstalledModel) -> dict[str, object]:
    spec = model.spec
    arch = spec.family.replace("-", "")
    template = "{{ .Prompt }}" if spec.is_embedding else _TEMPLATES.get(spec.family, _TEMPLATES["llama"])
    stops = () if spec.is_embedding else _STOPS.get(spec.family, _STOPS["llama"])
    parameters = "\n".join(f'stop                           "{stop}"' for stop in stops)
    if spec.is_embedding:
        parameters = "num_ctx                        " + str(spec.context_length)
    weights = layers_of(spec)[0].digest.replace(":", "-")
    modelfile = (
        f'# Modelfile generated by "ollama show"\n# To build a new Modelfile based on this, replace FROM with:\n'
        f"# FROM {model.name}\n\nFROM /usr/share/ollama/.ollama/models/blobs/{weights}\n"
        f'TEMPLATE """{template}"""\n' + "".join(f"PARAMETER stop {stop}\n" for stop in stops)
    )
    model_info: dict[str, object] = {
        "general.architecture": arch, "general.file_type": 15, "general.quantization_version": 2,
        "general.parameter_count": int(spec.size / _BYTES_PER_WEIGHT.get(spec.quantization[:2], 0.606)),
        f"{arch}.context_length": spec.context_length, f"{arch}.embedding_length": spec.embedding_length,
        f"{arch}.block_count": max(12, spec.embedding_length // 128),
    }
    return {"license": "(license text)", "modelfile": modelfile, "parameters": parameters, "template": template,
            "details": details_json(spec), "model_info": model_info, "capabilities": list(spec.capabilities),
            "modified_at": rfc3339(model.modified_at)}


def parse_keep_alive(value: object) -> timedelta | None:
    """keep_alive as Ollama reads it: seconds (number) or a Go duration string; negative means forever.

    None means "not given" (the default applies). Raises ValueError with Ollama's wording for bad strings.
    """
    if value is None:
        return None
    if isinstance(value, bool):
        raise ValueError("keep_alive must be a number or a duration string")
    if isinstance(value, int | float):
        return FOREVER if value < 0 else timedelta(seconds=value)
    if not isinstance(value, str):
        raise ValueError("keep_alive must be a number or a duration string")
    text = value.strip()
    units = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}
    parts = re.findall(r"(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)", text.lstrip("-+"))
    if text in ("0", "-0"):
        return timedelta(0)
    if not parts or "".join(n + u for n, u in parts) != text.lstrip("-+"):
        problem = "missing unit in" if re.fullmatch(r"[-+]?\d+(\.\d+)?", text) else "invalid"
        raise ValueError(f'time: {problem} duration "{text}"')
    seconds = sum(float(number) * units[unit] for number, unit in parts)
    return FOREVER if text.startswith("-") else timedelta(seconds=seconds)
