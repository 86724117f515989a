"""Cluster members' files: the marked /etc/hosts block, and contextualization scripts run once at first boot.

The cluster controller writes what a member needs as annotations (schemas.wire HOSTS_ANNOTATION,
CONTEXT_ANNOTATION); the kubelet applies them to the running container on every reconcile:

- /etc/hosts is edited through /proc/PID/root of the container's init (its own mount namespace,
  so the overlay it sees), between `# BEGIN dlxc cluster` and `# END dlxc cluster`; lines outside
  the block are the user's and are kept. Every path component is opened without following
  symlinks: a link planted in the container cannot send the host's root to another file.
  Files that do not exist yet are created through lxc-attach, as the container's root.
- the scripts run with lxc-attach as the container's root, in name order, with only the cluster's
  variables (and PATH, HOME) in the environment. A marker file (/etc/dlxc-context.done) says they
  ran, and how they ended, so a later reconcile or a restart never runs them again; their output
  is appended to CONTAINER_DIR/context.log on the node.
"""
from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from schemas.wire import CONTEXT_ANNOTATION, HOSTS_ANNOTATION

__all__ = ["BEGIN", "BOOT_SETTLE", "END", "ContextResult", "apply", "condition_for", "context_state", "merge_hosts", "run_context", "sync_hosts"]

BEGIN = "# BEGIN dlxc cluster (managed: edits inside this block are replaced)"
END = "# END dlxc cluster"
MARKER = "dlxc-context.done"
SCRIPT_TIMEOUT = 900.0
# Seconds after its init started before a member's files are touched: its boot scripts go first.
BOOT_SETTLE = 1.5
PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


def merge_hosts(existing: str, lines: list[str]) -> str:
    """`existing` with its managed block replaced by `lines` (added at the end when absent)."""
    kept: list[str] = []
    inside = False
    for line in existing.splitlines():
        if line.startswith("# BEGIN dlxc cluster"):
            inside = True
            continue
        if inside and line == END:
            inside = False
            continue
        if not inside:
            kept.append(line)
    while kept and not kept[-1].strip():
        kept.pop()
    if not any(line.split()[1:2] == ["localhost"] for line in kept if line.strip() and not line.startswith("#")):
        kept.insert(0, "127.0.0.1 localhost")
    return "\n".join([*kept, BEGIN, *lines, END]) + "\n"


@contextmanager
def _etc(pid: int) -> Iterator[tuple[int, tuple[int, int]]]:
    """A directory fd of the container's /etc, reached without following any symlink inside it, and
    the owner of the container's / (its root user as the host sees it)."""
    root = os.open(f"/proc/{pid}/root", os.O_RDONLY | os.O_DIRECTORY)
    try:
        info = os.fstat(root)
        host = os.stat("/")
        if (info.st_dev, info.st_ino) == (host.st_dev, host.st_ino):
            # A pid that is not (or not yet) a container's: never edit the host's own files.
            raise PermissionError(f"pid {pid} has the host's root, not a container's")
        etc = os.open("etc", os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=root)
    finally:
        os.close(root)
    try:
        yield etc, (info.st_uid, info.st_gid)
    finally:
        os.close(etc)


def _read(etc: int, name: str) -> str | None:
    try:
        fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW, dir_fd=etc)
    except FileNotFoundError:
        return None
    with os.fdopen(fd) as handle:
        return handle.read()


def _write(etc: int, name: str, text: str) -> None:
    """Rewrite an existing file in place (keeps its owner and mode, and works on a bind-mounted /etc/hosts)."""
    fd = os.open(name, os.O_WRONLY | os.O_TRUNC | os.O_NOFOLLOW, dir_fd=etc)
    try:
        os.write(fd, text.encode())
    finally:
        os.close(fd)


def _attach_write(lxc_path: Path, name: str, path: str, text: str) -> None:
    """Create a file as the container's root: the host's root cannot create files on a filesystem the
    container's user namespace mounted (EOVERFLOW: its uid 0 has no id there)."""
    argv = ["lxc-attach", "--name", name, "--lxcpath", str(lxc_path), "--clear-env", "--set-var", f"PATH={PATH}",
            "--", "/bin/sh", "-c", f'cat > "{path}"']
    proc = subprocess.run(argv, input=text.encode(), capture_output=True, timeout=30)
    if proc.returncode != 0:
        raise OSError(f"cannot write {path} in {name}: {proc.stderr.decode(errors='replace').strip() or proc.returncode}")


def sync_hosts(lxc_path: Path, name: str, pid: int, lines: list[str]) -> bool:
    """Make the container's /etc/hosts carry `lines` in its block; True when it was changed."""
    with _etc(pid) as (etc, _):
        existing = _read(etc, "hosts")
        wanted = merge_hosts(existing or "", lines)
        if wanted == existing:
            return False
        if existing is not None:
            _write(etc, "hosts", wanted)
            return True
    _attach_write(lxc_path, name, "/etc/hosts", wanted)
    return True


def context_state(pid: int) -> str | None:
    """The marker's text (DONE, or FAILED SCRIPT CODE), or None before the scripts ran."""
    with _etc(pid) as (etc, _):
        text = _read(etc, MARKER)
    return text.strip() if text is not None else None


@dataclass(frozen=True)
class ContextResult:
    ok: bool
    script: str = ""
    code: int = 0

    @property
    def marker(self) -> str:
        return "DONE" if self.ok else f"FAILED {self.script} {self.code}"


# Copies the script from stdin to a file and runs it, so the script's own reads of stdin see EOF, not itself.
_RUNNER = 'f=$(mktemp 2>/dev/null || echo /dlxc-context.$$) && cat > "$f" && chmod 700 "$f" && "$f"; rc=$?; rm -f "$f"; exit $rc'


def run_context(lxc_path: Path, name: str, pid: int, context: str, *, log: Path) -> ContextResult:
    """Run the scripts of a CONTEXT_ANNOTATION value once, in name order; stop at the first failure."""
    spec = json.loads(context)
    env = {"PATH": PATH, "HOME": "/root", **{str(k): str(v) for k, v in (spec.get("env") or {}).items()}}
    # Marked before the first script runs: a kubelet that dies midway never runs them a second time.
    _attach_write(lxc_path, name, f"/etc/{MARKER}", "RUNNING\n")
    result = ContextResult(ok=True)
    with log.open("ab") as out:
        for script_name, text in sorted((str(n), str(t)) for n, t in spec.get("scripts") or []):
            out.write(f"==> {script_name}\n".encode())
            out.flush()
            argv = ["lxc-attach", "--name", name, "--lxcpath", str(lxc_path), "--clear-env"]
            for key, value in env.items():
                argv += ["--set-var", f"{key}={value}"]
            argv += ["--", "/bin/sh", "-c", _RUNNER]
            try:
                proc = subprocess.run(argv, input=text.encode(), stdout=out, stderr=subprocess.STDOUT, timeout=SCRIPT_TIMEOUT)
                code = proc.returncode
            except subprocess.TimeoutExpired:
                code = 124
            out.write(f"<== {script_name} exited {code}\n".encode())
            if code != 0:
                result = ContextResult(ok=False, script=script_name, code=code)
                break
    _attach_write(lxc_path, name, f"/etc/{MARKER}", result.marker + "\n")
    return result


def apply(lxc_path: Path, name: str, pid: int, annotations: dict[str, str]) -> tuple[str, str, str] | None:
    """Bring one running member up to its annotations: the hosts block, then (once) the scripts.

    Returns the Contextualized condition (status, reason, message) to show, or None without scripts.
    """
    hosts = annotations.get(HOSTS_ANNOTATION)
    if hosts is not None:
        sync_hosts(lxc_path, name, pid, [line for line in hosts.split(";") if line.strip()])
    context = annotations.get(CONTEXT_ANNOTATION)
    if context is None:
        return None
    state = context_state(pid)
    if state is None:
        state = run_context(lxc_path, name, pid, context, log=lxc_path / name / "context.log").marker
    return condition_for(state)


def condition_for(marker: str) -> tuple[str, str, str]:
    """The Contextualized condition a marker's text stands for."""
    parts = marker.split()
    if parts[:1] == ["DONE"]:
        return "True", "ContextDone", "contextualization scripts ran"
    if parts[:1] == ["FAILED"] and len(parts) == 3:
        return "False", "ContextFailed", f"script {parts[1]} exited with code {parts[2]}"
    if parts[:1] == ["RUNNING"]:
        return "Unknown", "ContextInterrupted", "the scripts were started but did not finish (the kubelet stopped meanwhile?)"
    return "Unknown", "ContextUnknown", f"unreadable marker /etc/{MARKER}: {marker[:80]!r}"
