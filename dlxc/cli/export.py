"""`dlxc export NAME -o FILE|-`: a container's archive (the backup format) written to a file or stdout.

The kubelet of the container's node writes the archive as a Backup (frozen while it copies);
this command then streams it through the apiserver (`GET backups/NAME/archive`, proxied over
mutual TLS to that kubelet's stream server) to FILE or stdout, checking its sha256 on the way,
and deletes that Backup. Progress shows on stderr when it is a terminal.
"""
from __future__ import annotations

import asyncio
import hashlib
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from dlxc.cli import console
from dlxc.cli.common import fail, with_client

if TYPE_CHECKING:
    from dlxc.client.api import Client
    from schemas.base import Obj

__all__ = ["EXPORT_LABEL", "export"]

EXPORT_LABEL = "dlxc.io/export"
_CHUNK = 1 << 20


def export(
    name: str = typer.Argument(..., help="The container to export."),
    output: str = typer.Option(..., "--output", "-o", help="File to write, or - for stdout."),
    timeout: str = typer.Option("10m", "--timeout", help="How long the archive may take."),
) -> None:
    """Write the container's archive (rootfs, spec, index; zstd tar) to FILE or stdout: `dlxc import` reads it."""
    from dlxc.cli.backup import _seconds, create_backup, wait_backup

    if output == "-" and sys.stdout.isatty():
        fail("refusing to write an archive to a terminal; give -o FILE or redirect stdout", code=2)
    limit = _seconds(timeout)
    target = None if output == "-" else Path(output)
    partial = None if target is None else target.with_name(f".{target.name}.partial")

    async def go(client: Client) -> tuple[Obj, int]:
        from dlxc.client.errors import TemporaryError
        from dlxc.client.streams import read_archive

        made = await create_backup(client, name, labels={EXPORT_LABEL: "true"})
        try:
            backup = await wait_backup(client, made["metadata"]["name"], timeout=limit)
            try:
                out = sys.stdout.buffer if partial is None else open(partial, "wb")  # noqa: SIM115 - closed below
            except OSError as exc:
                return fail(f"cannot write the archive to {output}: {exc.strerror or exc}")
            sha = hashlib.sha256()
            size = 0
            try:
                with _progress(f"exporting {name}") as show:
                    for attempt in range(30):
                        try:
                            async for chunk in read_archive(client, backup["metadata"]["name"]):
                                sha.update(chunk)
                                out.write(chunk)
                                size += len(chunk)
                                show(f"{console.human_bytes(size)} of {console.human_bytes(backup['status'].get('size'))}")
                            break
                        except TemporaryError:
                            # A node that just started may not publish its stream endpoint yet; nothing was written.
                            if size or attempt == 29:
                                raise
                            await asyncio.sleep(1.0)
                out.flush()
            except OSError as exc:  # a full disk, a closed pipe: said, not a traceback
                return fail(f"cannot write the archive to {output}: {exc.strerror or exc}")
            finally:
                if partial is not None:
                    out.close()
            if "sha256:" + sha.hexdigest() != backup["status"].get("checksum"):
                fail(f"the archive of {name} arrived damaged (sha256 differs from {backup['status'].get('checksum')}); try again")
            return backup, size
        finally:
            await client.delete("backups", made["metadata"]["name"])

    try:
        backup, size = with_client(go, streaming=True)
    except BaseException:
        if partial is not None:
            partial.unlink(missing_ok=True)
        raise
    if target is not None and partial is not None:
        os.replace(partial, target)
        console.out(f"container/{name} exported to {output} ({console.human_bytes(size)}, {backup['status'].get('consistency')})")


class _progress:  # noqa: N801 - used like a function in a with statement
    """Bytes so far on stderr, only on a terminal: stdout may be the archive itself."""

    def __init__(self, what: str) -> None:
        self.what = what
        self.status: Any = None

    def __enter__(self) -> Any:
        if sys.stderr.isatty():
            from rich.console import Console

            self.status = Console(stderr=True).status(self.what)
            self.status.__enter__()
        return self.update

    def update(self, text: str) -> None:
        if self.status is not None:
            self.status.update(f"{self.what}: {text}")

    def __exit__(self, *exc: object) -> None:
        if self.status is not None:
            self.status.__exit__(None, None, None)
