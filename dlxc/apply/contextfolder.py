"""Context folders: a ContainerCluster's scripts read from a folder, for `dlxc cluster create --context-folder` and manifests.

A folder's regular files are the contextualization scripts (spec.context, run in name order);
its add-node.d/ and remove-node.d/ folders hold the front-end's hooks (spec.addNode,
spec.removeNode). A manifest may name one as `spec.context: {folder: DIR}`, DIR relative to the
manifest's file: like kustomize's configMapGenerator, the folder is read when the manifest is
(by apply, diff, delete, sync, up), and the API only ever sees the scripts themselves, so a
cluster's scripts are in its object, and `dlxc get -o yaml` shows what ran.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from schemas.base import Obj
from schemas.manifest import FieldError

__all__ = ["HOOK_DIRS", "expand_context_folder", "read_context_folder"]

# Hook folders of the original builder: run on the front-end when nodes join or leave.
HOOK_DIRS = ("add-node.d", "remove-node.d")


def _scripts(folder: Path, *, what: str) -> list[Obj]:
    scripts = []
    for path in sorted(folder.iterdir()):
        if path.is_dir():
            continue
        try:
            text = path.read_text()
        except (OSError, UnicodeDecodeError) as exc:
            raise ValueError(f"{what}: cannot read {path}: {exc}") from None
        scripts.append({"name": path.name, "script": text})
    return scripts


def read_context_folder(folder: Path, *, what: str) -> tuple[list[Obj], list[Obj], list[Obj]]:
    """The scripts of a context folder and of its hook folders: spec.context, spec.addNode, spec.removeNode;
    ValueError starting with `what` (the flag or field that named the folder) saying what is wrong."""
    if not folder.exists():
        raise ValueError(f"{what} {folder}: no such folder")
    if not folder.is_dir():
        raise ValueError(f"{what} {folder}: not a folder")
    context = _scripts(folder, what=what)
    hooks = [_scripts(folder / sub, what=f"{what} {sub}") if (folder / sub).is_dir() else [] for sub in HOOK_DIRS]
    if not context and not any(hooks):
        raise ValueError(f"{what} {folder}: holds no scripts")
    return context, hooks[0], hooks[1]


def expand_context_folder(doc: Any, base: Path | None) -> Any:
    """A manifest document with `spec.context: {folder: DIR}` replaced by the folder's scripts (DIR relative
    to `base`, the manifest's folder); any other document as it is. FieldError names the field."""
    if not isinstance(doc, dict) or doc.get("kind") != "ContainerCluster" or not isinstance(doc.get("spec"), dict):
        return doc
    spec = doc["spec"]
    ref = spec.get("context")
    if not isinstance(ref, dict):
        return doc
    if set(ref) != {"folder"} or not isinstance(ref["folder"], str) or not ref["folder"]:
        raise FieldError("spec.context", "must be a list of {name, script}, or {folder: DIR} (a folder next to the manifest)")
    if base is None:
        raise FieldError("spec.context.folder", "a folder is read next to a manifest file; here there is none (stdin or pasted text): "
                                                "list the scripts inline instead")
    folder = Path(ref["folder"])
    folder = folder if folder.is_absolute() else base / folder
    try:
        context, add, remove = read_context_folder(folder, what="folder")
    except ValueError as exc:
        raise FieldError("spec.context.folder", str(exc)) from None
    for field, scripts in (("addNode", add), ("removeNode", remove)):
        if scripts and spec.get(field):
            raise FieldError(f"spec.{field}", f"given both here and as {folder}/{HOOK_DIRS[field == 'removeNode']}: keep one")
    expanded = {**spec, "context": context}
    if add:
        expanded["addNode"] = add
    if remove:
        expanded["removeNode"] = remove
    return {**doc, "spec": expanded}
