"""The kubelet renews its stream serving certificate before it expires: past 2/3 of its lifetime, checked at
start and then daily, with a new key and a signing request to the apiserver (`POST nodecertificates`,
which signs for this node's own name only); the stream server serves the new one on the next connection.

The key is made here and never leaves the host; the files are replaced whole (a reader sees the old
pair or the new one). A failed renewal is logged and tried again at the next check, an hour later
once it is due, while the old certificate is still valid for a third of its lifetime.
"""
from __future__ import annotations

import asyncio
import datetime as dt
import logging
import os
from collections.abc import Callable
from pathlib import Path

from dlxc.client.api import PREFIX, Client
from dlxc.client.certs import lifetime, node_serving_request
from dlxc.client.errors import ApiError

__all__ = ["CertRenewal"]

log = logging.getLogger("dlxc.kubelet.certs")

RETRY_AFTER = 3600.0  # seconds before trying again a renewal that is due and failed


def _staged(path: Path, data: bytes, *, mode: int) -> Path:
    tmp = path.with_name(path.name + ".new")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
    return tmp


class CertRenewal:
    def __init__(
        self, client: Client, node: str, *, cert_file: Path, key_file: Path, interval: float = 86400.0,
        renewed: Callable[[], None] = lambda: None, clock: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC),
    ) -> None:
        self.client = client
        self.node = node
        self.cert_file = cert_file
        self.key_file = key_file
        self.interval = interval
        self.renewed = renewed  # the stream server loads the new pair
        self.clock = clock

    async def check(self) -> bool:
        """Renew when due; whether it did. ApiError when the apiserver refused or was not reached."""
        current = lifetime(self.cert_file.read_bytes())
        if not current.due(self.clock()):
            return False
        key, csr = node_serving_request(self.node)
        answer = await self.client.request("POST", f"{PREFIX}/nodecertificates", body={"nodeName": self.node, "csr": csr})
        certificate = answer["certificate"].encode()
        # Both written in full before either is swapped in: the window with a mismatched pair is two renames.
        staged_key, staged_cert = _staged(self.key_file, key, mode=0o600), _staged(self.cert_file, certificate, mode=0o644)
        staged_key.replace(self.key_file)
        staged_cert.replace(self.cert_file)
        new = lifetime(certificate)
        log.info("renewed the serving certificate of node %s (was valid until %s; now until %s, renewed again after %s)",
                 self.node, current.not_after.isoformat(), new.not_after.isoformat(), new.renew_at.isoformat())
        self.renewed()
        return True

    async def run(self) -> None:
        while True:
            delay = self.interval
            try:
                await self.check()
            except ApiError as exc:
                log.warning("cannot renew the serving certificate of node %s: %s; trying again later", self.node, exc.message)
                delay = min(self.interval, RETRY_AFTER)
            except (OSError, ValueError) as exc:
                log.warning("cannot read or write the serving certificate %s: %s", self.cert_file, exc)
            await asyncio.sleep(delay)
