"""`dlxc token create|list|revoke`: bearer tokens made through the API by an admin, kept hashed by the apiserver."""
from __future__ import annotations

import re
from typing import TYPE_CHECKING

import typer

from dlxc.cli import console
from dlxc.cli.common import fail, with_client
from schemas.token import JOIN, ROLES_HELP, check_role

if TYPE_CHECKING:
    from dlxc.client.api import Client
    from schemas.base import Obj

__all__ = ["parse_ttl", "token_app"]

token_app = typer.Typer(help="Manage API tokens (admin only).", no_args_is_help=True)

_TTL = re.compile(r"^([0-9]+)(s|m|h|d)\Z")
_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_ttl(text: str) -> int:
    """Seconds in a TTL such as 90s, 30m, 1h or 7d; ValueError otherwise."""
    match = _TTL.match(text.strip())
    if not match or int(match.group(1)) == 0:
        raise ValueError(f"--ttl {text!r} is not a duration; use a positive number with s, m, h or d (e.g. 1h, 7d)")
    return int(match.group(1)) * _SECONDS[match.group(2)]


@token_app.command("create")
def create(
    name: str = typer.Argument(..., help="Who the token is for, e.g. alice or kubelet-node1 (a DNS-1123 label)."),
    role: str = typer.Option(..., "--role", "-r", help=f"{ROLES_HELP} (NAME a registered Node)."),
    ttl: str = typer.Option(None, "--ttl", help="Lifetime, e.g. 1h or 7d; default: until revoked."),
    uses: int = typer.Option(None, "--uses", min=1, help="--role join only: how many hosts may join with it; default: any number."),
    control_plane: bool = typer.Option(False, "--control-plane", help="--role join only: may also add control-plane hosts (as powerful as admin)."),
) -> None:
    """Ask the apiserver for a new token; its secret is printed once and stored nowhere (only its hash)."""
    try:
        check_role(role)
        spec: Obj = {"role": role}
        if ttl is not None:
            spec["ttlSeconds"] = parse_ttl(ttl)
        if uses is not None:
            if role != JOIN:
                raise ValueError(f"--uses is only for --role join, not {role}")
            spec["uses"] = uses
        if control_plane:
            if role != JOIN:
                raise ValueError(f"--control-plane is only for --role join, not {role}")
            spec["controlPlane"] = True
    except ValueError as exc:
        fail(str(exc), code=2)

    async def go(client: Client) -> Obj:
        return await client.create("tokens", {"metadata": {"name": name}, "spec": spec})

    console.out(with_client(go)["status"]["token"])


@token_app.command("list")
def list_tokens(output: str = typer.Option("table", "--output", "-o", help="table, json or yaml.")) -> None:
    """NAME, ROLE, CREATED and EXPIRES of every API-made token (never a secret or a hash)."""
    if output not in ("table", "json", "yaml"):
        fail(f"unknown output format {output!r}; use table, json or yaml", code=2)

    async def go(client: Client) -> list[Obj]:
        return (await client.list("tokens"))[0]

    items = with_client(go)
    if output == "json":
        console.print_json(items)
    elif output == "yaml":
        console.print_yaml(items)
    else:
        rows = [
            [t["metadata"]["name"], t["spec"]["role"], t["metadata"]["creationTimestamp"],
             (t.get("status") or {}).get("expirationTimestamp") or "never", _uses(t)]
            for t in items
        ]
        console.print_table(["NAME", "ROLE", "CREATED", "EXPIRES", "USES"], rows)


def _uses(token: Obj) -> str:
    """USED/USES of a join token (USED/- when unlimited); - for every other role."""
    if token["spec"]["role"] != JOIN:
        return "-"
    used = (token.get("status") or {}).get("used") or 0
    return f"{used}/{token['spec'].get('uses') or '-'}"


@token_app.command("revoke")
def revoke(name: str = typer.Argument(..., help="The token's name.")) -> None:
    """Delete an API-made token: every apiserver refuses it within a second. Bootstrap tokens live in the token file."""

    async def go(client: Client) -> Obj:
        return await client.delete("tokens", name)

    with_client(go)
    console.out(f"token/{name} revoked")
