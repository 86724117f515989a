"""Issue 18 item 15: version, the global --server, one-line usage errors, exit codes, durations,
label selectors, schema -o errors and completion, against a real apiserver: exact outputs and codes."""
from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from pathlib import Path

import pytest

import dlxc

pytestmark = pytest.mark.timeout(60)
DLXC = str(Path(sys.executable).parent / "dlxc")
WEB = "name: web\nimage: busybox\n"


def test_version_prints_the_clients_and_the_servers(cli) -> None:
    result = cli("version")
    assert (result.exit_code, result.stdout) == (0, f"Client Version: {dlxc.__version__}\nServer Version: {dlxc.__version__} (dlxc.io/v1)\n")
    data = json.loads(cli("version", "-o", "json").stdout)
    assert data["client"] == {"version": dlxc.__version__}
    assert (data["server"]["version"], data["server"]["apiVersion"]) == (dlxc.__version__, "dlxc.io/v1")


def test_version_of_the_client_alone_needs_no_server_and_an_unreachable_one_fails_after_it(cli) -> None:
    result = cli("version", "--client", DLXC_SERVER="http://127.0.0.1:9")
    assert (result.exit_code, result.stdout) == (0, f"Client Version: {dlxc.__version__}\n")
    result = cli("version", DLXC_SERVER="http://127.0.0.1:9")
    assert (result.exit_code, result.stdout) == (1, f"Client Version: {dlxc.__version__}\n")
    assert result.stderr == "error: cannot reach the apiserver at http://127.0.0.1:9: [Errno 111] Connection refused\n"


def test_the_global_server_flag_wins_over_the_environment(cli, api) -> None:
    result = cli("--server", "http://127.0.0.1:9", "get", "containers")
    assert (result.exit_code, result.stderr) == (1, "error: cannot reach the apiserver at http://127.0.0.1:9: [Errno 111] Connection refused\n")
    result = cli("--server", api.url, "get", "containers", DLXC_SERVER="http://127.0.0.1:9")
    assert (result.exit_code, result.stdout, result.stderr) == (0, "", "no containers found\n")
    result = cli("--server", api.url, "config", "view", "-o", "json", DLXC_SERVER="http://127.0.0.1:9")
    assert json.loads(result.stdout)["server"] == api.url


@pytest.mark.parametrize(
    ("args", "line"),
    [
        (["get", "containers", "--bogus"], "error: No such option: --bogus (see 'dlxc get --help')"),
        (["get"], "error: Missing argument 'kind'. (see 'dlxc get --help')"),
        (["gett", "containers"], "error: No such command 'gett'. Did you mean 'get'? (see 'dlxc --help')"),
        (["delete", "container", "web", "--timeout", "soon"],
         "error: Invalid value for '--timeout': 'soon' is not a duration; use e.g. 30s, 2m or 1h (see 'dlxc delete --help')"),
        (["sync", "x", "--interval", "10ms"],
         "error: Invalid value for '--interval': 10ms is shorter than the shortest interval, 0.1s (see 'dlxc sync --help')"),
    ],
    ids=["unknown-option", "missing-argument", "unknown-verb", "bad-duration", "short-interval"],
)
def test_usage_errors_are_one_line_and_exit_2(args: list[str], line: str, api) -> None:
    done = subprocess.run([DLXC, *args], env=api.env(), capture_output=True, text=True, timeout=30)
    assert (done.returncode, done.stdout, done.stderr) == (2, "", line + "\n")


def test_an_empty_list_is_exit_0_and_a_missing_named_object_exit_1(cli) -> None:
    assert (cli("get", "nodes").exit_code, cli("get", "nodes").stderr) == (0, "no nodes found\n")
    result = cli("get", "containers", "-o", "name")
    assert (result.exit_code, result.stdout, result.stderr) == (0, "", "")
    result = cli("get", "container", "nope")
    assert (result.exit_code, result.stdout, result.stderr) == (1, "", "error: containers/nope not found\n")
    result = cli("describe", "container", "nope")
    assert (result.exit_code, result.stderr) == (1, "error: containers/nope not found\n")


@pytest.mark.parametrize("timeout", ["30s", "2m", "45"], ids=["seconds", "minutes", "plain"])
def test_delete_and_wait_take_durations(cli, timeout: str) -> None:
    assert cli("apply", "-f", "-", input=WEB).exit_code == 0
    result = cli("wait", "container", "web", "--for", "phase=Pending", "--timeout", timeout)
    assert (result.exit_code, result.stdout) == (0, "container/web Pending\ncontainer/web condition met: phase Pending\n")
    result = cli("delete", "container", "web", "--timeout", timeout)
    assert (result.exit_code, result.stdout) == (0, "container/web deleted\n")


@pytest.mark.parametrize(
    ("selector", "message"),
    [
        ("app=we b", "invalid label selector 'app=we b': 'app=we b' has an invalid value 'we b': at most 63 letters, digits, '-', '_', '.'"),
        ("=web", "invalid label selector '=web': '=web' has an invalid key '': a label key is [PREFIX/]NAME, NAME of letters, digits, '-', '_', '.'"),
        ("app=web,,tier=db", "invalid label selector 'app=web,,tier=db': '' is empty (a stray comma?)"),
        ("!!x", "invalid label selector '!!x': '!!x' is not one of KEY, !KEY, KEY=VALUE, KEY==VALUE, KEY!=VALUE, KEY in (V1,V2) or KEY notin (V1,V2)"),
    ],
    ids=["value", "key", "empty-part", "operator"],
)
def test_invalid_label_selectors_are_refused_before_asking_the_server(cli, selector: str, message: str) -> None:
    result = cli("get", "containers", "-l", selector, DLXC_SERVER="http://127.0.0.1:9")
    assert (result.exit_code, result.stdout, result.stderr) == (2, "", f"error: {message}\n")


def test_valid_selectors_still_pass(cli) -> None:
    assert cli("apply", "-f", "-", input="apiVersion: dlxc.io/v1\nkind: Container\nmetadata: {name: db, labels: {tier: db}}\nspec: {image: busybox}\n").exit_code == 0
    result = cli("get", "containers", "-l", "tier in (db, cache),!gone", "-o", "name")
    assert (result.exit_code, result.stdout) == (0, "container/db\n")


def test_schema_to_an_unwritable_path_is_one_error_line(cli, tmp_path: Path) -> None:
    result = cli("schema", "-o", str(tmp_path / "missing" / "dlxc.schema.json"))
    assert (result.exit_code, result.stdout) == (1, "")
    assert result.stderr == f"error: cannot write {tmp_path / 'missing' / 'dlxc.schema.json'}: No such file or directory\n"


@pytest.mark.parametrize(
    ("words", "expected"),
    [
        ("dlxc get containers -o y", "yaml\n"),
        ("dlxc wait container web --for phase=R", "phase=Running\n"),
        ("dlxc get events --for cont", "container/\n"),
        ("dlxc get events --for container/w", "container/web\n"),
        ("dlxc ver", "version\n"),
    ],
    ids=["output", "wait-for", "for-kind", "for-name", "verb"],
)
def test_completion_of_values_and_names(cli, api, words: str, expected: str) -> None:
    assert cli("apply", "-f", "-", input=WEB).exit_code == 0
    env = {**api.env(), "_DLXC_COMPLETE": "complete_bash", "COMP_WORDS": words, "COMP_CWORD": str(len(words.split(" ")) - 1)}
    done = subprocess.run([DLXC], env=env, capture_output=True, text=True, timeout=30)
    assert (done.returncode, done.stdout) == (0, expected)


@pytest.mark.parametrize("verb", ["cordon", "uncordon"])
def test_completion_of_node_names(api, verb: str) -> None:
    async def register() -> None:
        async with api.client() as c:
            for name in ("alpha", "beta"):
                await c.create("nodes", {"metadata": {"name": name}})

    asyncio.run(register())
    env = {**api.env(), "_DLXC_COMPLETE": "complete_bash", "COMP_WORDS": f"dlxc {verb} a", "COMP_CWORD": "2"}
    done = subprocess.run([DLXC], env=env, capture_output=True, text=True, timeout=30)
    assert (done.returncode, done.stdout) == (0, "alpha\n")


def test_a_broken_client_config_is_one_error_line(cli, tmp_path: Path) -> None:
    config = tmp_path / "config.yaml"
    config.write_text("server: [x\n")
    result = cli("get", "containers", DLXC_CONFIG=str(config), DLXC_SERVER=None)
    assert (result.exit_code, result.stdout) == (1, "")
    assert result.stderr == f"error: {config}: not valid YAML (line 2): expected ',' or ']', but got '<stream end>'\n"


def test_the_version_endpoint_wants_a_valid_token(api) -> None:
    import httpx

    assert httpx.get(f"{api.url}/version", timeout=5).status_code == 401
    assert httpx.get(f"{api.url}/version", headers={"Authorization": "Bearer nope"}, timeout=5).status_code == 401
    answer = httpx.get(f"{api.url}/version", headers={"Authorization": f"Bearer {api.token}"}, timeout=5)
    assert (answer.status_code, answer.json()["version"]) == (200, dlxc.__version__)
