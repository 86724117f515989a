"""Each component's flags map onto its settings model: defaults are read from it, never restated (issue 11)."""
from __future__ import annotations

import pytest
from typer.testing import CliRunner

from apiserver.settings import ApiServerSettings
from controller.nodelifecycle import NodeLifecycleSettings
from dlxc.cli.main import app, load_verb
from kubelet.settings import KubeletSettings, LeaseSettings


def flag_defaults(verb: str) -> dict[str, object]:
    return {p.opts[0]: p.default for p in load_verb(verb).params if p.opts}


KUBELET = KubeletSettings(node_name="n", lxc_path="/x", image_dir="/y")


@pytest.mark.parametrize(
    ("verb", "flag", "expected"),
    [
        ("kubelet", "--heartbeat-interval", LeaseSettings().renew_interval),
        ("kubelet", "--fence-timeout", LeaseSettings().fence_timeout),
        ("kubelet", "--status-interval", KUBELET.status_interval),
        ("kubelet", "--resync-interval", KUBELET.resync_interval),
        ("kubelet", "--max-containers", KUBELET.max_containers),
        ("kubelet", "--cpu-overcommit", KUBELET.cpu_overcommit),
        ("kubelet", "--bridge", KUBELET.bridge),
        ("kubelet", "--subnet", str(KUBELET.subnet)),
        ("kubelet", "--scan-paths", ",".join(str(p) for p in KUBELET.scan_paths)),
        ("controller", "--node-grace", NodeLifecycleSettings().node_grace),
        ("controller", "--eviction-timeout", NodeLifecycleSettings().eviction_timeout),
        ("controller", "--fence-timeout", LeaseSettings().fence_timeout),
        ("apiserver", "--etcd-prefix", ApiServerSettings().etcd_prefix),
        ("apiserver", "--etcd-endpoints", ",".join(ApiServerSettings().etcd_endpoints)),
    ],
    ids=lambda v: v if isinstance(v, str) else None,
)
def test_a_flags_default_is_its_settings_default(verb: str, flag: str, expected: object) -> None:
    assert flag_defaults(verb)[flag] == expected


def test_the_lease_is_part_of_the_kubelet_settings_and_the_controller_agrees_on_the_fence() -> None:
    assert KUBELET.lease == LeaseSettings()
    assert NodeLifecycleSettings().fence_timeout == KUBELET.lease.fence_timeout
    assert not hasattr(KUBELET, "heartbeat_interval")  # the heartbeat is lease.renew_interval, nothing else


@pytest.mark.parametrize("verb", ["apiserver", "scheduler", "controller", "kubelet", "hollow-nodes", "token"])
def test_every_flag_that_selects_a_server_or_credentials_reads_the_environment(verb: str) -> None:
    command = load_verb(verb)
    commands = getattr(command, "commands", {}).values() or [command]
    for cmd in commands:
        for param in cmd.params:
            names = " ".join(param.opts)
            if any(word in names for word in ("--server", "--token", "-file", "--etcd-endpoints", "--config")):
                assert param.envvar, f"{verb} {names} has no environment variable"


def test_a_fence_timeout_not_above_the_heartbeat_is_a_usage_error_naming_the_flag() -> None:
    result = CliRunner().invoke(app, ["kubelet", "--heartbeat-interval", "5", "--fence-timeout", "3"])
    assert result.exit_code == 2
    assert "--fence-timeout" in result.output
    assert "fence timeout 3s must be longer than the renew interval 5s" in result.output


def test_the_controllers_unsafe_timeouts_are_a_usage_error() -> None:
    result = CliRunner().invoke(app, ["controller", "--node-grace", "1", "--eviction-timeout", "1", "--fence-timeout", "6"])
    assert result.exit_code == 2
    assert "--eviction-timeout" in result.output and "must be at least the kubelets' fence timeout 6s" in result.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["kubelet", "--heartbeat-interval", "2s", "--fence-timeout", "1500ms"], "fence timeout 1.5s must be longer than the renew interval 2s"),
        (["controller", "--node-grace", "0.5m", "--eviction-timeout", "1", "--fence-timeout", "1m"], "node grace 30s + eviction timeout 1s"),
        (["kubelet", "--status-interval", "soon"], "Invalid value for '--status-interval': 'soon' is not a duration; use e.g. 30s, 2m or 1h"),
    ],
    ids=["kubelet-durations", "controller-durations", "not-a-duration"],
)
def test_component_intervals_take_durations(args: list[str], message: str) -> None:
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 2
    assert message in result.output


@pytest.mark.parametrize(("extra", "message"), [
    ([], "--serve-usage needs --ca-file and --ca-key-file: each node's serving certificate is signed by the cluster CA"),
    (["--ca-file", "/nonexistent/ca.crt", "--ca-key-file", "/nonexistent/ca.key"], "--ca-file /nonexistent/ca.crt: no such file"),
], ids=["no-ca", "missing-file"])
def test_hollow_nodes_serving_usage_without_the_ca_is_a_usage_error(extra: list[str], message: str) -> None:
    result = CliRunner().invoke(app, ["hollow-nodes", "--count", "1", "--serve-usage", *extra], env={"DLXC_SERVER": "http://127.0.0.1:1"})
    assert result.exit_code == 2, result.output
    assert message in " ".join(result.output.replace("│", " ").split())
