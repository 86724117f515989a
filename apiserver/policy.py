"""Admission policy for containers: privileged mode and host-path mounts the apiserver was told to allow."""
from __future__ import annotations

import os
from pathlib import PurePosixPath
from typing import Any

from dlxc.client.errors import Invalid

__all__ = ["check_container", "host_path_allowed"]


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


def host_path_allowed(host_path: str, allowed: list[str]) -> str | None:
    """None when host_path lies under one of `allowed`, else why not.

    The path is judged as written (normalised, '..' is refused by the schema), never by following
    symlinks: a link inside an allowed folder that points elsewhere would otherwise smuggle the
    target in, so a path that passes through a symlink on this host is refused outright.
    """
    path = PurePosixPath(os.path.normpath(host_path))
    roots = [PurePosixPath(os.path.normpath(root)) for root in allowed]
    if not any(_under(path, root) for root in roots):
        where = ", ".join(str(r) for r in roots) if roots else "nowhere (the apiserver allows no host paths)"
        return f"{host_path} is not under an allowed host path: {where}"
    link = _symlink_on_the_way(path)
    if link is not None:
        return f"{link} is a symlink; host paths are not resolved through symlinks"
    return None


def check_container(obj: dict[str, Any], *, allow_privileged: bool, allowed_host_paths: list[str]) -> None:
    """Raise Invalid naming each field the policy refuses."""
    spec = obj.get("spec") or {}
    details = []
    if spec.get("privileged") and not allow_privileged:
        details.append({"field": "spec.privileged", "message": "privileged containers need an apiserver started with --allow-privileged"})
    for index, mount in enumerate(spec.get("mounts") or []):
        why = host_path_allowed(mount["hostPath"], allowed_host_paths)
        if why is not None:
            details.append({"field": f"spec.mounts.{index}.hostPath", "message": why})
    if details:
        summary = "; ".join(f"{d['field']}: {d['message']}" for d in details)
        raise Invalid(f"Container {obj['metadata']['name']} is not allowed: {summary}", details=details)
