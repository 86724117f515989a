"""`dlxc terminal NAME`: a one-time URL of a browser terminal (a login shell) in a running container."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

import typer

from dlxc.cli.completion import complete_container_names

if TYPE_CHECKING:
    from dlxc.client.verbs import ApiVerbs

__all__ = ["terminal"]


def terminal(
    name: str = typer.Argument(..., help="Container.", autocompletion=complete_container_names),
    ttl: str = typer.Option("10m", "--ttl", help="How long the URL may wait for its one use: 30s, 10m, 2h (at most 24h)."),
    user: str = typer.Option(None, "--user", "-u", help="User name or uid of the shell (default: root)."),
    output: str = typer.Option("text", "--output", "-o", help="text (the URL), yaml or json."),
) -> None:
    """Print a URL that opens a browser terminal in container NAME, once, until it expires."""
    from dlxc.cli import console
    from dlxc.cli.common import fail, seconds, with_client
    from dlxc.client.verbs import PREFIX

    if output not in ("text", "yaml", "json"):
        fail(f"unknown output format {output!r}; use text, yaml or json", 2)
    ttl_seconds = seconds(ttl, flag="--ttl")
    if ttl_seconds != int(ttl_seconds) or not 1 <= ttl_seconds <= 86400:
        fail("--ttl must be whole seconds from 1s to 24h", 2)
    body: dict[str, Any] = {"ttlSeconds": int(ttl_seconds)}
    if user:
        body["user"] = user

    async def ask(client: ApiVerbs) -> Any:
        return await client.request("POST", f"{PREFIX}/containers/{name}/terminal", body=body)

    answer = with_client(ask)
    if output == "json":
        console.print_json(answer)
    elif output == "yaml":
        console.print_yaml(answer)
    else:
        console.out(answer["url"])
        console.note(f"opens one terminal in {name}, until {answer['expiresAt']}")
