"""`dlxc explain-placement -f FILE`: where the containers of a manifest would land and why, writing nothing.

It reads the nodes and containers from the API and runs the scheduler's own filters and scorers
on them, here in the client (the API has no placement endpoint), with the scheduler's defaults or
the settings given. The containers of the manifest are placed one after another, each counting
against its node for the next, as the scheduler would do with them.
"""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import typer

from dlxc.apply.manifests import load_manifests
from dlxc.cli import console
from dlxc.cli.common import fail, with_client
from dlxc.cli.placement import placement_lines
from scheduler.config import SchedulerConfigError, load_settings
from scheduler.framework import Decision
from scheduler.loop import placement_of
from scheduler.whatif import explain

if TYPE_CHECKING:
    from dlxc.client.api import Client

__all__ = ["explain", "explain_placement", "placement_lines"]


def _print_decision(name: str, decision: Decision, *, seed: int) -> None:
    lines = placement_lines(placement_of(decision, seed=seed))
    console.out(f"container/{name}: {lines[0]}")
    for line in lines[1:]:
        console.out(line)
    if decision.rejected_nodes:
        named = ", ".join(f"{node} ({reason})" for node, reason in decision.rejected_nodes)
        more = sum(decision.rejected.values()) - len(decision.rejected_nodes)
        console.out(f"filtered out: {named}" + (f" and {more} more" if more > 0 else ""))


def explain_placement(
    filename: list[str] = typer.Option(..., "--filename", "-f", help="Manifest file, folder or - for stdin."),
    config: Path = typer.Option(None, "--config", envvar="DLXC_SCHEDULER_CONFIG", help="The scheduler's YAML settings."),
    seed: int = typer.Option(None, "--seed", help="Seed of the tie-breaking choice (default: the settings', 0)."),
    weight: list[str] = typer.Option(None, "--weight", help="NAME=WEIGHT of a score plugin; repeatable."),
    output: str = typer.Option("table", "--output", "-o", help="table, json or yaml."),
) -> None:
    """Show where each container of the manifests would be placed, with every score; exit 1 if one fits nowhere."""
    if output not in ("table", "json", "yaml"):
        fail(f"unknown output format {output!r}; use table, json or yaml")
    try:
        settings = load_settings(config, seed=seed, weights=weight)
    except SchedulerConfigError as exc:
        fail(str(exc))
    manifests, errors = load_manifests(filename)
    if errors:
        for err in errors:
            console.error(str(err))
        fail(f"{len(errors)} error(s); nothing was explained")
    wanted = []
    for manifest in manifests:
        if manifest.kind != "Container":
            console.error(f"{manifest.ref} is not a Container; skipped")
            continue
        obj = manifest.obj.to_wire()
        obj["spec"].pop("nodeName", None)
        wanted.append(obj)
    if not wanted:
        fail("no containers found in " + ", ".join(filename))

    async def go(client: Client) -> list[Decision]:
        nodes, _ = await client.list("nodes")
        containers, _ = await client.list("containers")
        return explain(nodes, containers, wanted, settings)

    decisions = with_client(go)
    if output == "table":
        for i, (obj, decision) in enumerate(zip(wanted, decisions)):
            if i:
                console.out()
            _print_decision(obj["metadata"]["name"], decision, seed=settings.seed)
    else:
        data = [
            {"container": obj["metadata"]["name"], **{k: v for k, v in placement_of(decision, seed=settings.seed).items() if k != "time"}}
            for obj, decision in zip(wanted, decisions)
        ]
        (console.print_json if output == "json" else console.print_yaml)(data)
    if any(d.node is None for d in decisions):
        raise typer.Exit(1)
