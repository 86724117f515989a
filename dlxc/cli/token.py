"""`dlxc token create NAME --role ROLE`: a new bearer token, of which only the hash is stored."""
from __future__ import annotations

from pathlib import Path

import typer

from dlxc.cli import console
from dlxc.cli.common import fail
from dlxc.cluster.local import default_state_dir

__all__ = ["token_app"]

token_app = typer.Typer(help="Manage API tokens.", no_args_is_help=True)


@token_app.command("create")
def create(
    name: str = typer.Argument(..., help="Who the token is for, e.g. alice or kubelet-node1."),
    role: str = typer.Option(..., "--role", "-r", help="admin, viewer or node:NODENAME."),
    token_file: Path = typer.Option(
        None, "--token-file", envvar="DLXC_TOKEN_FILE", help="The apiserver's token file; default: STATE_DIR/tokens."
    ),
) -> None:
    """Print a new token for NAME with ROLE; the apiserver accepts it at once (it re-reads the file)."""
    from apiserver.auth import TokenFile

    path = token_file or default_state_dir() / "tokens"
    try:
        token = TokenFile(path).add(name, role)
    except ValueError as exc:
        fail(str(exc), code=2)
    except OSError as exc:
        fail(f"cannot write {path}: {exc.strerror}")
    console.out(token)
