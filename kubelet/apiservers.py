"""Keeping the kubelet's list of apiservers current, so the loss of the one it joined through does not cut it off.

The list it learns is also kept in `<lxcpath>/.dlxc-apiservers.json` (beside the kubelet's other
state there), so a kubelet restarted after that apiserver is gone still knows where the others are.
"""
from __future__ import annotations

import asyncio
import json
import logging
from pathlib import Path

from dlxc.client.api import Client
from dlxc.client.errors import ApiError, NotFound
from kubelet.durable import write_durably

__all__ = ["KNOWN_FILE", "KnownServers", "refresh_apiservers"]

log = logging.getLogger("dlxc.kubelet.apiservers")

KNOWN_FILE = ".dlxc-apiservers.json"


class KnownServers:
    """The apiservers a kubelet learnt, in a file: `{"configured": [...], "servers": [...]}`.

    The configured ones (the kubelet's client config, an admin's choice) always come first and are
    never dropped, whatever was learnt. A list learnt under other configured servers is ignored:
    the kubelet was pointed elsewhere (another cluster, perhaps), and the next refresh learns anew.
    """

    def __init__(self, path: Path, configured: list[str]) -> None:
        self.path = path
        self.configured = list(configured)
        self.saved: list[str] | None = None  # what the file holds, once read or written

    def load(self) -> list[str]:
        """The servers to start with: the configured ones, then those learnt before that they lack."""
        try:
            data = json.loads(self.path.read_text())
        except FileNotFoundError:
            return list(self.configured)
        except (OSError, ValueError) as exc:
            log.warning("ignoring %s, the apiservers learnt before: %s", self.path, exc)
            return list(self.configured)
        servers = data.get("servers") if isinstance(data, dict) else None
        if not isinstance(servers, list) or not all(isinstance(s, str) for s in servers):
            log.warning("ignoring %s, the apiservers learnt before: no list of URLs under \"servers\"", self.path)
            return list(self.configured)
        if data.get("configured") != self.configured:
            log.info("ignoring %s: learnt while the configured apiservers were %s", self.path, data.get("configured"))
            return list(self.configured)
        self.saved = servers
        return list(dict.fromkeys([*self.configured, *servers]))

    def save(self, servers: list[str]) -> bool:
        """Keep `servers` (write a new file, then rename it over the old one) unless the file has them already."""
        if servers == self.saved:
            return False
        self.path.parent.mkdir(parents=True, exist_ok=True)
        write_durably(self.path, json.dumps({"configured": self.configured, "servers": servers}))
        self.saved = list(servers)
        return True


async def refresh_apiservers(client: Client, *, interval: float, known: KnownServers | None = None) -> None:
    """Read the live apiservers (`GET /apiservers`) now and every `interval` seconds; the client fails
    over across them. A failed read keeps the list it has (the next one tries again). Each new list
    is kept in `known` too."""
    current = list(client.servers)
    while True:
        try:
            servers = await client.refresh_servers()
            if servers != current:
                log.info("apiservers: %s", ", ".join(servers))
                current = servers
            if known is not None:
                try:
                    await asyncio.to_thread(known.save, servers)
                except OSError as exc:
                    log.warning("cannot keep the list of apiservers in %s: %s", known.path, exc)
        except NotFound:
            return  # an apiserver too old to publish the list: the configured one(s) it is
        except ApiError as exc:
            log.warning("cannot read the list of apiservers: %s", exc.message)
        await asyncio.sleep(interval)
