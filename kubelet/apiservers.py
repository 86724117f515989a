"""Keeping the kubelet's list of apiservers current, so the loss of the one it joined through does not cut it off."""
from __future__ import annotations

import asyncio
import logging

from dlxc.client.api import Client
from dlxc.client.errors import ApiError, NotFound

__all__ = ["refresh_apiservers"]

log = logging.getLogger("dlxc.kubelet.apiservers")


async def refresh_apiservers(client: Client, *, interval: float) -> None:
    """Read the live apiservers (`GET /apiservers`) now and every `interval` seconds; the client fails
    over across them. A failed read keeps the list it has (the next one tries again)."""
    known = list(client.servers)
    while True:
        try:
            servers = await client.refresh_servers()
            if servers != known:
                log.info("apiservers: %s", ", ".join(servers))
                known = servers
        except NotFound:
            return  # an apiserver too old to publish the list: the configured one(s) it is
        except ApiError as exc:
            log.warning("cannot read the list of apiservers: %s", exc.message)
        await asyncio.sleep(interval)
