"""Image garbage collection: removes cached images that no container has used for a while."""
from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Any

from kubelet import lxcconfig

__all__ = ["ImageGC"]

log = logging.getLogger("dlxc.kubelet")


class ImageGC:
    def __init__(self, runtime: Any, images: Any, *, unused_for: float) -> None:
        self.runtime = runtime
        self.images = images  # kubelet.images.ImageCache
        self.unused_for = unused_for

    def images_in_use(self) -> set[Path]:
        """Image dirs that a container under our lxcpath has as its overlay lower dir (read from the
        config files alone: a full inspect asked liblxc and /proc about every container each minute)."""
        used = set()
        for name in self.runtime.names():
            items = self.runtime.config_items(name)
            rootfs = dict(items).get("lxc.rootfs.path", "") if items else ""
            parts = lxcconfig.split_overlay_rootfs(rootfs) if rootfs else None
            if parts:
                used.add(Path(parts[0]))
        return used

    async def run(self) -> None:
        while True:
            await asyncio.sleep(max(1.0, min(60.0, self.unused_for / 2)))
            try:
                in_use = await asyncio.to_thread(self.images_in_use)
                removed = await asyncio.to_thread(self.images.collect_garbage, in_use, unused_for=self.unused_for)
                for ref in removed:
                    log.info("image %s removed: unused for %gs", ref, self.unused_for)
            except Exception:
                log.exception("image garbage collection failed")
