"""`dlxc version [--client] [-o yaml|json]`: the client's release and the server's (from /version)."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

import typer

from dlxc.cli import console
from dlxc.cli.common import fail, with_client

if TYPE_CHECKING:
    from dlxc.client.verbs import ApiVerbs

__all__ = ["version"]


def version(
    client_only: bool = typer.Option(False, "--client", help="Only the client's version; do not ask the server."),
    output: str = typer.Option("text", "--output", "-o", help="text, yaml or json."),
) -> None:
    """Print the client's and the server's versions."""
    import dlxc

    if output not in ("text", "yaml", "json"):
        fail(f"unknown output format {output!r}; use text, yaml or json")
    versions: dict[str, object] = {"client": {"version": dlxc.__version__}}
    if output == "text":
        # The client's line first: it is true even when the server cannot be reached.
        console.out(f"Client Version: {dlxc.__version__}")
    if not client_only:

        async def ask(client: ApiVerbs) -> Any:
            return await client.request("GET", "/version")

        versions["server"] = with_client(ask)
    if output == "json":
        console.print_json(versions)
    elif output == "yaml":
        console.print_yaml(versions)
    else:
        server = versions.get("server")
        if isinstance(server, dict):
            console.out(f"Server Version: {server.get('version')} ({server.get('apiVersion')})")
