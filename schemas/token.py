"""The Token kind: an API-created bearer token's name, role and lifetime (the secret is never part of it)."""
from __future__ import annotations

import re
from datetime import datetime
from typing import Literal

from pydantic import Field, field_validator

from schemas.base import Model
from schemas.meta import ObjectMeta

__all__ = ["ROLES_HELP", "Token", "TokenSpec", "TokenStatus", "check_role"]

_NODE_ROLE = re.compile(r"^node:[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
ROLES_HELP = "admin, viewer or node:NAME"


def check_role(role: str) -> str:
    """The role if it is admin, viewer or node:NAME (NAME a DNS-1123 label), else ValueError.

    A later `join` role (a token that may register N nodes, issue 12) is one more case here and
    a `uses` field in TokenSpec.
    """
    if role in ("admin", "viewer") or (_NODE_ROLE.match(role) and len(role) <= 5 + 63):
        return role
    raise ValueError(f"unknown role {role!r}; use {ROLES_HELP}")


class TokenSpec(Model):
    role: str = Field(description="admin, viewer or node:NAME (NAME an existing Node).")
    ttl_seconds: int | None = Field(
        default=None, ge=1, le=10 * 365 * 86400, description="Lifetime from creation; absent: until revoked."
    )

    @field_validator("role")
    @classmethod
    def _role(cls, value: str) -> str:
        return check_role(value)


class TokenStatus(Model):
    expiration_timestamp: datetime | None = Field(default=None, description="Set by the server from ttlSeconds.")
    token: str | None = Field(default=None, description="The secret: in the answer to the create only, never stored.")


class Token(Model):
    api_version: Literal["dlxc.io/v1"] = "dlxc.io/v1"
    kind: Literal["Token"] = "Token"
    metadata: ObjectMeta
    spec: TokenSpec
    status: TokenStatus = Field(default_factory=TokenStatus)
