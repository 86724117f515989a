"""`dlxc schema [-o FILE]`: the JSON Schema of manifests, for editors (yaml-language-server)."""
from __future__ import annotations

import json
from pathlib import Path

import typer

from dlxc.apply.schemadoc import manifest_schema
from dlxc.cli import console
from dlxc.cli.common import fail

__all__ = ["schema"]


def schema(output: Path = typer.Option(None, "--output", "-o", help="Write to this file instead of stdout.")) -> None:
    """Write the JSON Schema of every manifest form (full kinds and the flat Container).

    Use it in an editor with a first line `# yaml-language-server: $schema=PATH` in a manifest.
    """
    text = json.dumps(manifest_schema(), indent=2) + "\n"
    if output is None:
        console.raw(text)
        return
    try:
        output.write_text(text)
    except OSError as exc:
        fail(f"cannot write {output}: {exc.strerror or exc}")
    console.out(f"wrote {output}; point yaml-language-server at it with `# yaml-language-server: $schema={output}`")
