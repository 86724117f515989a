"""Reading manifests from files, folders and stdin, safely, with errors that name file, document and field."""
from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from yaml.events import AliasEvent, CollectionStartEvent

from dlxc.apply.contextfolder import expand_context_folder
from schemas.base import Model
from schemas.manifest import FieldError, ManifestError, parse_object

__all__ = ["LoadError", "Manifest", "load_manifests", "load_text", "safe_load_all", "source_files", "yaml_problem"]

MAX_DEPTH = 64
SUFFIXES = (".yaml", ".yml", ".json")


class _StrictLoader(yaml.SafeLoader):
    """SafeLoader that refuses anchors and aliases (no "billion laughs") and deep nesting."""

    def compose_node(self, parent: Any, index: Any) -> Any:  # type: ignore[override]
        event = self.peek_event()
        if isinstance(event, AliasEvent) or getattr(event, "anchor", None):
            raise yaml.YAMLError(f"anchors and aliases are not allowed (line {event.start_mark.line + 1})")
        if isinstance(event, CollectionStartEvent):
            self._depth = getattr(self, "_depth", 0) + 1
            if self._depth > MAX_DEPTH:
                raise yaml.YAMLError(f"nesting deeper than {MAX_DEPTH} levels (line {event.start_mark.line + 1})")
            try:
                return super().compose_node(parent, index)
            finally:
                self._depth -= 1
        return super().compose_node(parent, index)


def yaml_problem(exc: yaml.YAMLError) -> str:
    """One line: where and what, e.g. "line 2, column 1: expected ',' or ']' (while parsing a flow sequence at line 1, column 7)"."""
    if not isinstance(exc, yaml.MarkedYAMLError) or exc.problem_mark is None:
        return " ".join(str(exc).split())
    mark = exc.problem_mark
    text = f"line {mark.line + 1}, column {mark.column + 1}: {exc.problem}"
    if exc.context:
        where = f" at line {exc.context_mark.line + 1}, column {exc.context_mark.column + 1}" if exc.context_mark else ""
        text += f" ({exc.context}{where})"
    return text


def safe_load_all(text: str) -> list[Any]:
    return list(yaml.load_all(text, Loader=_StrictLoader))  # noqa: S506 - a SafeLoader subclass


@dataclass(frozen=True)
class Manifest:
    """One object read from a manifest and where it came from."""

    source: str
    index: int  # 1-based document number within the source
    obj: Model

    @property
    def kind(self) -> str:
        return self.obj.kind  # type: ignore[attr-defined]

    @property
    def name(self) -> str:
        return self.obj.metadata.name  # type: ignore[attr-defined]

    @property
    def ref(self) -> str:
        return f"{self.kind.lower()}/{self.name}"


@dataclass(frozen=True)
class LoadError:
    source: str
    index: int | None
    kind: str | None
    name: str | None
    error: FieldError

    def __str__(self) -> str:
        where = self.source
        if self.index is not None:
            where += f" (document {self.index})"
        if self.kind or self.name:
            where += f" {(self.kind or 'object').lower()}/{self.name or '?'}"
        field = f" {self.error.field}:" if self.error.field else ""
        return f"{where}:{field} {self.error.message}"


def _files(path: Path, *, recursive: bool) -> list[Path]:
    if path.is_dir():
        pattern = "**/*" if recursive else "*"
        return sorted(p for p in path.glob(pattern) if p.is_file() and p.suffix in SUFFIXES)
    return [path]


def source_files(paths: list[str], *, recursive: bool = False) -> list[str]:
    """The sources load_manifests reads for these paths (files, and `<stdin>` for '-'), named as it names them;
    --prune uses it to tell a file this run did not look at from one that is gone."""
    found: list[str] = []
    for raw in paths:
        if raw == "-":
            found.append("<stdin>")
        elif Path(raw).exists():
            found += [str(f) for f in _files(Path(raw), recursive=recursive)]
    return found


def load_manifests(paths: list[str], *, recursive: bool = False) -> tuple[list[Manifest], list[LoadError]]:
    """Every object in the given files, folders or '-' (stdin); every error, so nothing is half-read."""
    manifests: list[Manifest] = []
    errors: list[LoadError] = []
    seen: dict[tuple[str, str], str] = {}
    for raw in paths:
        sources: list[tuple[str, str, Path | None]] = []
        if raw == "-":
            sources.append(("<stdin>", sys.stdin.read(), None))
        else:
            path = Path(raw)
            if not path.exists():
                errors.append(LoadError(raw, None, None, None, FieldError("", "no such file or directory")))
                continue
            for file in _files(path, recursive=recursive):
                try:
                    sources.append((str(file), file.read_text(), file.parent))
                except (OSError, UnicodeDecodeError) as exc:
                    errors.append(LoadError(str(file), None, None, None, FieldError("", f"cannot read: {exc}")))
        for source, text, base in sources:
            found, failed = load_text(source, text, seen=seen, base=base)
            manifests += found
            errors += failed
    return manifests, errors


def load_text(
    source: str, text: str, *, seen: dict[tuple[str, str], str] | None = None, base: Path | None = None
) -> tuple[list[Manifest], list[LoadError]]:
    """Every object in one YAML text named `source` (a file, or what a user pasted into the dashboard);
    `seen` carries names across texts, so a name defined twice is an error wherever the two are;
    `base` is the file's folder, where a ContainerCluster's `spec.context: {folder: DIR}` is read
    (dlxc.apply.contextfolder; without one, such a document is an error)."""
    seen = {} if seen is None else seen
    manifests: list[Manifest] = []
    errors: list[LoadError] = []
    try:
        docs = safe_load_all(text)
    except yaml.YAMLError as exc:
        return [], [LoadError(source, None, None, None, FieldError("", f"not valid YAML: {yaml_problem(exc)}"))]
    for index, doc in enumerate(docs, start=1):
        if doc is None:
            continue
        try:
            doc = expand_context_folder(doc, base)
        except FieldError as exc:
            name = ((doc.get("metadata") or {}).get("name") if isinstance(doc.get("metadata"), dict) else None)
            errors.append(LoadError(source, index, doc.get("kind"), name, exc))
            continue
        try:
            obj = parse_object(doc)
        except ManifestError as exc:
            errors += [LoadError(source, index, exc.kind, exc.name, e) for e in exc.errors]
            continue
        manifest = Manifest(source, index, obj)
        key = (manifest.kind, manifest.name)
        if key in seen:
            errors.append(
                LoadError(source, index, manifest.kind, manifest.name, FieldError("metadata.name", f"also defined in {seen[key]}"))
            )
            continue
        seen[key] = f"{source} (document {index})"
        manifests.append(manifest)
    return manifests, errors
