"""Bearer tokens, stored hashed, and what each role may do."""
from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from pathlib import Path

from dlxc.errors import Forbidden, Unauthorized

__all__ = ["Identity", "TokenFile", "authorize", "hash_token", "new_token"]


@dataclass(frozen=True)
class Identity:
    name: str
    role: str  # "admin" | "viewer" | "node:NAME"

    @property
    def node(self) -> str | None:
        return self.role.split(":", 1)[1] if self.role.startswith("node:") else None


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def new_token() -> str:
    return secrets.token_urlsafe(32)


class TokenFile:
    """Lines of `SHA256HEX NAME ROLE`; re-read when the file changes, so new tokens work at once."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._mtime: float = -1
        self._entries: dict[str, Identity] = {}

    def add(self, name: str, role: str) -> str:
        token = new_token()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("a") as fh:
            fh.write(f"{hash_token(token)} {name} {role}\n")
        self.path.chmod(0o600)
        return token

    def _load(self) -> None:
        try:
            mtime = self.path.stat().st_mtime
        except FileNotFoundError:
            self._entries = {}
            return
        if mtime == self._mtime:
            return
        entries = {}
        for line in self.path.read_text().splitlines():
            parts = line.split()
            if len(parts) == 3:
                entries[parts[0]] = Identity(parts[1], parts[2])
        self._entries, self._mtime = entries, mtime

    def authenticate(self, header: str | None) -> Identity:
        if not header or not header.startswith("Bearer "):
            raise Unauthorized("missing bearer token; set DLXC_TOKEN or the token in your dlxc config")
        digest = hash_token(header[len("Bearer "):].strip())
        self._load()
        for known, identity in self._entries.items():
            if hmac.compare_digest(known, digest):
                return identity
        raise Unauthorized("the bearer token is not valid")


def authorize(
    identity: Identity,
    *,
    verb: str,
    plural: str,
    name: str | None,
    subresource: str | None,
    bound_node: str | None,
) -> None:
    """Raise Forbidden unless the identity's role allows the verb on the object."""
    if identity.role == "admin" or verb in ("get", "list", "watch"):
        return
    node = identity.node
    if node is not None:
        if plural == "nodes" and name == node:
            return
        if plural == "containers" and bound_node == node and subresource in ("status", "finalizers"):
            return
    raise Forbidden(f"{identity.name} ({identity.role}) may not {verb} {plural}{'/' + name if name else ''}")
