"""`dlxc server`: this host's control plane in the foreground, as the dlxc-server systemd unit runs it."""
from __future__ import annotations

from pathlib import Path

import typer

from dlxc.cli.common import fail
from dlxc.cluster.host import HostLayout, run_foreground, server_plan_of

__all__ = ["server"]


def server(
    state_dir: Path = typer.Option(None, "--state-dir", envvar="DLXC_STATE_DIR", help="As given to `dlxc init`."),
) -> None:
    """Run etcd, the apiserver, the scheduler and the controller `dlxc init` set up here, until stopped."""
    layout = HostLayout.of(state_dir)
    try:
        plan = server_plan_of(layout)
    except RuntimeError as exc:
        fail(str(exc))
    raise typer.Exit(run_foreground(plan.components, logs=layout.log))
