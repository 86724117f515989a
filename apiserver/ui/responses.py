"""Every dashboard response's security headers, and the server-sent-events response of a page's stream."""
from __future__ import annotations

from collections.abc import AsyncIterator

from starlette.responses import Response, StreamingResponse

from apiserver.ui.live import Stale, sse

__all__ = ["CSP", "secured", "streaming"]


def streaming(stream: AsyncIterator[bytes]) -> Response:
    async def guarded() -> AsyncIterator[bytes]:
        try:
            async for chunk in stream:
                yield chunk
        except Stale:
            yield sse("reload", "")

    return secured(StreamingResponse(guarded(), media_type="text/event-stream", headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}))


CSP = ("default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
       "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'")


def secured(response: Response) -> Response:
    response.headers["Content-Security-Policy"] = CSP
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "same-origin"
    response.headers.setdefault("Cache-Control", "no-store")
    return response
