"""The client config file: camelCase keys, the environment and flags over it, clear errors."""
from __future__ import annotations

from pathlib import Path

import pytest

from dlxc.client.config import ClientConfig, load_config, save_config


def test_saved_config_loads_back_with_camel_case_keys(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DLXC_SERVER", raising=False)
    monkeypatch.delenv("DLXC_TOKEN", raising=False)
    path = save_config(ClientConfig(server="https://h:6443", token="t", certificate_authority="/ca.pem"), tmp_path / "c.yaml")
    assert path.read_text() == "server: https://h:6443\ntoken: t\ncertificateAuthority: /ca.pem\n"
    assert path.stat().st_mode & 0o777 == 0o600
    assert load_config(path) == ClientConfig(server="https://h:6443", token="t", certificate_authority="/ca.pem")


def test_environment_then_flags_lie_over_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = save_config(ClientConfig(server="https://file:1", token="file"), tmp_path / "c.yaml")
    monkeypatch.setenv("DLXC_SERVER", "https://env:2")
    monkeypatch.setenv("DLXC_TOKEN", "env")
    assert (load_config(path).server, load_config(path).token) == ("https://env:2", "env")
    flagged = load_config(path, server="https://flag:3", token="flag")
    assert (flagged.server, flagged.token) == ("https://flag:3", "flag")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("- a\n- b\n", "the client config must be a mapping"),
        ("server: 5\n", "server must be a string"),
        ("server: [x\n", "not valid YAML \\(line 2\\): expected ',' or ']', but got '<stream end>'"),
    ],
    ids=["not-a-mapping", "wrong-type", "yaml"],
)
def test_a_broken_file_names_itself(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "c.yaml"
    path.write_text(text)
    with pytest.raises(ValueError, match=f"^{path}: {message}$"):
        load_config(path)


def test_missing_file_means_defaults(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DLXC_SERVER", raising=False)
    monkeypatch.delenv("DLXC_TOKEN", raising=False)
    assert load_config(tmp_path / "none.yaml") == ClientConfig()
