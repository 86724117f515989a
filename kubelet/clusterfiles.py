"""Cluster members' files: the marked /etc/hosts block, and contextualization scripts run once at first boot.

The cluster controller writes what a member needs as annotations (schemas.wire HOSTS_ANNOTATION,
CONTEXT_ANNOTATION); the kubelet applies them to the running container on every reconcile:

- /etc/hosts (of a member on a node bridge: on the cluster network it is the kubelet's file, and the
  reconcile gives the block to kubelet.names instead) is edited through /proc/PID/root of the container's init (its own mount namespace,
  so the overlay it sees), between `# BEGIN dlxc cluster` and `# END dlxc cluster`; lines outside
  the block are the user's and are kept. Every path component is opened without following
  symlinks: a link planted in the container cannot send the host's root to another file.
  Files that do not exist yet are created through lxc-attach, as the container's root.
- the scripts run with lxc-attach as the container's root, in name order, with only the cluster's
  variables (and PATH, HOME) in the environment. A marker file (/etc/dlxc-context.done) says they
  ran, and how they ended, so a later reconcile or a restart never runs them again; their output
  is appended to CONTAINER_DIR/context.log on the node.
- on a front-end, the add-node.d/remove-node.d hooks run for each node that joined or left since
  the list recorded in /etc/dlxc-nodes (with DLXC_NODE naming it).
"""
from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from schemas.wire import CONTEXT_ANNOTATION, HOSTS_ANNOTATION, NODE_HOOKS_ANNOTATION

__all__ = [
    "BEGIN", "BOOT_SETTLE", "END", "ContextResult", "apply", "condition_for", "context_state", "merge_hosts", "run_context",
    "run_node_hooks", "sync_hosts",
]

BEGIN = "# BEGIN dlxc cluster (managed: edits inside this block are replaced)"
END = "# END dlxc cluster"
MARKER = "dlxc-context.done"
NODES_FILE = "dlxc-nodes"  # on a front-end: the nodes its hooks last saw
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


# Copies the script from stdin to a file and runs it, so the script's own reads of stdin see EOF, not itself;
# its output also goes to the container's console, so `dlxc logs` shows it beside the boot messages.
_RUNNER = (
    'f=$(mktemp 2>/dev/null || echo /dlxc-context.$$) && cat > "$f" && chmod 700 "$f" || exit 125; '
    '{ "$f"; echo $? > "$f.rc"; } 2>&1 | { if [ -w /dev/console ]; then tee -a /dev/console; else cat; fi; }; '
    'rc=$(cat "$f.rc" 2>/dev/null || echo 126); rm -f "$f" "$f.rc"; exit $rc'
)


def _run_scripts(lxc_path: Path, name: str, scripts: list[list[str]], env: dict[str, str], *, log: Path, label: str = "") -> ContextResult:
    """Run scripts in name order as the container's root with only `env`; stop at the first failure."""
    full = {"PATH": PATH, "HOME": "/root", **env}
    with log.open("ab") as out:
        for script_name, text in sorted((str(n), str(t)) for n, t in scripts):
            out.write(f"==> {label}{script_name}\n".encode())
            out.flush()
            argv = ["lxc-attach", "--name", name, "--lxcpath", str(lxc_path), "--clear-env"]
            for key, value in full.items():
                argv += ["--set-var", f"{key}={value}"]
            argv += ["--", "/bin/sh", "-c", _RUNNER]
            try:
                proc = subprocess.run(argv, input=text.encode(), stdout=out, stderr=subprocess.STDOUT, timeout=SCRIPT_TIMEOUT)
                code = proc.returncode
            except subprocess.TimeoutExpired:
                code = 124
            out.write(f"<== {label}{script_name} exited {code}\n".encode())
            if code != 0:
                return ContextResult(ok=False, script=label + script_name, code=code)
    return ContextResult(ok=True)


def run_context(lxc_path: Path, name: str, pid: int, context: str, *, log: Path) -> ContextResult:
    """Run the scripts of a CONTEXT_ANNOTATION value once, in name order; stop at the first failure."""
    spec = json.loads(context)
    # Marked before the first script runs: a kubelet that dies midway never runs them a second time.
    _attach_write(lxc_path, name, f"/etc/{MARKER}", "RUNNING\n")
    env = {str(k): str(v) for k, v in (spec.get("env") or {}).items()}
    result = _run_scripts(lxc_path, name, spec.get("scripts") or [], env, log=log)
    _attach_write(lxc_path, name, f"/etc/{MARKER}", result.marker + "\n")
    return result


def run_node_hooks(lxc_path: Path, name: str, pid: int, hooks: str, *, log: Path) -> tuple[str, str, str] | None:
    """On a front-end: run add-node.d for each node that joined and remove-node.d for each that left
    since the list in /etc/dlxc-nodes, then record the new list. The first list seen is recorded
    without running anything (those nodes came with the cluster; its context scripts cover them).
    Returns the NodeHooks condition (status, reason, message) when hooks ran, else None."""
    spec = json.loads(hooks)
    nodes = [str(n) for n in spec.get("nodes") or []]
    with _etc(pid) as (etc, _):
        seen_text = _read(etc, NODES_FILE)
    if seen_text is None:
        _attach_write(lxc_path, name, f"/etc/{NODES_FILE}", " ".join(nodes) + "\n")
        return None
    seen = seen_text.split()
    added = [n for n in nodes if n not in seen]
    removed = [n for n in seen if n not in nodes]
    if not added and not removed:
        return None
    env = {str(k): str(v) for k, v in (spec.get("env") or {}).items()}
    failed = None
    for node, scripts, label in [*((n, spec.get("add") or [], "add-node.d/") for n in added),
                                 *((n, spec.get("remove") or [], "remove-node.d/") for n in removed)]:
        result = _run_scripts(lxc_path, name, scripts, {**env, "DLXC_NODE": node}, log=log, label=label)
        if not result.ok and failed is None:
            failed = f"{result.script} for {node} exited with code {result.code}"
    with _etc(pid) as (etc, _):
        _write(etc, NODES_FILE, " ".join(nodes) + "\n")
    if failed is not None:
        return "False", "HookFailed", failed
    return "True", "HooksRan", f"hooks ran for {', '.join([*('+' + n for n in added), *('-' + n for n in removed)])}"


def apply(lxc_path: Path, name: str, pid: int, annotations: dict[str, str]) -> list[tuple[str, str, str, str]]:
    """Bring one running member up to its annotations: the hosts block, then (once) the scripts, then a
    front-end's node hooks. Returns the conditions (type, status, reason, message) to show."""
    conditions = []
    hosts = annotations.get(HOSTS_ANNOTATION)
    if hosts is not None:
        sync_hosts(lxc_path, name, pid, [line for line in hosts.split(";") if line.strip()])
    log = lxc_path / name / "context.log"
    context = annotations.get(CONTEXT_ANNOTATION)
    if context is not None:
        state = context_state(pid)
        if state is None:
            state = run_context(lxc_path, name, pid, context, log=log).marker
        conditions.append(("Contextualized", *condition_for(state)))
    hooks = annotations.get(NODE_HOOKS_ANNOTATION)
    if hooks is not None:
        ran = run_node_hooks(lxc_path, name, pid, hooks, log=log)
        if ran is not None:
            conditions.append(("NodeHooks", *ran))
    return conditions


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
