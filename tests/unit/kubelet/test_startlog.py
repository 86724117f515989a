"""One line saying why a container did not start, read from a real lxc.log."""
from __future__ import annotations

from pathlib import Path

import pytest

from kubelet.startlog import first_error, start_failure

# Captured from `lxc-start` (LXC 5.0.2) on a container whose bind-mount source does not exist.
MISSING_MOUNT = (Path(__file__).parent / "data" / "lxc-start-missing-mount.log").read_text()
# The same with the mount idmapped (idmap=container), where liblxc 5.0.2 glues an fd number to the path.
MISSING_IDMAPPED_MOUNT = (Path(__file__).parent / "data" / "lxc-start-missing-idmapped-mount.log").read_text()
PREFIX = "lxc-start web 20261130050000.817 ERROR    "


@pytest.mark.parametrize(("log", "expected"), [
    pytest.param(MISSING_MOUNT, "mount /tmp/x/vol: No such file or directory", id="missing-mount-source"),
    pytest.param(MISSING_IDMAPPED_MOUNT, "mount /tmp/x/vol: No such file or directory", id="missing-idmapped-mount-source"),
    pytest.param(
        PREFIX + 'network - ../src/lxc/network.c:instantiate_veth:203 - No such device - '
        'Failed to attach "vethX" to bridge "br9"\n',
        'failed to attach "vethX" to bridge "br9": No such device', id="errno-then-what"),
    pytest.param(
        PREFIX + "sync - ../src/lxc/sync.c:sync_wait:34 - An error occurred in another process (expected sequence number 3)\n"
        + PREFIX + "conf - ../src/lxc/conf.c:lxc_setup:4419 - Failed to setup mount entries\n",
        "failed to setup mount entries", id="generic-lines-skipped"),
    pytest.param("lxc-start web 20261130050000.817 WARN     cgfsng - x.c:f:1 - Device or resource busy - x\n", None,
                 id="no-error-line"),
    pytest.param("", None, id="empty-log"),
])
def test_first_error(log: str, expected: str | None) -> None:
    assert first_error(log) == expected


def test_start_failure_is_one_line_ending_with_the_log() -> None:
    message = start_failure(MISSING_MOUNT, fallback="lxc-start: web: failed\nmore", log_path="/var/lib/dlxc/lxc/web/lxc.log")
    assert message == ("start failed: mount /tmp/x/vol: No such file or directory "
                       "(full log: /var/lib/dlxc/lxc/web/lxc.log)")


def test_start_failure_falls_back_to_the_first_line_of_stderr() -> None:
    assert start_failure("", fallback="\nlxc-start: web: failed\nmore\n", log_path="/l") == (
        "start failed: lxc-start: web: failed (full log: /l)")
