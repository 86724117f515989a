"""`dlxc config view [-o json|yaml]`: the server, token and CA file the CLI uses."""
from __future__ import annotations

import typer

from dlxc.cli import console
from dlxc.cli.common import client_config, fail
from dlxc.client.config import config_path

__all__ = ["config_app"]

config_app = typer.Typer(help="Show the client configuration.", no_args_is_help=True)


@config_app.command("view")
def view(output: str = typer.Option("yaml", "--output", "-o", help="yaml or json.")) -> None:
    """Print the server URL, the token and the CA file in use (after $DLXC_SERVER / $DLXC_TOKEN and --server / --token)."""
    config = client_config()
    data = {
        "server": config.server,
        "token": config.token,
        "certificateAuthority": config.certificate_authority,
        "configFile": str(config_path()),
    }
    if output == "json":
        console.print_json(data)
    elif output == "yaml":
        console.print_yaml(data)
    else:
        fail(f"unknown output format {output!r}; use yaml or json")
