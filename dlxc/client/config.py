"""Where the CLI and components find the server and their credentials."""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["ClientConfig", "ConfigError", "add_servers", "config_path", "load_config", "read_config_file", "save_config"]


class ConfigError(ValueError):
    """The client configuration cannot be used as given."""


# A dataclass, not a pydantic model: every CLI call loads it, and pydantic's import alone
# costs more than a whole `dlxc get`.
@dataclass
class ClientConfig:
    server: str = "http://127.0.0.1:6443"
    token: str | None = None
    certificate_authority: str | None = None  # CA file that signs the server's certificate

    @classmethod
    def from_file_data(cls, data: Any, *, source: Path) -> ClientConfig:
        """The config from a parsed file: camelCase keys, unknown keys ignored, wrong types refused."""
        if not isinstance(data, dict):
            raise ConfigError(f"{source}: the client config must be a mapping")
        values: dict[str, str | None] = {}
        for key, field in (("server", "server"), ("token", "token"), ("certificateAuthority", "certificate_authority")):
            value = data.get(key, data.get(field))
            if value is not None and not isinstance(value, str):
                raise ConfigError(f"{source}: {key} must be a string")
            if value is not None:
                values[field] = value
        return cls(**values)  # type: ignore[arg-type]

    def to_file_data(self) -> dict[str, str]:
        pairs = (("server", self.server), ("token", self.token), ("certificateAuthority", self.certificate_authority))
        return {key: value for key, value in pairs if value is not None}


def config_path() -> Path:
    """$DLXC_CONFIG, else ~/.config/dlxc/config.yaml."""
    explicit = os.environ.get("DLXC_CONFIG")
    if explicit:
        return Path(explicit)
    return Path.home() / ".config" / "dlxc" / "config.yaml"


def load_config(path: Path | None = None, *, server: str | None = None, token: str | None = None) -> ClientConfig:
    """The config file's contents with $DLXC_SERVER and $DLXC_TOKEN laid over them, and
    `server`/`token` (from --server/--token) over those. A broken file is a ConfigError naming it.

    A $DLXC_CONFIG that names no file is an error: silently talking to the default server with no
    token would hide a typo. Without $DLXC_CONFIG, a missing ~/.config/dlxc/config.yaml means defaults.
    """
    if path is None and os.environ.get("DLXC_CONFIG") and not config_path().is_file():
        raise ConfigError(f"DLXC_CONFIG is {config_path()}, which does not exist; unset it or point it at a config file")
    path = path or config_path()
    config = read_config_file(path) if path.exists() else ClientConfig()
    if os.environ.get("DLXC_SERVER"):
        config.server = os.environ["DLXC_SERVER"]
    if os.environ.get("DLXC_TOKEN"):
        config.token = os.environ["DLXC_TOKEN"]
    if server:
        config.server = server
    if token:
        config.token = token
    return config


def read_config_file(path: Path) -> ClientConfig:
    """The config file alone (no environment, no flags); a broken one is a ConfigError naming it."""
    import yaml  # only when there is a file: an environment-only call skips the import

    try:
        data = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1})" if mark is not None else ""
        raise ConfigError(f"{path}: not valid YAML{where}: {getattr(exc, 'problem', None) or exc}") from None
    return ClientConfig.from_file_data(data, source=path)


def add_servers(config: ClientConfig, urls: list[str]) -> list[str]:
    """Append the apiservers of `urls` that `config.server` lacks (it lists several comma-separated,
    the client fails over between them); returns those added. A URL must be http(s)://HOST[:PORT]."""
    from urllib.parse import urlsplit

    have = [s.strip().rstrip("/") for s in config.server.split(",") if s.strip()]
    added = []
    for url in urls:
        clean = url.strip().rstrip("/")
        parts = urlsplit(clean)
        try:
            parts.port  # noqa: B018  (raises on a port that is no number, or out of range)
        except ValueError:
            raise ConfigError(f"{url!r} is not an apiserver URL; give https://HOST:PORT") from None
        if parts.scheme not in ("http", "https") or not parts.hostname or parts.path or parts.query or "," in clean:
            raise ConfigError(f"{url!r} is not an apiserver URL; give https://HOST:PORT")
        if clean not in have and clean not in added:
            added.append(clean)
    config.server = ",".join([*have, *added])
    return added


def save_config(config: ClientConfig, path: Path | None = None) -> Path:
    path = path or config_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    import yaml

    text = yaml.safe_dump(config.to_file_data(), sort_keys=False)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(text)
    tmp.chmod(0o600)
    tmp.replace(path)
    return path
