"""Admission policy for containers: privileged mode and host-path mounts the apiserver was told to allow."""
from __future__ import annotations

import os
from pathlib import PurePosixPath
from typing import Any

from dlxc.client.errors import Invalid

__all__ = ["check_container", "host_path_allowed", "parse_root"]


def _under(path: PurePosixPath, root: PurePosixPath) -> bool:
    return path == root or root in path.parents


def _symlink_on_the_way(path: PurePosixPath) -> PurePosixPath | None:
    """The first component of path that is a symlink on this host, if any (lstat: never followed)."""
    current = PurePosixPath("/")
    for part in path.parts[1:]:
        current = current / part
        try:
            if os.path.islink(current):
                return current
        except OSError:
            return None
    return None


def parse_root(entry: str) -> tuple[PurePosixPath, bool]:
    """An allowed host path as configured: `PATH` (read-write) or `PATH:ro` (read-only mounts only)."""
    read_only = entry.endswith(":ro")
    path = entry[: -len(":ro")] if read_only else entry
    return PurePosixPath(os.path.normpath(path)), read_only


def _describe(allowed: list[str]) -> str:
    if not allowed:
        return "nowhere (the apiserver allows no host paths; start it with --allowed-host-paths)"
    return ", ".join(f"{root} (read-only)" if ro else str(root) for root, ro in map(parse_root, allowed))


def host_path_allowed(host_path: str, allowed: list[str], *, read_only: bool = False) -> str | None:
    """None when host_path lies under one of `allowed` (a `PATH:ro` root only for a read-only
    mount), else why not, naming what is allowed.

    The path is judged as written (normalised, '..' is refused by the schema), never by following
    symlinks: a link inside an allowed folder that points elsewhere would otherwise smuggle the
    target in, so a path that passes through a symlink on this host is refused outright.
    """
    path = PurePosixPath(os.path.normpath(host_path))
    roots = [parse_root(entry) for entry in allowed]
    if not any(_under(path, root) for root, _ in roots):
        return f"{host_path} is not under an allowed host path: {_describe(allowed)}"
    if not read_only and not any(_under(path, root) for root, ro in roots if not ro):
        return f"{host_path} may only be mounted read-only (add :ro); allowed host paths: {_describe(allowed)}"
    link = _symlink_on_the_way(path)
    if link is not None:
        return f"{link} is a symlink; host paths are not resolved through symlinks"
    return None


def check_container(
    obj: dict[str, Any], *, allow_privileged: bool, allowed_host_paths: list[str], at: str = "spec", kind: str = "Container"
) -> None:
    """Raise Invalid naming each field the policy refuses; `at` is where the Container spec sits (a set's template)."""
    spec = obj.get("spec") or {}
    for part in at.split(".")[1:]:
        spec = spec.get(part) or {}
    details = []
    if spec.get("privileged") and not allow_privileged:
        details.append({"field": f"{at}.privileged", "message": "privileged containers need an apiserver started with --allow-privileged"})
    for index, mount in enumerate(spec.get("mounts") or []):
        why = host_path_allowed(mount["hostPath"], allowed_host_paths, read_only=bool(mount.get("readOnly")))
        if why is not None:
            details.append({"field": f"{at}.mounts.{index}.hostPath", "message": why})
    if details:
        summary = "; ".join(f"{d['field']}: {d['message']}" for d in details)
        raise Invalid(f"{kind} {obj['metadata']['name']} is not allowed: {summary}", details=details)
