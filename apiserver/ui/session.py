"""Dashboard sessions: the API token in an HttpOnly cookie, a CSRF token derived from it, one-time login links."""
from __future__ import annotations

import hashlib
import hmac
import inspect
import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from apiserver.auth import Identity, authorize
from dlxc.client.errors import Forbidden

__all__ = ["COOKIE", "CSRF_HEADER", "Authenticate", "LoginLinks", "Session", "csrf_token", "identify"]

COOKIE = "dlxc_session"
CSRF_HEADER = "x-csrf-token"
# The apiserver's own token check, given an Authorization header: whatever stores the tokens
# (a file today, an API resource tomorrow), the dashboard accepts exactly the tokens the API does.
Authenticate = Callable[[str | None], "Identity | Awaitable[Identity]"]


def csrf_token(token: str) -> str:
    """Derived from the session's token, so every apiserver replica agrees without shared state,
    and a page of another origin cannot know it (it cannot read the HttpOnly cookie)."""
    return hmac.new(token.encode(), b"dlxc-dashboard-csrf", hashlib.sha256).hexdigest()


async def identify(authenticate: Authenticate, token: str) -> Identity:
    """The identity of a token, by the API's own check (raises Unauthorized)."""
    got = authenticate(f"Bearer {token}")
    return await got if inspect.isawaitable(got) else got


@dataclass(frozen=True)
class Session:
    token: str
    identity: Identity

    @property
    def csrf(self) -> str:
        return csrf_token(self.token)

    def may(self, verb: str, plural: str) -> bool:
        """Whether the role allows the write at all: the pages show only the buttons that would work."""
        try:
            authorize(self.identity, verb=verb, plural=plural, name=None, subresource=None, bound_node=None)
        except Forbidden:
            return False
        return True


class LoginLinks:
    """One-time codes for `dlxc dashboard`: a code stands for the token that asked for it, once, for a
    short while. They live in this apiserver's memory, so the link names the apiserver that made it."""

    def __init__(self, *, ttl: float = 120.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.ttl = ttl
        self.clock = clock
        self._codes: dict[str, tuple[str, float]] = {}

    def issue(self, token: str) -> str:
        now = self.clock()
        self._codes = {c: (t, exp) for c, (t, exp) in self._codes.items() if exp > now}
        code = secrets.token_urlsafe(24)
        self._codes[code] = (token, now + self.ttl)
        return code

    def redeem(self, code: str) -> str | None:
        """The token behind the code, once; None when unknown, used or expired."""
        token, expires = self._codes.pop(code, ("", 0.0))
        return token if token and expires > self.clock() else None
