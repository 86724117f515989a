"""Argument handling of exec, logs and passwd that needs no cluster."""
from __future__ import annotations

import subprocess

import pytest

from dlxc.cli.exec import exec_params
from dlxc.cli.logs import parse_duration
from dlxc.cli.passwd import sha512_crypt


@pytest.mark.parametrize(
    ("text", "seconds"),
    [pytest.param("90", 90, id="bare"), pytest.param("30s", 30, id="s"), pytest.param("10m", 600, id="m"),
     pytest.param("2h", 7200, id="h"), pytest.param("1d", 86400, id="d"), pytest.param("1.5m", 90, id="fraction")],
)
def test_durations(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "10x", "-5m", "m"])
def test_bad_durations_say_what_is_expected(text: str) -> None:
    with pytest.raises(ValueError, match="is not a duration like 30s, 10m, 2h or 1d"):
        parse_duration(text)


def test_exec_params_keep_the_command_and_its_order() -> None:
    assert exec_params(["sh", "-c", "a b"], tty=True, stdin=False, user="nobody", env=["A=1", "B=2"], cwd="/tmp") == [
        ("command", "sh"), ("command", "-c"), ("command", "a b"), ("stdin", "0"), ("tty", "1"),
        ("user", "nobody"), ("env", "A=1"), ("env", "B=2"), ("cwd", "/tmp"),
    ]


def test_the_hash_verifies_and_is_salted() -> None:
    first, second = sha512_crypt("pw one"), sha512_crypt("pw one")
    assert first.startswith("$6$") and first != second
    salt = first.split("$")[2]
    again = subprocess.run(["openssl", "passwd", "-6", "-salt", salt, "-stdin"], input="pw one\n", capture_output=True, text=True, check=True)
    assert again.stdout.strip() == first


def test_exec_refuses_a_bad_env_before_connecting(tmp_path) -> None:
    import os
    import sys

    env = {**os.environ, "DLXC_SERVER": "http://127.0.0.1:9", "DLXC_TOKEN": "x", "DLXC_CONFIG": str(tmp_path / "c.yaml")}
    result = subprocess.run([sys.executable, "-m", "dlxc", "exec", "web", "--env", "NOEQUALS", "--", "true"],
                            capture_output=True, text=True, env=env, timeout=30)
    assert (result.returncode, result.stderr.strip()) == (2, "error: --env 'NOEQUALS' must be KEY=VALUE")


@pytest.mark.parametrize("verb", ["logs", "console"])
def test_a_negative_tail_is_a_usage_error_before_connecting(tmp_path, verb: str) -> None:
    import os
    import sys

    env = {**os.environ, "DLXC_SERVER": "http://127.0.0.1:9", "DLXC_TOKEN": "x", "DLXC_CONFIG": str(tmp_path / "c.yaml")}
    result = subprocess.run([sys.executable, "-m", "dlxc", verb, "web", "--tail", "-5"], capture_output=True, text=True, env=env, timeout=30)
    assert (result.returncode, result.stdout, result.stderr.strip()) == (2, "", "error: --tail must be 0 or more")


def test_an_unreachable_apiserver_is_one_line_not_a_traceback(tmp_path) -> None:
    import os
    import sys

    env = {**os.environ, "DLXC_SERVER": "http://127.0.0.1:9", "DLXC_TOKEN": "x", "HOME": str(tmp_path)}
    env.pop("DLXC_CONFIG", None)
    for args, expected in (
        (["exec", "web", "--", "true"], "error: cannot reach the apiserver at http://127.0.0.1:9: Cannot connect to host"),
        (["logs", "web"], "error: cannot read the log of container web from http://127.0.0.1:9: Cannot connect to host"),
    ):
        result = subprocess.run([sys.executable, "-m", "dlxc", *args], capture_output=True, text=True, env=env, timeout=30,
                                stdin=subprocess.DEVNULL)
        assert result.returncode == 1
        assert result.stderr.startswith(expected) and result.stderr.count("\n") == 1, result.stderr


@pytest.mark.parametrize(
    ("ttl", "message"),
    [
        pytest.param("25h", "error: --ttl must be whole seconds from 1s to 24h", id="over-a-day"),
        pytest.param("1.5s", "error: --ttl must be whole seconds from 1s to 24h", id="fraction"),
        pytest.param("0s", "error: --ttl must be whole seconds from 1s to 24h", id="zero"),
    ],
)
def test_terminal_ttl_is_checked_before_asking(ttl: str, message: str, tmp_path) -> None:
    import os
    import sys

    # A server nobody listens on: the flag is refused before any request.
    env = {**os.environ, "DLXC_SERVER": "http://127.0.0.1:9", "DLXC_TOKEN": "x", "DLXC_CONFIG": str(tmp_path / "none.yaml")}
    result = subprocess.run([sys.executable, "-m", "dlxc", "terminal", "web", "--ttl", ttl], env=env, capture_output=True, text=True, timeout=30)
    assert (result.returncode, result.stdout, result.stderr.strip()) == (2, "", message)
