"""The Token kind: an API-created bearer token's name, role and lifetime (the secret is never part of it)."""
from __future__ import annotations

import re
from datetime import datetime
from typing import Literal

from pydantic import Field, field_validator, model_validator

from schemas.base import Model
from schemas.meta import ObjectMeta

__all__ = ["JOIN", "ROLES_HELP", "Token", "TokenSpec", "TokenStatus", "check_role"]

_NODE_ROLE = re.compile(r"^node:[a-z0-9]([-a-z0-9]*[a-z0-9])?\Z")
ROLES_HELP = "admin, viewer, node:NAME or join"
JOIN = "join"


def check_role(role: str) -> str:
    """The role if it is admin, viewer, node:NAME (NAME a DNS-1123 label) or join, else ValueError.

    A join token authenticates nothing but `POST /apis/dlxc.io/v1/joins`, which trades it (once
    per use) for a new node's own node:NAME token.
    """
    if role in ("admin", "viewer", JOIN) or (_NODE_ROLE.match(role) and len(role) <= 5 + 63):
        return role
    raise ValueError(f"unknown role {role!r}; use {ROLES_HELP}")


class TokenSpec(Model):
    role: str = Field(description="admin, viewer, node:NAME (NAME an existing Node) or join (registers new nodes).")
    ttl_seconds: int | None = Field(
        default=None, ge=1, le=10 * 365 * 86400, description="Lifetime from creation; absent: until revoked."
    )
    uses: int | None = Field(default=None, ge=1, le=100_000, description="join only: how many nodes it may register; absent: any number.")
    control_plane: bool | None = Field(
        default=None, description="join only: may also add control-plane hosts (etcd member, apiserver): as powerful as admin."
    )

    @field_validator("role")
    @classmethod
    def _role(cls, value: str) -> str:
        return check_role(value)

    @model_validator(mode="after")
    def _uses_only_for_join(self) -> TokenSpec:
        if self.uses is not None and self.role != JOIN:
            raise ValueError(f"uses is only for role join, not {self.role}")
        if self.control_plane and self.role != JOIN:
            raise ValueError(f"controlPlane is only for role join, not {self.role}")
        return self


class TokenStatus(Model):
    expiration_timestamp: datetime | None = Field(default=None, description="Set by the server from ttlSeconds.")
    token: str | None = Field(default=None, description="The secret: in the answer to the create only, never stored.")
    used: int | None = Field(default=None, ge=0, description="join only: nodes registered with it so far (counted by the server).")


class Token(Model):
    api_version: Literal["dlxc.io/v1"] = "dlxc.io/v1"
    kind: Literal["Token"] = "Token"
    metadata: ObjectMeta
    spec: TokenSpec
    status: TokenStatus = Field(default_factory=TokenStatus)
