"""Backup archives over the kubelet's stream server: read one out (`dlxc export`), write one in (`dlxc import`).

Only the apiserver reaches these (mutual TLS, checked like exec); it proxies the user's bytes.
GET /backups/NAME streams NAME.tar.zst from this kubelet's --backup-dir as it is on disk. PUT
/backups/NAME writes the request body to NAME.tar.zst.partial, reads it back whole with
`verify_archive` (truncated or corrupt: 422, the file removed) and only then renames it into
place, answering its checksum, size, spec and index as JSON.
"""
from __future__ import annotations

import asyncio
import hashlib
import json
import os
from typing import Any

from aiohttp import web

from kubelet.archive import ArchiveError, verify_archive
from kubelet.durable import fsync_dir
from schemas.base import DNS_LABEL

__all__ = ["add_archive_routes"]

_CHUNK = 1 << 20


def _name(request: web.Request) -> str:
    name = request.match_info["name"]
    if len(name) > 63 or not DNS_LABEL.match(name):
        raise web.HTTPBadRequest(text=f"{name!r} is not a backup name\n")
    return name


def add_archive_routes(app: web.Application, server: Any) -> None:
    """`server` is the kubelet's StreamServer (its settings and its apiserver-only check)."""

    async def get_archive(request: web.Request) -> web.StreamResponse:
        server._authorized(request)  # noqa: SLF001 - the stream server's own check
        name = _name(request)
        path = server.settings.backups / f"{name}.tar.zst"
        if not path.is_file():
            raise web.HTTPNotFound(text=f"backup {name} has no archive on node {server.settings.node_name}\n")
        response = web.StreamResponse(headers={"Content-Type": "application/octet-stream", "Content-Length": str(path.stat().st_size)})
        await response.prepare(request)
        with open(path, "rb") as handle:
            while chunk := await asyncio.to_thread(handle.read, _CHUNK):
                await response.write(chunk)
        await response.write_eof()
        return response

    async def put_archive(request: web.Request) -> web.Response:
        server._authorized(request)  # noqa: SLF001
        name = _name(request)
        directory = server.settings.backups
        directory.mkdir(parents=True, exist_ok=True)
        final, partial = directory / f"{name}.tar.zst", directory / f"{name}.tar.zst.partial"
        if final.exists():
            raise web.HTTPConflict(text=f"backup {name} already has an archive on node {server.settings.node_name}\n")
        sha = hashlib.sha256()
        size = 0
        try:
            with open(partial, "wb") as out:
                async for chunk in request.content.iter_chunked(_CHUNK):
                    sha.update(chunk)
                    size += len(chunk)
                    await asyncio.to_thread(out.write, chunk)
                out.flush()
                os.fsync(out.fileno())

            def check() -> Any:
                with open(partial, "rb") as src:
                    return verify_archive(src, what=f"the archive sent for backup {name}")

            checked = await asyncio.to_thread(check)
        except ArchiveError as exc:
            partial.unlink(missing_ok=True)
            raise web.HTTPUnprocessableEntity(text=f"{exc}\n") from None
        except BaseException:
            partial.unlink(missing_ok=True)
            raise
        os.replace(partial, final)
        await asyncio.to_thread(fsync_dir, directory)  # on disk before the import reports the backup Completed
        body = {"checksum": checked.checksum, "size": size, "location": str(final), "spec": checked.spec, "index": checked.index}
        return web.Response(text=json.dumps(body), content_type="application/json")

    app.router.add_get("/backups/{name}", get_archive)
    app.router.add_put("/backups/{name}", put_archive)
