"""What the operator declared: the config schema, its loader, provider kinds and where files live."""

from __future__ import annotations

from config.kinds import KINDS, KindInfo, kind_info
from config.loader import ConfigError, ConfigProblem, load_config, load_discovery_config, validate_file
from config.paths import config_path, data_dir, locate_config
from config.schema import (
    BudgetConfig,
    DeckConfig,
    HostConfig,
    PriceOverride,
    ProviderConfig,
    RouteConfig,
    RouteTimeouts,
    TargetConfig,
    UiConfig,
)
from config.secret_ref import SecretRef, parse_secret_ref

__all__ = [
    "KINDS",
    "BudgetConfig",
    "ConfigError",
    "ConfigProblem",
    "DeckConfig",
    "HostConfig",
    "KindInfo",
    "PriceOverride",
    "ProviderConfig",
    "RouteConfig",
    "RouteTimeouts",
    "SecretRef",
    "TargetConfig",
    "UiConfig",
    "config_path",
    "data_dir",
    "kind_info",
    "load_config",
    "load_discovery_config",
    "locate_config",
    "parse_secret_ref",
    "validate_file",
]
