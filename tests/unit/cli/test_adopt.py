from __future__ import annotations

import pytest

from dlxc.cli.adopt import adoption_manifest

NODE = {
    "metadata": {"name": "n1"},
    "status": {"lxcPath": "/var/lib/dlxc/lxc", "unmanagedContainers": [
        {"name": "hand", "lxcPath": "/var/lib/dlxc/lxc", "state": "RUNNING", "rootfs": "dir:/var/lib/dlxc/lxc/hand/rootfs", "privileged": True},
        {"name": "old", "lxcPath": "/var/lib/lxc", "state": "STOPPED", "rootfs": "dir:/var/lib/lxc/old/rootfs", "privileged": True},
    ]},
}


def test_manifest_keeps_rootfs_power_state_and_privilege() -> None:
    assert adoption_manifest(NODE, "hand") == {
        "apiVersion": "dlxc.io/v1",
        "kind": "Container",
        "metadata": {"name": "hand", "annotations": {"dlxc.io/adopted-rootfs": "dir:/var/lib/dlxc/lxc/hand/rootfs"}},
        "spec": {"image": "adopted", "nodeName": "n1", "privileged": True, "state": "Running"},
    }


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("ghost", "node n1 lists no unmanaged LXC container 'ghost' (it lists: hand, old)"),
        ("old", "old lives in /var/lib/lxc, not in node n1's lxcpath /var/lib/dlxc/lxc; a running container cannot "
                "change lxcpath: stop it, move its directory there (mv /var/lib/lxc/old /var/lib/dlxc/lxc/), and adopt it again"),
    ],
    ids=["not-listed", "other-lxcpath"],
)
def test_manifest_refusals(name: str, message: str) -> None:
    with pytest.raises(ValueError) as info:
        adoption_manifest(NODE, name)
    assert str(info.value) == message
