"""Running the apiserver under uvicorn."""
from __future__ import annotations

import uvicorn

from apiserver.app import ApiServerSettings, create_app

__all__ = ["serve"]


def serve(settings: ApiServerSettings, *, host: str, port: int, log_level: str = "warning") -> None:
    config = uvicorn.Config(
        create_app(settings), host=host, port=port, log_level=log_level, access_log=False, lifespan="on"
    )
    uvicorn.Server(config).run()
