"""`dlxc edit KIND/NAME`: the object's YAML in $EDITOR, applied on save; a refused edit keeps the file."""
from __future__ import annotations

import os
import shlex
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import typer

from dlxc.cli import console
from dlxc.cli.objref import parse_ref
from schemas.wire import LAST_APPLIED_ANNOTATION

__all__ = ["edit", "editable"]

_HEADER = (
    "# Edit the object below and save to apply it; an unchanged file changes nothing.\n"
    "# Only metadata.labels, metadata.annotations and spec are yours to change.\n"
)


def editable(obj: dict[str, Any]) -> dict[str, Any]:
    """What the user edits: the manifest-owned fields (status, server bookkeeping and apply's record
    of the last manifest are left out; an edit is a change by hand, which the next apply keeps)."""
    meta = obj.get("metadata") or {}
    spec = {k: v for k, v in (obj.get("spec") or {}).items() if k != "nodeName"}
    annotations = {k: v for k, v in (meta.get("annotations") or {}).items() if k != LAST_APPLIED_ANNOTATION}
    return {
        "apiVersion": obj.get("apiVersion", "dlxc.io/v1"),
        "kind": obj.get("kind"),
        "metadata": {"name": meta.get("name"), "labels": meta.get("labels") or {}, "annotations": annotations},
        "spec": spec,
    }


def _run_editor(path: Path) -> None:
    command = os.environ.get("DLXC_EDITOR") or os.environ.get("EDITOR") or "vi"
    try:
        done = subprocess.run([*shlex.split(command), str(path)], check=False)
    except OSError as exc:
        console.error(f"cannot run the editor {command!r}: {exc}; set $EDITOR")
        raise typer.Exit(1) from None
    if done.returncode != 0:
        console.error(f"the editor {command!r} exited with {done.returncode}; nothing was changed (the file is {path})")
        raise typer.Exit(1)


def _keep(path: Path, message: str) -> None:
    console.error(message)
    console.error(f"the edited file is kept at {path}")
    raise typer.Exit(1)


def edit(args: list[str] = typer.Argument(..., help="KIND/NAME (or KIND NAME).", metavar="KIND/NAME")) -> None:
    """Open the object's YAML in $EDITOR (or $DLXC_EDITOR) and replace it with what is saved."""
    import yaml

    ref, rest = parse_ref(args)
    if rest:
        console.error(f"unexpected argument {rest[0]!r}")
        raise typer.Exit(1)

    async def go(client) -> None:  # type: ignore[no-untyped-def]
        from dlxc.client.errors import ApiError

        live = await client.get(ref.plural, ref.name)
        original = editable(live)
        text = _HEADER + yaml.safe_dump(original, sort_keys=False)
        fd, name = tempfile.mkstemp(prefix=f"dlxc-edit-{ref.kind.name.lower()}-{ref.name}-", suffix=".yaml")
        path = Path(name)
        with os.fdopen(fd, "w") as handle:
            handle.write(text)
        _run_editor(path)
        edited_text = path.read_text()
        try:
            edited = yaml.safe_load(edited_text)
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark is not None else ""
            _keep(path, f"{path}: {ref}: not valid YAML: {where}{getattr(exc, 'problem', None) or exc}")
        if edited_text == text or edited == original:
            path.unlink()
            console.out("Edit cancelled, no changes made.")
            return
        if not isinstance(edited, dict):
            _keep(path, f"{path}: {ref}: the file must hold one object (apiVersion, kind, metadata, spec)")
        meta = edited.get("metadata") if isinstance(edited.get("metadata"), dict) else {}
        for field, was, now in (("kind", original["kind"], edited.get("kind")), ("metadata.name", ref.name, meta.get("name"))):
            if now != was:
                _keep(path, f"{path}: {ref}: {field} cannot be changed (it is {was!r}, the file says {now!r})")
        from dlxc.apply.applier import image_change, rebuild_warning

        rebuild = image_change({**edited, "kind": original["kind"]}, live)
        if rebuild:
            console.warn(rebuild_warning(str(ref), rebuild))
        record = (live["metadata"].get("annotations") or {}).get(LAST_APPLIED_ANNOTATION)
        if record is not None and isinstance(meta.get("annotations") or {}, dict):
            meta = {**meta, "annotations": {**(meta.get("annotations") or {}), LAST_APPLIED_ANNOTATION: record}}
        update = {
            **edited,
            "metadata": {
                **meta,
                "resourceVersion": live["metadata"]["resourceVersion"],
                "finalizers": live["metadata"].get("finalizers", []),
            },
        }
        if (live.get("spec") or {}).get("nodeName"):
            update["spec"] = {**(edited.get("spec") or {}), "nodeName": live["spec"]["nodeName"]}
        try:
            await client.replace(ref.plural, update)
        except ApiError as exc:
            fields = [f"{d.get('field')}: {d.get('message')}" for d in exc.details if d.get("field")]
            _keep(path, f"{path}: {ref}: " + "; ".join([exc.message, *[f for f in fields if f not in exc.message]]))
        path.unlink()
        console.out(f"{ref} edited")

    from dlxc.cli.common import with_client

    with_client(go)
