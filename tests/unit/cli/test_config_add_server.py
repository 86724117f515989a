"""`dlxc config add-server URL...`: another apiserver in the client config's server list, the rest kept."""
from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from dlxc.cli.main import app
from dlxc.client.config import ClientConfig, save_config

A, B, C = "https://10.0.0.1:6443", "https://10.0.0.2:6443", "https://10.0.0.3:6443"


def env_for(config: Path, server: str = "") -> dict[str, str]:
    return {"DLXC_CONFIG": str(config), "DLXC_SERVER": server, "DLXC_TOKEN": ""}


@pytest.fixture
def config(tmp_path: Path) -> Path:
    return save_config(ClientConfig(server=A, token="t0k", certificate_authority="/ca.crt"), tmp_path / "config.yaml")


def test_add_server_appends_and_keeps_token_and_ca(config: Path) -> None:
    result = CliRunner().invoke(app, ["config", "add-server", f"{B}/", A, C, B], env=env_for(config))
    assert (result.exit_code, result.stdout, result.stderr) == (0, f"{config}: server: {A},{B},{C}\n", "")
    assert yaml.safe_load(config.read_text()) == {"server": f"{A},{B},{C}", "token": "t0k", "certificateAuthority": "/ca.crt"}
    assert config.stat().st_mode & 0o777 == 0o600  # it holds the token
    again = CliRunner().invoke(app, ["config", "add-server", B], env=env_for(config))
    assert (again.exit_code, again.stdout) == (0, f"{config}: server: {A},{B},{C} (unchanged)\n")


@pytest.mark.parametrize("url", ["10.0.0.2:6443", "ftp://10.0.0.2", "https://10.0.0.2:6443/api", "https://10.0.0.2:99999",
                                 f"{B},{C}", "https://"],
                         ids=["no-scheme", "not-http", "a-path", "bad-port", "a-list", "no-host"])
def test_add_server_refuses_what_is_no_apiserver_url(config: Path, url: str) -> None:
    before = config.read_text()
    result = CliRunner().invoke(app, ["config", "add-server", B, url], env=env_for(config))
    assert (result.exit_code, result.stdout) == (2, "")
    assert result.stderr == f"error: {url!r} is not an apiserver URL; give https://HOST:PORT\n"
    assert config.read_text() == before  # nothing written, not even the good one


def test_add_server_needs_a_config_file(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["config", "add-server", B], env={"DLXC_CONFIG": "", "DLXC_SERVER": "", "HOME": str(tmp_path)})
    default = tmp_path / ".config" / "dlxc" / "config.yaml"
    assert (result.exit_code, result.stderr) == (1, f"error: {default} does not exist: add-server adds to an existing client config (`dlxc init` writes one)\n")
    assert not default.exists()


def test_add_server_says_when_dlxc_server_overrides_the_file(config: Path) -> None:
    result = CliRunner().invoke(app, ["config", "add-server", B], env=env_for(config, server=C))
    assert result.exit_code == 0 and yaml.safe_load(config.read_text())["server"] == f"{A},{B}"
    assert result.stderr == f"warning: $DLXC_SERVER ({C}) overrides the file's server while it is set\n"
