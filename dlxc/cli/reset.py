"""`dlxc reset`: undo `dlxc init` or `dlxc join` on this host."""
from __future__ import annotations

from pathlib import Path

import typer

from dlxc.cli import console
from dlxc.cli.common import fail
from dlxc.cluster.host import HostLayout, reset_host

__all__ = ["reset"]


def reset(
    state_dir: Path = typer.Option(None, "--state-dir", envvar="DLXC_STATE_DIR", help="As given to init or join."),
    yes: bool = typer.Option(False, "--yes", "-y", help="Do not ask."),
) -> None:
    """Stop this host's dlxc processes, destroy its containers and delete its config, credentials, data and logs."""
    layout = HostLayout.of(state_dir)
    if not yes and not typer.confirm(f"destroy this host's containers and delete {layout.etc}, {layout.data} and {layout.log}?"):
        raise typer.Exit(1)
    try:
        stopped, destroyed = reset_host(layout)
    except RuntimeError as exc:
        fail(str(exc))
    console.out(f"stopped: {', '.join(stopped) if stopped else 'nothing was running'}")
    console.out(f"destroyed {destroyed} container{'s' if destroyed != 1 else ''}; removed {layout.etc}, {layout.data}, {layout.log}")
    console.out("the cluster still lists this node until an admin runs `dlxc node remove NAME`")
