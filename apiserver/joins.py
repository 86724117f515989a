"""Joining a host: a join token traded, one use at a time, for the new node's own node:NAME token.

Why the server and not the CLI makes the node token: the joining host holds only the join token,
which may do nothing else (auth.authorize refuses it everywhere); the use is counted with a
compare-and-swap on the stored token, so two hosts racing for the last use cannot both win.
A join may carry `servingCSR`, the host's request for its stream serving certificate
(apiserver/certs.py); it is checked before the use is counted and signed after, so the host gets
its certificate without the CA key leaving the control plane. `POST nodecertificates` signs one
later for a node's own token, for its own name only.
"""
from __future__ import annotations

import asyncio
import hashlib
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import aetcd.exceptions

from apiserver.auth import Identity, bearer_digest, hash_token, new_token
from apiserver.endpoints import ApiServerEndpoints
from apiserver.certs import check_node_csr, sign_node_csr
from apiserver.storage import Store
from apiserver.tokens import PLURAL as TOKENS
from apiserver.tokens import TokenRegistry
from dlxc.client.errors import (
    AlreadyExists,
    BadRequest,
    Conflict,
    Forbidden,
    Invalid,
    NotFound,
    TemporaryError,
    Unauthorized,
)
from schemas import API_VERSION
from schemas.base import DNS_LABEL, Obj, iso_time
from schemas.node import node_ready
from schemas.token import JOIN
from schemas.wire import CONTROL_PLANE_OF_ANNOTATION

__all__ = ["JoinService", "credential_name"]

_HASH = "secretHash"
_CAS_TRIES = 20


def credential_name(node: str) -> str:
    """The name of the token a join makes for NODE (a token name is a DNS label of 63 at most)."""
    if len(node) <= 58:
        return f"node-{node}"
    return f"node-{node[:45].rstrip('-')}-{hashlib.sha256(node.encode()).hexdigest()[:8]}"


class JoinService:
    def __init__(
        self, store: Store, registry: TokenRegistry, *, ca_key_file: Path | None = None, ca_file: Path | None = None,
        endpoints: ApiServerEndpoints | None = None,
    ) -> None:
        self.store = store
        self.endpoints = endpoints
        self.registry = registry
        self.ca_key_file = ca_key_file
        self.ca_file = ca_file

    def node_certificate(self, identity: Identity, body: Any) -> Obj:
        """A serving certificate for the caller's own node: a node:NAME token gets one for NAME, never another name."""
        node = _node_name(body)
        if identity.role != "admin" and identity.node != node:
            mine = f"node:{identity.node}" if identity.node else f"role {identity.role}"
            raise Forbidden(f"{identity.name!r} ({mine}) may not get a certificate for node {node!r}; a node's token gets one for its own name only")
        certificate = sign_node_csr(body.get("csr"), node, ca_file=self.ca_file, ca_key_file=self.ca_key_file, field="csr")
        return {"apiVersion": API_VERSION, "kind": "NodeCertificate", "nodeName": node, "certificate": certificate}

    async def join(self, header: str | None, body: Any) -> Obj:
        node = _node_name(body)
        peer = _peer_url(body) if body.get("controlPlane") else None
        csr = body.get("servingCSR")
        if csr is not None:  # refused before a use is counted
            check_node_csr(csr, node)
            if self.ca_file is None or self.ca_key_file is None:
                raise Forbidden("this apiserver was started without --ca-file and --ca-key-file; it cannot sign the node's serving certificate")
        digest = bearer_digest(header)
        for _ in range(_CAS_TRIES):
            token = await self._find(digest)
            await self._refuse_taken(node)
            if peer is not None:
                if not token["spec"].get("controlPlane"):
                    raise Forbidden(f"the join token {token['metadata']['name']!r} may not add control-plane hosts; "
                                    f"make one with `dlxc token create NAME --role join --control-plane`")
                if self.ca_key_file is None:
                    raise Forbidden("this apiserver was started without --ca-key-file; it cannot add control-plane hosts")
            status = token.get("status") or {}
            used = int(status.get("used") or 0)
            uses = token["spec"].get("uses")
            if uses is not None and used >= uses:
                raise Unauthorized(
                    f"the join token {token['metadata']['name']!r} is used up ({used} of {uses} uses); "
                    f"make another with `dlxc token create NAME --role join`"
                )
            counted = {**token, "status": {**status, "used": used + 1}}
            try:
                await self.store.update(TOKENS, token["metadata"]["name"], counted, expected_rv=int(token["metadata"]["resourceVersion"]))
            except Conflict:
                continue  # another join counted a use meanwhile: read it again
            secret = await self._issue(node, joined_with=token["metadata"]["name"])
            answer: Obj = {"apiVersion": API_VERSION, "kind": "JoinResult", "nodeName": node, "token": secret,
                           # every live apiserver: the host's config lists them all, not only the one it joined through
                           "apiservers": await self.endpoints.servers() if self.endpoints is not None else []}
            if csr is not None:
                answer["servingCertificate"] = sign_node_csr(csr, node, ca_file=self.ca_file, ca_key_file=self.ca_key_file)
            if peer is not None:
                answer["controlPlane"] = await self._control_plane(node, peer, joined_with=token["metadata"]["name"])
            return answer
        raise TemporaryError("too many joins at once on this token; try again", delay=1.0)

    async def _find(self, digest: str) -> Obj:
        items, _ = await self.store.list(TOKENS)
        for item in items:
            if item.get(_HASH) == digest:
                break
        else:
            raise Unauthorized("the join token is not valid (unknown or revoked); ask an admin for the join command again")
        name = item["metadata"]["name"]
        if item["spec"]["role"] != JOIN:
            raise Unauthorized(f"the token {name!r} is not a join token (role {item['spec']['role']})")
        expires = (item.get("status") or {}).get("expirationTimestamp")
        if expires and datetime.fromisoformat(expires) <= datetime.now(UTC):
            raise Unauthorized(f"the join token {name!r} expired at {expires}; make a new one with `dlxc token create NAME --role join --ttl 1h`")
        return item

    async def _refuse_taken(self, node: str) -> None:
        try:
            current = await self.store.get("nodes", node)
        except NotFound:
            return
        if node_ready(current):
            raise AlreadyExists(
                f"node name {node!r} is taken by a live (Ready) node; pick another --node-name, "
                f"or `dlxc node remove {node}` first if that host is gone"
            )

    async def _control_plane(self, node: str, peer: str, *, joined_with: str) -> Obj:
        """Give the host what it needs to run an apiserver, scheduler and controller, then add its etcd member.

        The member is added last: from then until it starts, the cluster has one more voter than
        it has members running, and with one or two members before, no write commits. The joining
        host starts its etcd as soon as it has this answer.
        """
        assert self.ca_key_file is not None
        admin = await self._issue(node, joined_with=joined_with, name=f"cp-{credential_name(node)}"[:63], role="admin",
                                  annotations={CONTROL_PLANE_OF_ANNOTATION: node})
        etcd = self.store.etcd
        cluster = [(member.name, url) async for member in etcd.members() for url in member.peer_urls]
        if peer not in {url for _, url in cluster}:  # a second try of the same host adds nothing
            await _add_member(etcd, peer)
        # The new member has no name until it starts: it is the one whose peer URL is `peer`.
        initial = [f"{name or node}={url}" for name, url in cluster if url != peer] + [f"{node}={peer}"]
        return {"initialCluster": ",".join(initial), "caKey": self.ca_key_file.read_text(), "adminToken": admin}

    async def _issue(
        self, node: str, *, joined_with: str, name: str | None = None, role: str | None = None, annotations: dict[str, str] | None = None
    ) -> str:
        """A new node:NODE token (or `role`), replacing the one an earlier join of NODE made (that host is not live)."""
        name = name or credential_name(node)
        try:
            old = await self.store.get(TOKENS, name)
            await self.store.delete(TOKENS, name, expected_rv=int(old["metadata"]["resourceVersion"]))
        except NotFound:
            pass
        secret = new_token()
        created = datetime.now(UTC)
        obj: Obj = {
            "apiVersion": API_VERSION, "kind": "Token",
            "metadata": {"name": name, "uid": str(uuid.uuid4()), "creationTimestamp": iso_time(created),
                         "annotations": {"dlxc.io/joined-with": joined_with, **(annotations or {})}},
            "spec": {"role": role or f"node:{node}"},
            "status": {},
            _HASH: hash_token(secret),
        }
        await self.store.create(TOKENS, name, obj)
        self.registry.invalidate()
        return secret


async def _add_member(etcd: Any, peer: str, *, tries: int = 20, delay: float = 0.5) -> None:
    """etcd refuses a member while the last one added is not yet caught up ("unhealthy cluster"):
    two hosts joined back to back; try again for a while, then say so."""
    for attempt in range(tries):
        try:
            await etcd.add_member([peer])
            return
        except aetcd.exceptions.ClientError as exc:
            if attempt == tries - 1:
                raise TemporaryError(f"etcd did not take the new member {peer}: {exc}; try the join again", delay=2.0) from None
            await asyncio.sleep(delay)


def _peer_url(body: Obj) -> str:
    peer = body.get("peerURL")
    parts = urlsplit(peer) if isinstance(peer, str) else None
    if parts is None or parts.scheme not in ("https", "http") or not parts.hostname or not parts.port:
        raise Invalid(f"peerURL {peer!r} must be https://ADDRESS:PORT, the new etcd member's peer URL",
                      details=[{"field": "peerURL", "message": "must be https://ADDRESS:PORT"}])
    return peer


def _node_name(body: Any) -> str:
    if not isinstance(body, dict):
        raise BadRequest("the body must be a JSON object", details=[{"field": "body", "message": "must be a JSON object"}])
    node = body.get("nodeName")
    if not isinstance(node, str) or len(node) > 63 or not DNS_LABEL.match(node):
        raise Invalid(
            f"nodeName {node!r} must be a DNS-1123 label: lowercase letters, digits and '-', at most 63",
            details=[{"field": "nodeName", "message": "must be a DNS-1123 label"}],
        )
    return node
