"""`dlxc config view [-o json|yaml] [--show-token]`: the server, token and CA file the CLI uses."""
from __future__ import annotations

import typer

from dlxc.cli import console
from dlxc.cli.common import client_config, fail
from dlxc.client.config import config_path

__all__ = ["config_app"]

config_app = typer.Typer(help="Show the client configuration.", no_args_is_help=True)


@config_app.command("view")
def view(
    output: str = typer.Option("yaml", "--output", "-o", help="yaml or json."),
    show_token: bool = typer.Option(False, "--show-token", help="Print the token itself, not REDACTED."),
) -> None:
    """Print the server URL, the token (REDACTED unless --show-token) and the CA file in use (after
    $DLXC_SERVER / $DLXC_TOKEN and the global --server / --token)."""
    if output not in ("yaml", "json"):
        fail(f"unknown output format {output!r}; use yaml or json")
    config = client_config()
    # A config view gets pasted into tickets and chats; the token is a credential.
    token = config.token if show_token or config.token is None else "REDACTED"
    data = {
        "server": config.server,
        "token": token,
        "certificateAuthority": config.certificate_authority,
        "configFile": str(config_path()),
    }
    if output == "json":
        console.print_json(data)
    else:
        console.print_yaml(data)
