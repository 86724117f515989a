"""`dlxc export NAME -o FILE|-`: a container's archive (the backup format) written to a file or stdout.

The kubelet of the container's node writes the archive as a Backup (frozen while it copies);
this command then streams it from the backup dir to FILE, checking its sha256 on the way, and
deletes that Backup. The archive is read from the backup dir, so the command must run where
that dir is mounted (any host of a `dlxc up` cluster; with a shared --backup-dir, any node):
streaming it through the apiserver from the kubelet is not built yet.
"""
from __future__ import annotations

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

__all__ = ["EXPORT_LABEL", "copy_checked", "export"]

EXPORT_LABEL = "dlxc.io/export"
_CHUNK = 1 << 20


def copy_checked(source: Path, out: object, *, checksum: str | None, what: str) -> int:
    """Copy `source` to the binary file `out`, with progress on a terminal; ValueError if the sha256 differs."""
    import contextlib

    sha = hashlib.sha256()
    total = source.stat().st_size
    done = 0
    # Progress on stderr, and only on a terminal: stdout may be the archive itself.
    status: Any = None
    if sys.stderr.isatty():
        from rich.console import Console

        status = Console(stderr=True).status(what)
    with open(source, "rb") as src, status if status is not None else contextlib.nullcontext():
        while chunk := src.read(_CHUNK):
            sha.update(chunk)
            out.write(chunk)  # type: ignore[attr-defined]
            done += len(chunk)
            if status is not None:
                status.update(f"{what}: {console.human_bytes(done)} of {console.human_bytes(total)}")
    if checksum and "sha256:" + sha.hexdigest() != checksum:
        raise ValueError(f"{source} changed since it was written (sha256 differs from {checksum})")
    return done


def export(
    name: str = typer.Argument(..., help="The container to export."),
    output: str = typer.Option(..., "--output", "-o", help="File to write, or - for stdout."),
    timeout: str = typer.Option("10m", "--timeout", help="How long the archive may take."),
) -> None:
    """Write the container's archive (rootfs, spec, index; zstd tar) to FILE or stdout: `dlxc import` reads it."""
    from dlxc.cli.backup import create_backup, wait_backup
    from dlxc.client.waiter import parse_duration

    if output == "-" and sys.stdout.isatty():
        fail("refusing to write an archive to a terminal; give -o FILE or redirect stdout", code=2)
    limit = parse_duration(timeout)

    async def make(client: Client) -> Obj:
        made = await create_backup(client, name, labels={EXPORT_LABEL: "true"})
        try:
            return await wait_backup(client, made["metadata"]["name"], timeout=limit)
        except BaseException:
            await client.delete("backups", made["metadata"]["name"])
            raise

    backup = with_client(make)
    status = backup["status"]
    source = Path(status["location"])
    try:
        if not source.is_file():
            fail(f"the archive of {name} is on node {status['node']} at {source}, which is not readable here: run export "
                 "on a host that mounts that node's --backup-dir")
        if output == "-":
            size = copy_checked(source, sys.stdout.buffer, checksum=status.get("checksum"), what=f"exporting {name}")
            sys.stdout.buffer.flush()
        else:
            target = Path(output)
            partial = target.with_name(f".{target.name}.partial")
            try:
                with open(partial, "wb") as out:
                    size = copy_checked(source, out, checksum=status.get("checksum"), what=f"exporting {name}")
                os.replace(partial, target)
            except BaseException:
                partial.unlink(missing_ok=True)
                raise
    except ValueError as exc:
        fail(str(exc))
    finally:
        async def cleanup(client: Client) -> None:
            await client.delete("backups", backup["metadata"]["name"])

        with_client(cleanup)
    if output != "-":
        console.out(f"container/{name} exported to {output} ({console.human_bytes(size)}, {status.get('consistency')})")
