"""Why a container did not start, in one short line read from its lxc.log, as a pure function."""
from __future__ import annotations

import re

__all__ = ["first_error", "start_failure"]

# lxc-start NAME 20261130050000.817 ERROR    utils - ../src/lxc/utils.c:safe_mount:1220 - No such file ... - Failed to mount ...
_LINE = re.compile(r"^\S+ \S+ \d+\.\d+ ERROR\s+\S+ - \S+:\w+:\d+ - (?P<text>.*)$")
# liblxc writes "<strerror> - <what failed>" when errno is set: strerror is plain words, no quotes or colons.
_ERRNO = re.compile(r"^(?P<errno>[A-Z][A-Za-z ,'/-]*?) - (?P<what>.+)$")
_MOUNT = re.compile(r'^Failed to mount "(?P<source>[^"]*)" (?:onto|on) "[^"]*"$')
# An idmapped bind mount; liblxc 5.0 prints the directory fd right before the path ("35/srv/x").
_IDMAPPED_MOUNT = re.compile(r"^Failed to create detached mount of (?:\d+(?=/))?(?P<source>/.*)$")
# A line this generic only repeats that something earlier failed.
_GENERIC = re.compile(
    r"^(An error occurred in another process|Failed to spawn container|Received container state"
    r"|The container failed to start|To get more details|Additional information)"
)
_LIMIT = 300


def first_error(log_text: str) -> str | None:
    """The first meaningful ERROR line of an lxc.log as one short sentence, e.g. `mount /srv/x: No such file or directory`."""
    for line in log_text.splitlines():
        match = _LINE.match(line.rstrip())
        if match is None:
            continue
        text = match.group("text").strip()
        errno = None
        if parts := _ERRNO.match(text):
            errno, text = parts.group("errno"), parts.group("what")
        if _GENERIC.match(text):
            continue
        if mount := _MOUNT.match(text) or _IDMAPPED_MOUNT.match(text):
            # The target is liblxc's own staging path of the rootfs, meaningless to a user; the source is theirs.
            text = f"mount {mount.group('source')}"
        elif text.startswith("Failed to "):
            text = "failed to " + text[len("Failed to "):]
        sentence = f"{text}: {errno}" if errno else text
        return sentence[:_LIMIT]
    return None


def start_failure(log_text: str, *, fallback: str, log_path: str) -> str:
    """One line for status.message: the log's first error (else `fallback`'s first line), then where the full log is."""
    reason = first_error(log_text)
    if reason is None:
        lines = [line.strip() for line in fallback.strip().splitlines() if line.strip()]
        reason = (lines[0] if lines else "lxc-start failed")[:_LIMIT]
    return f"start failed: {reason} (full log: {log_path})"
