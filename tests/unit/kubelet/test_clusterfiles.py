"""The managed /etc/hosts block and the context marker, as tables; the files themselves through a real /proc/PID/root."""
from __future__ import annotations

import os

import pytest

from kubelet.clusterfiles import BEGIN, END, condition_for, context_state, merge_hosts, sync_hosts

LINES = ["10.0.0.2 frontend.mc.cluster frontend mc-frontend", "10.0.0.3 node1.mc.cluster node1 mc-node1"]


@pytest.mark.parametrize(
    ("existing", "expected"),
    [
        ("", ["127.0.0.1 localhost", BEGIN, *LINES, END]),
        ("127.0.0.1 localhost\n::1 ip6-localhost\n", ["127.0.0.1 localhost", "::1 ip6-localhost", BEGIN, *LINES, END]),
        # The user's own lines, before and after an old block, survive; the old block is replaced.
        (f"127.0.0.1 localhost\n{BEGIN}\n10.9.9.9 old\n{END}\n192.168.1.5 printer\n",
         ["127.0.0.1 localhost", "192.168.1.5 printer", BEGIN, *LINES, END]),
        (f"127.0.0.1   localhost\n\n\n{BEGIN}\n{END}\n", ["127.0.0.1   localhost", BEGIN, *LINES, END]),
    ],
    ids=["empty", "keeps-lines", "replaces-block-keeps-user-lines", "trailing-blank-lines"],
)
def test_merge_hosts(existing: str, expected: list[str]) -> None:
    assert merge_hosts(existing, LINES) == "\n".join(expected) + "\n"
    assert merge_hosts(merge_hosts(existing, LINES), LINES) == merge_hosts(existing, LINES)


@pytest.mark.parametrize(
    ("marker", "condition"),
    [
        ("DONE", ("True", "ContextDone", "contextualization scripts ran")),
        ("FAILED 20-fail.sh 3", ("False", "ContextFailed", "script 20-fail.sh exited with code 3")),
        ("RUNNING", ("Unknown", "ContextInterrupted", "the scripts were started but did not finish (the kubelet stopped meanwhile?)")),
        ("garbage", ("Unknown", "ContextUnknown", "unreadable marker /etc/dlxc-context.done: 'garbage'")),
    ],
    ids=["done", "failed", "interrupted", "unreadable"],
)
def test_condition_for(marker: str, condition: tuple[str, str, str]) -> None:
    assert condition_for(marker) == condition


def test_files_through_proc_root_never_follow_a_symlink(tmp_path) -> None:
    """A child chrooted into tmp stands in for a container's init: /proc/PID/root is its root. Our own pid
    (the host's root) is refused outright."""
    if os.geteuid() != 0:
        pytest.fail("needs root (chroot)")
    root = tmp_path / "root"
    (root / "etc").mkdir(parents=True)
    (root / "etc" / "hosts").write_text("127.0.0.1 localhost\n10.1.1.1 mine\n")
    with pytest.raises(PermissionError, match="has the host's root"):
        sync_hosts(tmp_path, "x", os.getpid(), LINES)
    ready_r, ready_w = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child only sits in its chroot
        os.chroot(root)
        os.write(ready_w, b"x")
        os.pause()
    os.read(ready_r, 1)
    os.close(ready_r)
    os.close(ready_w)
    try:
        assert sync_hosts(tmp_path, "x", pid, LINES) is True
        assert (root / "etc" / "hosts").read_text() == "\n".join(["127.0.0.1 localhost", "10.1.1.1 mine", BEGIN, *LINES, END]) + "\n"
        assert sync_hosts(tmp_path, "x", pid, LINES) is False
        assert context_state(pid) is None
        secret = tmp_path / "secret"
        secret.write_text("host file\n")
        (root / "etc" / "hosts").unlink()
        (root / "etc" / "hosts").symlink_to(secret)
        with pytest.raises(OSError):
            sync_hosts(tmp_path, "x", pid, LINES)
        assert secret.read_text() == "host file\n"
    finally:
        os.kill(pid, 9)
        os.waitpid(pid, 0)
