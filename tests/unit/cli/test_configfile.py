"""`--config FILE` of the components: every flag settable in YAML, flags and env override, bad files named by file, line and key."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from dlxc.cli.common import duration
from dlxc.cli.configfile import ConfigFileError, config_option, read_config

app = typer.Typer()


@app.command("kubelet")
def kubelet(
    config: Path = config_option("TEST_KUBELET_CONFIG", "/etc/dlxc/agent.yaml"),
    node_name: str = typer.Option(None, "--node-name", envvar="TEST_NODE_NAME"),
    max_containers: int = typer.Option(100, "--max-containers"),
    fence_timeout: float = typer.Option(6.0, "--fence-timeout", parser=duration),
    lxcfs: bool = typer.Option(True, "--lxcfs/--no-lxcfs"),
    scan_paths: str = typer.Option("/var/lib/lxc", "--scan-paths"),
) -> None:
    typer.echo(f"{node_name} {max_containers} {fence_timeout:g} {lxcfs} {scan_paths}")


def run(tmp_path: Path, text: str, *args: str, env: dict[str, str] | None = None) -> tuple[int, str]:
    (tmp_path / "agent.yaml").write_text(text)
    result = CliRunner().invoke(app, ["--config", str(tmp_path / "agent.yaml"), *args], env=env)
    return result.exit_code, result.output


FULL = "node-name: h1\nmax-containers: 12\nfence-timeout: 4s\nlxcfs: false\nscan-paths: [/a, /b]\n"


@pytest.mark.parametrize(
    ("text", "args", "env", "out"),
    [
        (FULL, [], None, "h1 12 4 False /a,/b\n"),
        ("kubelet:\n  node-name: h2\napiserver:\n  port: 1\n", [], None, "h2 100 6 True /var/lib/lxc\n"),
        (FULL, ["--node-name", "h9", "--max-containers", "3", "--lxcfs"], None, "h9 3 4 True /a,/b\n"),
        (FULL, [], {"TEST_NODE_NAME": "from-env"}, "from-env 12 4 False /a,/b\n"),
        ("", [], None, "None 100 6 True /var/lib/lxc\n"),
    ],
    ids=["every-flag", "own-section", "flags-override", "env-overrides", "empty"],
)
def test_values_from_the_file(tmp_path: Path, text: str, args: list[str], env: dict[str, str] | None, out: str) -> None:
    assert run(tmp_path, text, *args, env=env) == (0, out)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("node-name: h1\nnodename: x\n", "line 2, key 'nodename': not a flag of `dlxc kubelet`; known: fence-timeout, lxcfs, max-containers, node-name, scan-paths"),
        ("max-containers: many\n", "line 1, key 'max-containers': Input should be a valid integer, unable to parse string as an integer"),
        ("fence-timeout: soon\n", "line 1, key 'fence-timeout': 'soon' is not a duration; use e.g. 30s, 2m or 1h"),
        ("- a\n- b\n", "line 1: must be a mapping of flag names to values"),
        ("kubelet: [1]\n", "line 1, key 'kubelet': must be a mapping of flag names to values"),
        ("kubelet: {}\nport: 1\n", "line 2, key 'port': a file with component sections holds only apiserver, scheduler, controller, kubelet"),
        ("a: [\n", "line 2: not YAML"),
    ],
    ids=["unknown-key", "bad-int", "bad-duration", "not-a-mapping", "bad-section", "mixed", "not-yaml"],
)
def test_a_bad_file_is_refused_with_file_line_and_key(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "agent.yaml"
    path.write_text(text)
    command = typer.main.get_command(app)
    ctx = command.make_context("kubelet", [], resilient_parsing=True)
    with pytest.raises(ConfigFileError) as caught:
        read_config(path, command, ctx, section="kubelet")
    assert str(caught.value).startswith(f"{path}, {message}")
    assert run(tmp_path, text)[0] == 2


def test_the_real_kubelet_refuses_a_bad_file_before_it_starts(tmp_path: Path) -> None:
    (tmp_path / "agent.yaml").write_text("kubelet:\n  node-name: h1\n  fence-timeout: soon\n")
    result = subprocess.run([sys.executable, "-m", "dlxc", "kubelet", "--config", str(tmp_path / "agent.yaml")],
                            capture_output=True, text=True, timeout=30)
    assert (result.returncode, result.stdout) == (2, "")
    assert result.stderr == (
        f"error: Invalid value for --config: {tmp_path / 'agent.yaml'}, line 3, key 'fence-timeout': "
        f"'soon' is not a duration; use e.g. 30s, 2m or 1h (see 'python -m dlxc kubelet --help')\n"
    )
