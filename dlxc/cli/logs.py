"""`dlxc logs NAME`: the container's console output, kept by its kubelet on disk (size-capped, per run)."""
from __future__ import annotations

import re
from typing import TYPE_CHECKING

import typer

from dlxc.cli.completion import complete_container_names

if TYPE_CHECKING:
    from dlxc.client.api import Client

__all__ = ["logs", "parse_duration", "tail_param"]

_DURATION = re.compile(r"^(\d+(?:\.\d+)?)(s|m|h|d)?\Z")
_UNIT = {"s": 1, "m": 60, "h": 3600, "d": 86400, None: 1}


def parse_duration(text: str) -> float:
    """'90', '30s', '10m', '2h', '1d' as seconds; ValueError otherwise."""
    match = _DURATION.match(text.strip())
    if not match:
        raise ValueError(f"{text!r} is not a duration like 30s, 10m, 2h or 1d")
    return float(match.group(1)) * _UNIT[match.group(2)]


def tail_param(tail: int) -> str:
    """`--tail N` as the log request's parameter; a negative N is a usage error (exit 2), found before connecting."""
    from dlxc.cli.common import fail

    if tail < 0:
        fail("--tail must be 0 or more", 2)
    return str(tail)


def logs(
    name: str = typer.Argument(..., help="Container.", autocompletion=complete_container_names),
    follow: bool = typer.Option(False, "--follow", "-f", help="Keep printing new output until interrupted or the container is deleted."),
    tail: int = typer.Option(None, "--tail", help="Only the last N lines."),
    since: str = typer.Option(None, "--since", help="Only lines written within this long, e.g. 10m (to about a second: the kubelet marks when the log grows)."),
    previous: bool = typer.Option(False, "--previous", "-p", help="The run before the last (re)start."),
) -> None:
    """Print the console output of container NAME (its init and what init starts)."""
    import os

    from dlxc.cli.common import fail, with_client
    from dlxc.client.streams import read_log

    params: dict[str, str] = {}
    if follow:
        params["follow"] = "1"
    if tail is not None:
        params["tail"] = tail_param(tail)
    if since:
        try:
            params["since"] = str(parse_duration(since))
        except ValueError as exc:
            fail(f"--since: {exc}", 2)
    if previous:
        params["previous"] = "1"

    async def go(client: Client) -> None:
        async for chunk in read_log(client, name, params):
            view = memoryview(chunk)
            while view:
                view = view[os.write(1, view):]
        if follow and not previous:  # (the run before does not grow: no follow)
            why = await _why_the_follow_ended(client, name)
            if why:
                fail(why)

    try:
        with_client(go, streaming=True)
    except KeyboardInterrupt:
        raise typer.Exit(130) from None


async def _why_the_follow_ended(client: Client, name: str) -> str | None:
    """None when the container was deleted (the end of its log); else why its stream stopped while it
    is still there: its node went NotReady (a dead host sends nothing, so the apiserver ended the
    stream), it moved, or its kubelet went away."""
    from dlxc.client.errors import NotFound

    try:
        container = await client.get("containers", name)
    except NotFound:
        return None
    if container["metadata"].get("deletionTimestamp"):
        return None  # being deleted: its log ended with it
    node_name = container["spec"].get("nodeName") or ""
    again = f"`dlxc logs -f {name}` again once it runs"
    try:
        node = await client.get("nodes", node_name) if node_name else None
    except NotFound:
        node = None
    if node is None:
        return f"the log of container {name} stopped: it is on no registered node now; {again}"
    from schemas.node import node_ready

    if not node_ready(node):
        return f"the log of container {name} stopped: node {node_name} is not Ready (the container fails over from there); {again}"
    return f"the log of container {name} stopped: the stream from node {node_name} ended (its kubelet restarted, or the container moved there); {again}"
