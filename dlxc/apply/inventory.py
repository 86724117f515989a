"""The applyset inventory: a label on every member plus a record file, so --prune deletes only what an earlier apply of the same set created.

Why both: the label `dlxc.io/applyset=<id>` lets anyone see (and select) the members on
the server; the record (one JSON file per set: kind, name, uid and source file of every
member) is the proof that *this* set created the object. An object is pruned only when it
carries the label, is in the record, still has the recorded uid (it was not deleted and
re-created by someone else), is no longer in the folder, and its source file was read in
this run or no longer exists (a file this run did not look at, such as a subfolder without
-R, is not evidence of removal). Anything else is never deleted, and the whole prune is
skipped (prune_skip_reason) when a path is missing, a file could not be read, an apply
failed, or nothing was read at all. Sources are recorded as resolved absolute paths, so
`sync gitops` and `sync /abs/gitops` agree. dlxc has no ConfigMap-like kind to hold the
record on the server, so it lives in a file (default ~/.local/state/dlxc/applysets).
"""
from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

from schemas.base import Obj
from schemas.wire import APPLYSET_LABEL

__all__ = [
    "Inventory",
    "Member",
    "applyset_id",
    "chosen_applyset",
    "default_inventory_dir",
    "prune_candidates",
    "prune_skip_reason",
    "source_key",
    "validate_applyset",
]

_ID = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?\Z")


def validate_applyset(value: str) -> str:
    if len(value) > 63 or not _ID.match(value):
        raise ValueError(f"applyset {value!r} must be a DNS-1123 label (lowercase letters, digits, '-'; at most 63)")
    return value


def applyset_id(paths: list[str]) -> str:
    """A stable id of a set of manifest paths: their folder's name and a hash of the resolved paths."""
    resolved = sorted(str(Path(p).resolve()) for p in paths)
    digest = hashlib.sha256("\n".join(resolved).encode()).hexdigest()[:10]
    stem = re.sub(r"[^a-z0-9-]+", "-", Path(resolved[0]).name.lower()).strip("-")[:40] if resolved else ""
    return f"{stem}-{digest}" if stem else f"set-{digest}"


def chosen_applyset(paths: list[str], name: str | None, *, prune: bool) -> str | None:
    """The applyset of an apply (or its diff) of `paths`: `name`, checked; else with `prune` the id
    derived from the paths (kubectl's way: a set is labelled and recorded only when asked, so plain
    applies of overlapping paths never fight over ownership); else none. ValueError says what is wrong."""
    if name:
        return validate_applyset(name)
    if not prune:
        return None
    if "-" in paths:
        raise ValueError("--prune with stdin needs --applyset NAME")
    return applyset_id(paths)


def default_inventory_dir() -> Path:
    """$DLXC_INVENTORY_DIR, else $XDG_STATE_HOME/dlxc/applysets, else ~/.local/state/dlxc/applysets."""
    explicit = os.environ.get("DLXC_INVENTORY_DIR")
    if explicit:
        return Path(explicit)
    state = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(state) / "dlxc" / "applysets"


def source_key(source: str) -> str:
    """A manifest source as the record keeps it: a resolved absolute path; `<stdin>` as it is.

    An old record's relative path resolves against the current folder, the best guess there is.
    """
    return source if source.startswith("<") else str(Path(source).resolve())


@dataclass(frozen=True)
class Member:
    kind: str
    name: str
    uid: str
    source: str

    @property
    def key(self) -> tuple[str, str]:
        return (self.kind, self.name)


@dataclass
class Inventory:
    """The record of one applyset's members, read from and written to `<dir>/<id>.json`."""

    id: str
    members: dict[tuple[str, str], Member] = field(default_factory=dict)

    @staticmethod
    def path_for(directory: Path, set_id: str) -> Path:
        return directory / f"{set_id}.json"

    @classmethod
    def load(cls, directory: Path, set_id: str) -> Inventory:
        path = cls.path_for(directory, set_id)
        if not path.exists():
            return cls(set_id)
        data = json.loads(path.read_text())
        members = [Member(**m) for m in data.get("members", [])]
        return cls(set_id, {m.key: m for m in members})

    def save(self, directory: Path) -> Path:
        directory.mkdir(parents=True, exist_ok=True)
        path = self.path_for(directory, self.id)
        members = sorted(self.members.values(), key=lambda m: m.key)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps({"applyset": self.id, "members": [asdict(m) for m in members]}, indent=2) + "\n")
        tmp.replace(path)  # atomic: a crash leaves the old record, never half of one
        return path


def prune_candidates(
    inventory: Inventory,
    live: list[tuple[str, Obj]],
    *,
    keep: set[tuple[str, str]],
    protected_sources: set[str],
) -> list[tuple[str, Obj]]:
    """The live (kind, object) pairs that --prune may delete; pure, so every rule is tested by a table."""
    doomed = []
    for kind, obj in live:
        meta = obj.get("metadata") or {}
        key = (kind, meta.get("name", ""))
        member = inventory.members.get(key)
        if key in keep or member is None:
            continue
        if (meta.get("labels") or {}).get(APPLYSET_LABEL) != inventory.id:
            continue  # someone took it out of the set: not ours to delete any more
        if meta.get("uid") != member.uid:
            continue  # deleted and re-created by someone else since we applied it
        if member.source in protected_sources:
            continue  # its file is broken right now: we cannot tell whether it was removed
        doomed.append((kind, obj))
    return doomed


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def prune_skip_reason(
    *,
    missing_roots: Sequence[str] = (),
    unreadable: Sequence[str] = (),
    failed: Sequence[str] = (),
    loaded: int,
    recorded: int,
    allow_empty: bool = False,
) -> str:
    """Why --prune must delete nothing this time, or "" when it may.

    A missing folder or a broken file reads as "these objects are gone" although nobody removed
    them (an unmounted volume; an object moved to a file with a typo), and a failed apply leaves
    the old version as the only one (a rename the server refused): as kubectl and Argo CD do,
    any of these skips the whole prune rather than guess which members are safe.
    """
    if missing_roots:
        return f"prune skipped: {', '.join(missing_roots)} {'is' if len(missing_roots) == 1 else 'are'} missing"
    if unreadable:
        return f"prune skipped: {_count(len(unreadable), 'file')} could not be read: {', '.join(unreadable)}"
    if failed:
        return f"prune skipped: {len(failed)} object(s) failed to apply: {', '.join(failed)}"
    if loaded == 0 and recorded and not allow_empty:
        return (
            f"prune skipped: no objects were read, and pruning would delete all {recorded} member(s) of the set; "
            "sync with --allow-empty-prune to do that"
        )
    return ""
