"""The config file as pydantic models: providers, routes, budgets, hosts, UI settings and price overrides."""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    Field,
    ModelWrapValidatorHandler,
    PrivateAttr,
    ValidationInfo,
    field_validator,
    model_validator,
)

from config.binding_ids import check_binding_id
from config.bounds import Concurrency, RefreshSeconds, RequestsPerMinute, Seconds, TokensPerMinute, Usd, UsdPerMtok
from config.checks import cross_check
from config.expand import expand_path, expand_vars
from config.fields import ConfigModel, check_name, check_written_url, environ_of, split_v1
from config.kind_options import misplaced_option
from config.kinds import KINDS, Kind, unknown_kind_message
from config.listen_address import check_listen_address
from config.reply_limits import ReplyLimitsConfig
from config.restart_argv import check_restart_arg
from config.route_schema import STRATEGIES, RouteConfig, RouteTimeouts, Strategy, TargetConfig
from config.secret_ref import SecretRef, is_reference, parse_secret_ref

ImageProtocol = Literal["auto", "kitty", "sixel", "iterm2", "halfblock", "none"]
GpuSource = Literal["auto", "nvml", "nvidia-smi", "dcgm", "none"]

_SECRET_HEADER = re.compile(r"auth|key|token|secret|password|cookie", re.IGNORECASE)


def _check_arg(value: str, info: ValidationInfo) -> str:
    return check_restart_arg(value, environ_of(info))


# Checked one by one so an unset or secret variable is reported at its own argument; kept as written, so what is
# shown says `${VAR}` and the value is read only when the command runs (config/restart_argv.py).
ArgvItem = Annotated[str, AfterValidator(_check_arg)]

# Checked per entry, so each unknown id is reported at its own key with the id it most likely meant.
BindingId = Annotated[str, AfterValidator(check_binding_id)]


class ProviderConfig(ConfigModel):
    """One backend llmdeck can reach: a local server or a cloud API."""

    name: str
    """Unique name, `[a-z0-9._-]+`; what routes, budgets and the CLI refer to."""
    kind: Kind
    """Which protocol the backend speaks; see config/kinds.py."""
    base_url: str | None = None
    """Server root as you would type it (`$VAR` and `${VAR}` expand); a trailing /v1 is accepted and stripped.
    Optional for cloud kinds, which have a default."""
    api_key: str | None = None
    """A reference to the key: `keyring:NAME` or `env:VAR`. A literal key here is an error."""
    host: str | None = None
    """Groups providers by machine in the panes; may name an entry of `hosts`."""
    timeout_s: Seconds = 30.0
    """Default read timeout for every call to this provider, in seconds."""
    connect_timeout_s: Seconds = 5.0
    """Default connect timeout, in seconds."""
    max_concurrency: Concurrency | None = None
    """At most this many requests in flight to this provider."""
    rpm: RequestsPerMinute | None = None
    """Client-side request limit per minute."""
    tpm: TokensPerMinute | None = None
    """Client-side token limit per minute."""
    restart: tuple[ArgvItem, ...] | None = None
    """Argv run without a shell to restart the backend, e.g. [ssh, box2, systemctl, --user, restart, vllm].
    `$VAR` and a leading `~` expand when it runs (kept as written here and in the confirmation); write `$$` for a
    literal `$`. A variable named like a secret (`*_TOKEN`, `*_KEY`, …) is refused: argv is visible in `ps`."""
    headers: dict[str, str] = Field(default_factory=dict)
    """Extra HTTP headers. Values of auth headers must be `keyring:NAME` / `env:VAR` references."""
    image_timeout_s: Seconds = 600.0
    """Image generators: the whole job, queue included, may take this long; separate from the per-read
    `timeout_s`, because a large image on a busy box takes minutes."""
    image_idle_s: Seconds = 120.0
    """Image generators: a job whose progress has not moved for this long is stalled, and is interrupted."""
    tenant: str = Field(default="default_tenant", min_length=1, max_length=128)
    """Chroma: the tenant whose collections are listed."""
    database: str = Field(default="default_database", min_length=1, max_length=128)
    """Chroma: the database whose collections are listed."""
    hub_url: str | None = None
    """huggingface: the Hub's address for `hub` search/files/download (default https://huggingface.co;
    `$VAR` expands)."""
    models_dir: str | None = None
    """llamacpp: where downloaded GGUF files go (`~` and `$VAR` expand); on the box llama.cpp reads them from."""
    checkpoint_dir: str | None = None
    """a1111 / comfyui: where downloaded checkpoints go (`~` and `$VAR` expand)."""
    lora_dir: str | None = None
    """a1111 / comfyui: where downloaded LoRAs go (`~` and `$VAR` expand)."""
    allow_nsfw: bool = False
    """civitai: show models CivitAI marks NSFW in searches (hidden by default)."""
    upload_folder: str = "/llmdeck"
    """dropbox: the folder uploads go into."""
    auto_upload: Literal["off", "images", "chats", "both"] = "off"
    """dropbox: upload each generated image (PNG + JSON sidecar) and/or each chat export as it is made."""
    refresh_token: str | None = None
    """dropbox: a reference (`keyring:NAME` / `env:VAR`) to an OAuth refresh token; with `app_key`, an expired
    or missing access token (`api_key`) is renewed from it."""
    app_key: str | None = None
    """dropbox: the app key (OAuth client_id) the refresh token was issued to; not a secret."""
    app_secret: str | None = None
    """dropbox: a reference to the app secret, for a refresh token issued without PKCE."""
    config_dir: str | None = None
    """Reticulum: the RNS config dir, passed as `rnstatus --config` (`~` and `$VAR` expand). Unset means the
    first of /etc/reticulum, ~/.config/reticulum and ~/.reticulum that holds a `config` file (the order RNS
    itself uses); with none, the probe says so and runs nothing, so it never creates one."""

    _v1_suffix: bool = PrivateAttr(default=False)

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        return check_name(value, "name")

    @field_validator("kind", mode="before")
    @classmethod
    def _kind(cls, value: Any) -> Any:
        if isinstance(value, str) and value not in KINDS:
            raise ValueError(unknown_kind_message(value))
        return value

    @field_validator("base_url")
    @classmethod
    def _base_url(cls, value: str | None, info: ValidationInfo) -> str | None:
        return None if value is None else check_written_url(value, environ_of(info))

    @field_validator("hub_url")
    @classmethod
    def _hub_url(cls, value: str | None, info: ValidationInfo) -> str | None:
        return None if value is None else check_written_url(value, environ_of(info), "hub_url")

    @field_validator("models_dir", "checkpoint_dir", "lora_dir")
    @classmethod
    def _local_dir(cls, value: str | None, info: ValidationInfo) -> str | None:
        return None if value is None else expand_path(value, environ_of(info))

    @field_validator("upload_folder")
    @classmethod
    def _upload_folder(cls, value: str) -> str:
        if not value.startswith("/") or "\x00" in value or any(part in (".", "..") for part in value.split("/")):
            raise ValueError(f"upload_folder must be an absolute Dropbox path like /llmdeck, not {value!r}")
        return value.rstrip("/") or "/"

    @field_validator("api_key", "refresh_token", "app_secret")
    @classmethod
    def _api_key(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is not None:
            try:
                parse_secret_ref(value)
            except ValueError as exc:  # the check speaks of api_key, the field it was first written for
                raise ValueError(str(exc).replace("api_key", info.field_name or "api_key")) from None
        return value

    @field_validator("restart")
    @classmethod
    def _restart(cls, value: tuple[str, ...] | None) -> tuple[str, ...] | None:
        if value is None:
            return None
        if not value or not value[0]:
            raise ValueError("restart must list the command and its arguments, e.g. [systemctl, --user, restart, "
                             "ollama]")
        return value

    @field_validator("image_timeout_s", "image_idle_s", "tenant", "database", "config_dir", "hub_url", "models_dir",
                     "checkpoint_dir", "lora_dir", "allow_nsfw", "upload_folder", "auto_upload",
                     "refresh_token", "app_key", "app_secret")
    @classmethod
    def _for_this_kind(cls, value: Any, info: ValidationInfo) -> Any:
        # Runs only for options written in the file (defaults are not validated), after `kind`.
        misplaced = misplaced_option(info.data.get("kind", ""), [info.field_name or ""])
        if misplaced:
            raise ValueError(misplaced)
        return value

    @field_validator("config_dir")
    @classmethod
    def _config_dir(cls, value: str | None, info: ValidationInfo) -> str | None:
        return None if value is None else expand_path(value, environ_of(info))

    @field_validator("headers")
    @classmethod
    def _headers(cls, value: dict[str, str]) -> dict[str, str]:
        for header, text in value.items():
            if is_reference(text):
                parse_secret_ref(text)
            elif _SECRET_HEADER.search(header):
                raise ValueError(f"header '{header}' must be a reference, never the secret itself — store it with "
                                 "`llmdeck keys set NAME` and write keyring:NAME (or env:VAR) as the value")
        return value

    @model_validator(mode="wrap")
    @classmethod
    def _resolve_base_url(cls, data: Any, handler: ModelWrapValidatorHandler[ProviderConfig]) -> ProviderConfig:
        provider = handler(data)
        info = KINDS[provider.kind]
        url = provider.base_url
        if url is None and info.default_base_url:
            url = info.default_base_url
        if url is None:
            if info.needs_base_url:
                example = info.local_url() or "http://HOST:PORT"
                raise ValueError(f"base_url is required for kind '{provider.kind}' — e.g. base_url: {example}")
            return provider
        root, had_v1 = split_v1(url)
        normalised = provider.model_copy(update={"base_url": root}) if root != provider.base_url else provider
        normalised._v1_suffix = had_v1
        return normalised

    @property
    def v1_suffix(self) -> bool:
        """True when base_url was written (or defaults) with a trailing /v1, which was stripped from base_url."""
        return self._v1_suffix

    @property
    def api_key_ref(self) -> SecretRef | None:
        """The parsed key reference; the secret itself is looked up only when a request needs it."""
        return parse_secret_ref(self.api_key) if self.api_key else None

    @property
    def header_refs(self) -> dict[str, SecretRef]:
        """Headers whose values are secret references, to resolve at request time."""
        return {name: parse_secret_ref(text) for name, text in self.headers.items() if is_reference(text)}


class BudgetConfig(ConfigModel):
    """A spending cap for one provider, in US dollars."""

    provider: str
    """Name of a provider in `providers`."""
    usd_per_day: Usd | None = None
    """Cap per calendar day (local time)."""
    usd_per_month: Usd | None = None
    """Cap per calendar month."""

    @model_validator(mode="after")
    def _some_cap(self) -> BudgetConfig:
        if self.usd_per_day is None and self.usd_per_month is None:
            raise ValueError(f"budget for '{self.provider}' needs usd_per_day or usd_per_month")
        return self


class PriceOverride(ConfigModel):
    """A price that replaces the bundled table, in US dollars per million tokens."""

    provider: str | None = None
    """Limit the override to one provider; unset means every provider serving the model."""
    model: str = Field(min_length=1)
    """Model name as the provider knows it."""
    input_usd_per_mtok: UsdPerMtok
    """Price of a million prompt tokens."""
    output_usd_per_mtok: UsdPerMtok
    """Price of a million completion tokens."""


class HostConfig(ConfigModel):
    """A machine of the lab; providers name it in `host` to be grouped together."""

    name: str
    """Unique name, `[a-z0-9._-]+`."""
    address: str | None = None
    """Host name or IP address (`$VAR` expands)."""
    ssh: str | None = None
    """ssh destination for restarts and probes, e.g. `ops@box2`."""
    identity_file: str | None = None
    """ssh key file (`~` and `$VAR` expand)."""
    gpus: GpuSource = "auto"
    """Where this host's GPU readings come from: `nvml` (llmdeck runs on the box), `nvidia-smi` (run here, or
    through `ssh` when the host has one), `dcgm` (a DCGM exporter's /metrics at `dcgm_url`), `none`; `auto` tries
    them in that order and says "no GPU" when none answers."""
    dcgm_url: str | None = None
    """A DCGM exporter's /metrics URL for this host, e.g. http://box2:9400/metrics (`$VAR` expands)."""

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        return check_name(value, "name")

    @field_validator("address")
    @classmethod
    def _address(cls, value: str | None, info: ValidationInfo) -> str | None:
        return None if value is None else expand_vars(value, environ_of(info))

    @field_validator("identity_file")
    @classmethod
    def _identity_file(cls, value: str | None, info: ValidationInfo) -> str | None:
        return None if value is None else expand_path(value, environ_of(info))

    @field_validator("dcgm_url")
    @classmethod
    def _dcgm_url(cls, value: str | None, info: ValidationInfo) -> str | None:
        return None if value is None else check_written_url(value, environ_of(info), "dcgm_url")


class UiConfig(ConfigModel):
    """How the console looks and which keys do what."""

    theme: str = "textual-dark"
    """A Textual theme name."""
    keys: dict[BindingId, str] = Field(default_factory=dict)
    """Binding id → key (several comma-separated), e.g. {models-delete: ctrl+d,delete}; replaces that binding's
    default keys. The ids are those of config/binding_ids.py; an unknown one is an error."""
    refresh_s: RefreshSeconds = 2.0
    """Seconds between health polls of the panes."""
    image_protocol: ImageProtocol = "auto"
    """How to show images in the terminal: auto | kitty | sixel | iterm2 | halfblock | none."""
    metrics_listen: str | None = None
    """`ADDR:PORT` to serve Prometheus /metrics on while the console runs (as `llmdeck serve-metrics` does);
    unset serves nothing."""

    @field_validator("metrics_listen")
    @classmethod
    def _metrics_listen(cls, value: str | None) -> str | None:
        return None if value is None else check_listen_address(value)


class DeckConfig(ConfigModel):
    """The whole config file."""

    providers: tuple[ProviderConfig, ...] = ()
    """Every backend llmdeck can reach."""
    routes: tuple[RouteConfig, ...] = ()
    """Aliases and their targets."""
    budgets: tuple[BudgetConfig, ...] = ()
    """Spending caps per provider."""
    hosts: tuple[HostConfig, ...] = ()
    """Machines of the lab."""
    ui: UiConfig = Field(default_factory=UiConfig)
    """Console settings."""
    prices: tuple[PriceOverride, ...] = ()
    """Overrides of the bundled price table."""
    replies: ReplyLimitsConfig = Field(default_factory=ReplyLimitsConfig)
    """Default deadlines and the answer size cap for every request."""

    @model_validator(mode="after")
    def _cross_check(self, info: ValidationInfo) -> DeckConfig:
        # The loader runs the same checks itself to point at the offending line; it turns them off here.
        if isinstance(info.context, dict) and info.context.get("cross_checks") is False:
            return self
        problems = cross_check(self.model_dump())
        if problems:
            raise ValueError("; ".join(problem.text() for problem in problems))
        return self

    def provider(self, name: str) -> ProviderConfig | None:
        """The provider called `name`, if any."""
        return next((p for p in self.providers if p.name == name), None)

    def route(self, alias: str) -> RouteConfig | None:
        """The route for `alias`, if any."""
        return next((r for r in self.routes if r.alias == alias), None)


__all__ = [
    "STRATEGIES",
    "BudgetConfig",
    "DeckConfig",
    "HostConfig",
    "ImageProtocol",
    "PriceOverride",
    "ProviderConfig",
    "RouteConfig",
    "RouteTimeouts",
    "Strategy",
    "TargetConfig",
    "UiConfig",
]
