"""Bearer tokens, stored hashed: the bootstrap token file, and what each role may do."""
from __future__ import annotations

import hashlib
import hmac
import os
import re
import secrets
from dataclasses import dataclass
from pathlib import Path

from dlxc.client.errors import Forbidden, Unauthorized
from schemas.token import JOIN, check_role

__all__ = ["Identity", "TokenFile", "authorize", "bearer_digest", "check_role", "hash_token", "new_token"]


@dataclass(frozen=True)
class Identity:
    name: str
    role: str  # "admin" | "viewer" | "node:NAME" | "join"

    @property
    def node(self) -> str | None:
        return self.role.split(":", 1)[1] if self.role.startswith("node:") else None


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def new_token() -> str:
    return secrets.token_urlsafe(32)


def bearer_digest(header: str | None) -> str:
    """The hash of the request's bearer token; 401 when there is none."""
    if not header or not header.startswith("Bearer "):
        raise Unauthorized("missing bearer token; set DLXC_TOKEN or the token in your dlxc config")
    return hash_token(header[len("Bearer "):].strip())


class TokenFile:
    """Lines of `SHA256HEX NAME ROLE`; re-read when the file changes.

    The bootstrap tokens: `dlxc up` (and whoever runs an apiserver by hand) writes the first admin
    and the components' tokens here, before there is an API to ask. Every later token is made
    through the API (apiserver.tokens), by an admin.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._mtime: tuple[int, int] = (-1, -1)
        self._entries: dict[str, Identity] = {}

    def add(self, name: str, role: str) -> str:
        """A new token for NAME with ROLE; only its hash is written."""
        check_role(role)
        if role == JOIN:
            raise ValueError("a join token counts its uses in etcd; make it through the API (`dlxc token create NAME --role join`)")
        if not re.match(r"^[A-Za-z0-9][A-Za-z0-9_.@-]{0,127}$", name):
            raise ValueError(f"token name {name!r} must be 1-128 of letters, digits, '_', '.', '@', '-'")
        token = new_token()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # Created private from the start: never a moment where others may read it.
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        with os.fdopen(fd, "a") as fh:
            fh.write(f"{hash_token(token)} {name} {role}\n")
        return token

    def remove(self, name: str) -> bool:
        """Drop NAME's lines (its token stops working at the next request); whether there were any."""
        try:
            lines = self.path.read_text().splitlines(keepends=True)
        except FileNotFoundError:
            return False
        kept = [line for line in lines if len(line.split()) != 3 or line.split()[1] != name]
        if len(kept) == len(lines):
            return False
        tmp = self.path.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.writelines(kept)
        tmp.replace(self.path)
        return True

    def _load(self) -> None:
        try:
            stat = self.path.stat()
            mtime = (stat.st_mtime_ns, stat.st_size)
        except FileNotFoundError:
            self._entries = {}
            return
        if mtime == self._mtime:
            return
        entries = {}
        for line in self.path.read_text().splitlines():
            parts = line.split()
            if len(parts) == 3 and _valid_role(parts[2]):
                entries[parts[0]] = Identity(parts[1], parts[2])
        self._entries, self._mtime = entries, mtime

    def lookup(self, digest: str) -> Identity | None:
        self._load()
        for known, identity in self._entries.items():
            if hmac.compare_digest(known, digest):
                return identity
        return None

    def names(self) -> set[str]:
        self._load()
        return {identity.name for identity in self._entries.values()}

    def authenticate(self, header: str | None) -> Identity:
        identity = self.lookup(bearer_digest(header))
        if identity is None:
            raise Unauthorized("the bearer token is not valid")
        return identity


def _valid_role(role: str) -> bool:
    try:
        check_role(role)
    except ValueError:
        return False
    return True


READ_VERBS = ("get", "list", "watch")
# Subresources that reach inside a container: exec, console attach (and the passwd and terminal
# built on them) only for admin; the console log also for viewer; never for a node's token.
INSIDE = {"exec": ("admin",), "attach": ("admin",), "terminal": ("admin",), "log": ("admin", "viewer")}


def authorize(
    identity: Identity,
    *,
    verb: str,
    plural: str,
    name: str | None,
    subresource: str | None,
    bound_node: str | None,
) -> None:
    """Raise Forbidden unless the identity's role allows the verb on the object.

    admin: everything. viewer: reads, but not of tokens (admin only, even to list). node:NAME: reads, and writes to Node NAME, Lease NAME,
    events (not their deletion), and the status of containers bound to NAME (plus adding or
    removing the kubelet's own finalizer on them, which `subresource="finalizers"` stands for).
    """
    if plural == "containers" and subresource in INSIDE:
        if identity.role in INSIDE[subresource]:
            return
        action = "open a terminal in" if subresource == "terminal" else subresource
        raise Forbidden(f"{identity.name} ({identity.role}) may not {action} containers/{name}")
    if identity.role == "admin":
        return
    if identity.role == JOIN:
        raise Forbidden(f"{identity.name} is a join token: it is only good for `dlxc join` (POST /apis/dlxc.io/v1/joins)")
    if plural == "tokens":
        raise Forbidden(f"{identity.name} ({identity.role}) may not {verb} tokens; only an admin may")
    if verb in READ_VERBS:
        return
    node = identity.node
    if node is not None:
        if plural in ("nodes", "leases") and name == node:
            return
        if plural == "events" and verb != "delete":
            return
        if plural == "containers" and bound_node == node and subresource in ("status", "finalizers") and verb in ("update", "patch"):
            return
    raise Forbidden(f"{identity.name} ({identity.role}) may not {verb} {plural}{'/' + name if name else ''}{'/' + subresource if subresource and subresource != 'finalizers' else ''}")
