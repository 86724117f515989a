"""`dlxc hollow-nodes --count N`: many fake nodes in one process, for scale benchmarks of the control plane."""
from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from dlxc.cli.components import _client_config, _logging, _run_until_signal

if TYPE_CHECKING:
    from dlxc.client.api import Client
    from dlxc.sim.statsserver import Issuer

__all__ = ["hollow_nodes"]


def _issuer(ca_file: Path, ca_key_file: Path) -> Issuer:
    """Each node's serving certificate as a joining host gets it: a key and a request made here, signed
    by the apiserver's own signer (apiserver/certs.py), which allows exactly DNS:NODE."""
    from apiserver.certs import sign_node_csr
    from dlxc.cluster.pki import kubelet_serving_request

    def issue(node: str) -> tuple[bytes, bytes]:
        key, csr = kubelet_serving_request(node)
        return sign_node_csr(csr, node, ca_file=ca_file, ca_key_file=ca_key_file).encode(), key

    return issue


def hollow_nodes(
    count: int = typer.Option(..., "--count", "-n", min=1, max=100_000, help="How many nodes to simulate."),
    prefix: str = typer.Option("hollow", "--prefix", help="Node names are PREFIX-00000, PREFIX-00001, ..."),
    seed: int = typer.Option(0, "--seed", help="Seed of the mix of node sizes."),
    heartbeat_interval: float = typer.Option(10.0, "--heartbeat-interval", min=0.1, help="Seconds between two beats of one node."),
    concurrency: int = typer.Option(16, "--concurrency", min=1, max=256, help="API requests in flight at once."),
    serve_usage: bool = typer.Option(False, "--serve-usage", help="Serve made-up usage of the nodes' containers to the apiserver, "
                                     "as kubelets do (one TLS server for all nodes; needs --ca-file and --ca-key-file)."),
    ca_file: Path = typer.Option(None, "--ca-file", envvar="DLXC_CA_FILE", help="Cluster CA: signs each node's serving certificate "
                                 "and must have signed the apiserver's kubelet-client certificate."),
    ca_key_file: Path = typer.Option(None, "--ca-key-file", envvar="DLXC_CA_KEY_FILE", help="The CA's key."),
    usage_interval: float = typer.Option(30.0, "--usage-interval", min=1.0, help="Seconds between two made-up samples (a kubelet's --metrics-interval)."),
    stream_host: str = typer.Option("127.0.0.1", "--stream-host", envvar="DLXC_STREAM_HOST", help="Address the usage server listens on (and the nodes publish)."),
    server: str = typer.Option(None, "--server", envvar="DLXC_SERVER"),
    token: str = typer.Option(None, "--token", envvar="DLXC_TOKEN"),
    log_level: str = typer.Option("info", "--log-level", envvar="DLXC_LOG_LEVEL"),
) -> None:
    """Register N hollow nodes (no LXC): they heartbeat and report bound containers Running. Scale work only."""
    from dlxc import gctune
    from dlxc.sim.hollow import HollowNodes, mixed_nodes
    from dlxc.sim.statsserver import HollowStats

    _logging(log_level)
    stats = None
    if serve_usage:
        missing = [flag for flag, value in (("--ca-file", ca_file), ("--ca-key-file", ca_key_file)) if value is None]
        if missing:
            raise typer.BadParameter(f"--serve-usage needs {' and '.join(missing)}: each node's serving certificate is signed by the cluster CA")
        for flag, path in (("--ca-file", ca_file), ("--ca-key-file", ca_key_file)):
            if not path.is_file():
                raise typer.BadParameter(f"{flag} {path}: no such file")
        stats = HollowStats(issue=_issuer(ca_file, ca_key_file), client_ca=ca_file, interval=usage_interval, host=stream_host)
    nodes = mixed_nodes(count, prefix=prefix, seed=seed)

    async def run(client: Client) -> None:
        hollow = HollowNodes(client, nodes, heartbeat_interval=heartbeat_interval, concurrency=concurrency, stats=stats)
        running = asyncio.ensure_future(hollow.run())
        settled = asyncio.ensure_future(hollow.settled())
        try:
            await asyncio.wait([running, settled], return_when=asyncio.FIRST_COMPLETED)
            if settled.done():
                # Every node is up: no later collection walks their state again (dlxc.gctune).
                logging.getLogger("dlxc.hollow").info("%d objects exempted from garbage collection", gctune.freeze())
            await running
        finally:
            running.cancel()
            settled.cancel()

    gctune.tune()
    _run_until_signal(run, _client_config(server, token), busy=True)
