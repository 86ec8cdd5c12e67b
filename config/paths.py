"""Where the config file and the data directory are: pure functions, nothing is created here."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import platformdirs

APP_NAME = "llmdeck"
CONFIG_ENV = "LLMDECK_CONFIG"
DATA_DIR_ENV = "LLMDECK_DATA_DIR"
CONFIG_FILE_NAME = "config.yaml"

ConfigSource = Literal["argument", "environment", "default"]


@dataclass(frozen=True, slots=True)
class ConfigLocation:
    """The config path and why it was chosen; only a `default` path may be absent (then llmdeck probes)."""

    path: Path
    source: ConfigSource

    @property
    def explicit(self) -> bool:
        """The operator named this file, so its absence is an error rather than a reason to auto-discover."""
        return self.source != "default"


def default_config_path() -> Path:
    """`llmdeck/config.yaml` in the platform's user config dir ($XDG_CONFIG_HOME on Linux)."""
    return Path(platformdirs.user_config_dir(APP_NAME, appauthor=False)) / CONFIG_FILE_NAME


def locate_config(explicit: str | os.PathLike[str] | None = None,
                  environ: Mapping[str, str] | None = None) -> ConfigLocation:
    """`--config PATH`, else $LLMDECK_CONFIG, else the user config dir; `~` expands in the first two."""
    env = os.environ if environ is None else environ
    if explicit:
        return ConfigLocation(Path(explicit).expanduser(), "argument")
    from_env = env.get(CONFIG_ENV)
    if from_env:
        return ConfigLocation(Path(from_env).expanduser(), "environment")
    return ConfigLocation(default_config_path(), "default")


def config_path(explicit: str | os.PathLike[str] | None = None, environ: Mapping[str, str] | None = None) -> Path:
    """The config file to read (it may not exist)."""
    return locate_config(explicit, environ).path


def data_dir(environ: Mapping[str, str] | None = None) -> Path:
    """$LLMDECK_DATA_DIR, else the platform's user data dir for llmdeck. Not created here."""
    env = os.environ if environ is None else environ
    from_env = env.get(DATA_DIR_ENV)
    if from_env:
        return Path(from_env).expanduser()
    return Path(platformdirs.user_data_dir(APP_NAME, appauthor=False))
