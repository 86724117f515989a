"""`dlxc hollow-nodes --count N`: many fake nodes in one process, for scale benchmarks of the control plane."""
from __future__ import annotations

import typer

from dlxc.cli.components import _client_config, _logging, _run_until_signal

__all__ = ["hollow_nodes"]


def hollow_nodes(
    count: int = typer.Option(..., "--count", "-n", min=1, max=100_000, help="How many nodes to simulate."),
    prefix: str = typer.Option("hollow", "--prefix", help="Node names are PREFIX-00000, PREFIX-00001, ..."),
    seed: int = typer.Option(0, "--seed", help="Seed of the mix of node sizes."),
    heartbeat_interval: float = typer.Option(10.0, "--heartbeat-interval", min=0.1, help="Seconds between two beats of one node."),
    concurrency: int = typer.Option(16, "--concurrency", min=1, max=256, help="API requests in flight at once."),
    server: str = typer.Option(None, "--server", envvar="DLXC_SERVER"),
    token: str = typer.Option(None, "--token", envvar="DLXC_TOKEN"),
    log_level: str = typer.Option("info", "--log-level", envvar="DLXC_LOG_LEVEL"),
) -> None:
    """Register N hollow nodes (no LXC): they heartbeat and report bound containers Running. Scale work only."""
    from dlxc.sim.hollow import HollowNodes, mixed_nodes

    _logging(log_level)
    nodes = mixed_nodes(count, prefix=prefix, seed=seed)
    _run_until_signal(
        lambda c: HollowNodes(c, nodes, heartbeat_interval=heartbeat_interval, concurrency=concurrency).run(),
        _client_config(server, token),
        busy=True,
    )
