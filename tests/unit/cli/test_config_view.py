"""`dlxc config view` hides the token unless asked; a DLXC_CONFIG that names no file is an error."""
from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from dlxc.cli.main import app
from dlxc.client.config import ClientConfig, ConfigError, load_config, save_config

SECRET = "s3cr3t-token-value"


def env_for(config: Path) -> dict[str, str]:
    return {"DLXC_CONFIG": str(config), "DLXC_SERVER": "", "DLXC_TOKEN": ""}


@pytest.fixture
def config(tmp_path: Path) -> Path:
    return save_config(ClientConfig(server="https://10.0.0.1:6443", token=SECRET, certificate_authority="/ca.crt"), tmp_path / "config.yaml")


@pytest.mark.parametrize(("args", "token"), [([], "REDACTED"), (["--show-token"], SECRET)], ids=["hidden", "shown"])
def test_config_view_hides_the_token_unless_asked(config: Path, args: list[str], token: str) -> None:
    result = CliRunner().invoke(app, ["config", "view", *args], env=env_for(config))
    assert result.exit_code == 0, result.output
    assert yaml.safe_load(result.stdout) == {
        "server": "https://10.0.0.1:6443", "token": token, "certificateAuthority": "/ca.crt", "configFile": str(config),
    }
    if token == "REDACTED":
        assert SECRET not in result.stdout


def test_a_dlxc_config_that_does_not_exist_is_an_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    missing = tmp_path / "typo.yaml"
    message = f"DLXC_CONFIG is {missing}, which does not exist; unset it or point it at a config file"
    for verb in (["config", "view"], ["get", "containers"]):
        result = CliRunner().invoke(app, verb, env=env_for(missing))
        assert (result.exit_code, result.stdout, result.stderr) == (1, "", f"error: {message}\n"), verb
    monkeypatch.setenv("DLXC_CONFIG", str(missing))
    with pytest.raises(ConfigError, match="which does not exist"):
        load_config()
    monkeypatch.delenv("DLXC_CONFIG")
    monkeypatch.setenv("HOME", str(tmp_path))  # no DLXC_CONFIG and no ~/.config/dlxc/config.yaml: the defaults
    assert load_config().server == "http://127.0.0.1:6443"
