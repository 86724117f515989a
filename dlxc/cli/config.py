"""`dlxc config view [-o json|yaml] [--show-token]`: the server, token and CA file the CLI uses;
`dlxc config add-server URL...`: one more apiserver to fail over to (after `join --control-plane`)."""
from __future__ import annotations

import os

import typer

from dlxc.cli import console
from dlxc.cli.common import client_config, fail
from dlxc.client.config import ConfigError, add_servers, config_path, read_config_file, save_config

__all__ = ["config_app"]

config_app = typer.Typer(help="Show the client configuration, or add an apiserver to it.", no_args_is_help=True)


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


@config_app.command("add-server")
def add_server(
    urls: list[str] = typer.Argument(..., help="apiserver URLs, https://HOST:PORT (`dlxc join --control-plane` prints its own)."),
) -> None:
    """Add apiservers to the config file's server list; the client fails over between them.

    The list stays comma-separated, the servers it has first; the token and CA file stay (they work
    on every apiserver of the cluster)."""
    path = config_path()
    if not path.is_file():
        fail(f"{path} does not exist: add-server adds to an existing client config (`dlxc init` writes one)")
    try:
        config = read_config_file(path)
    except ConfigError as exc:
        fail(str(exc))
    try:
        added = add_servers(config, urls)
    except ConfigError as exc:
        fail(str(exc), code=2)
    if added:
        save_config(config, path)
    console.out(f"{path}: server: {config.server}" + ("" if added else " (unchanged)"))
    if os.environ.get("DLXC_SERVER"):
        console.warn(f"$DLXC_SERVER ({os.environ['DLXC_SERVER']}) overrides the file's server while it is set")
