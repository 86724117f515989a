"""Where the CLI and components find the server and their credentials."""
from __future__ import annotations

import os
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

__all__ = ["ClientConfig", "ConfigError", "config_path", "load_config", "save_config"]


class ConfigError(ValueError):
    """The client configuration cannot be used as given."""


class ClientConfig(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="ignore")

    server: str = "http://127.0.0.1:6443"
    token: str | None = None
    certificate_authority: str | None = Field(default=None, description="CA file that signs the server's certificate.")


def config_path() -> Path:
    """$DLXC_CONFIG, else ~/.config/dlxc/config.yaml."""
    explicit = os.environ.get("DLXC_CONFIG")
    if explicit:
        return Path(explicit)
    return Path.home() / ".config" / "dlxc" / "config.yaml"


def load_config(path: Path | None = None) -> ClientConfig:
    """The config file's contents with $DLXC_SERVER and $DLXC_TOKEN laid over them.

    A $DLXC_CONFIG that names no file is an error: silently talking to the default server with no
    token would hide a typo. Without $DLXC_CONFIG, a missing ~/.config/dlxc/config.yaml means defaults.
    """
    if path is None and os.environ.get("DLXC_CONFIG") and not config_path().is_file():
        raise ConfigError(f"DLXC_CONFIG is {config_path()}, which does not exist; unset it or point it at a config file")
    path = path or config_path()
    data = {}
    if path.exists():
        data = yaml.safe_load(path.read_text()) or {}
    config = ClientConfig.model_validate(data)
    if os.environ.get("DLXC_SERVER"):
        config.server = os.environ["DLXC_SERVER"]
    if os.environ.get("DLXC_TOKEN"):
        config.token = os.environ["DLXC_TOKEN"]
    return config


def save_config(config: ClientConfig, path: Path | None = None) -> Path:
    path = path or config_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    text = yaml.safe_dump(config.model_dump(by_alias=True, exclude_none=True), sort_keys=False)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(text)
    tmp.chmod(0o600)
    tmp.replace(path)
    return path
