"""`dlxc rollout status|undo set/NAME`: follow a ContainerSet's rolling update, or go back to the previous template."""
from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING

import typer

from dlxc.cli import console
from dlxc.cli.common import duration, fail, with_client
from dlxc.cli.objref import parse_ref

if TYPE_CHECKING:
    from dlxc.client.api import Client
    from schemas.base import Obj

__all__ = ["rollout_app", "rollout_state", "undo_target"]

rollout_app = typer.Typer(help="Follow or undo the rolling update of a set.", no_args_is_help=True)


def _set_name(ref: list[str]) -> str:
    obj, rest = parse_ref(ref)
    if rest:
        fail(f"unexpected arguments: {' '.join(rest)}", code=2)
    if obj.kind.name != "ContainerSet":
        fail(f"{obj} has no rollout; only sets do (set/NAME)", code=2)
    return obj.name


def rollout_state(cset: Obj) -> tuple[str, str]:
    """('done' | 'failed' | 'progressing', a line saying where it stands), from the set alone."""
    spec, status = cset["spec"], cset.get("status") or {}
    name = cset["metadata"]["name"]
    wanted = spec.get("replicas", 1)
    if status.get("observedGeneration") != cset["metadata"].get("generation"):
        return "progressing", f"set/{name}: waiting for the controller to see generation {cset['metadata'].get('generation')}"
    progressing = next((c for c in status.get("conditions") or [] if c.get("type") == "Progressing"), {})
    if progressing.get("reason") == "UpdateFailed":
        return "failed", f"set/{name}: rollout failed: {progressing.get('message')}"
    updated, ready, replicas = status.get("updatedReplicas", 0), status.get("readyReplicas", 0), status.get("replicas", 0)
    if updated == ready == replicas == wanted:
        return "done", f"set/{name}: rolled out, {wanted} of {wanted} members on revision {status.get('currentRevision')} and Running"
    return "progressing", f"set/{name}: {updated} of {wanted} members updated, {ready} Running"


@rollout_app.command("status")
def status(
    ref: list[str] = typer.Argument(..., help="set/NAME"),
    timeout: float = typer.Option(300.0, "--timeout", parser=duration, help="Give up after this long (exit 1)."),
    watch: bool = typer.Option(True, "--watch/--no-watch", help="Wait until the rollout ends; without, print once."),
) -> None:
    """Wait until every member runs the current template (exit 0) or the update failed (exit 1, saying why)."""
    name = _set_name(ref)

    async def go(client: Client) -> str:
        deadline = time.monotonic() + timeout
        last = ""
        while True:
            state, line = rollout_state(await client.get("containersets", name))
            if line != last:
                console.out(line)
                last = line
            if state != "progressing" or not watch:
                return state
            if time.monotonic() > deadline:
                console.error(f"set/{name}: rollout not done after {timeout:g}s")
                return "timeout"
            await asyncio.sleep(0.5)

    state = with_client(go)
    if state in ("failed", "timeout"):
        raise typer.Exit(1)


def undo_target(cset: Obj, to_revision: int | None) -> Obj:
    """The revision to go back to: the one before the current, or `to_revision` (maybe the current
    one: then there is nothing to do); ValueError if none, or if the controller has not seen the
    set's latest spec yet (its status names an older current revision, so "previous" would be wrong)."""
    name, generation = cset["metadata"]["name"], cset["metadata"].get("generation")
    status = cset.get("status") or {}
    if status.get("observedGeneration") != generation:
        raise ValueError(f"set/{name}: the controller has not seen generation {generation} yet; "
                         f"try again in a moment (or `dlxc rollout status set/{name}` first)")
    revisions = status.get("revisions") or []
    current = status.get("currentRevision")
    if to_revision is not None:
        found = next((r for r in revisions if r.get("revision") == to_revision), None)
        if found is None:
            known = ", ".join(str(r.get("revision")) for r in revisions) or "none"
            raise ValueError(f"set/{cset['metadata']['name']} has no revision {to_revision} (known: {known})")
        return found
    older = [r for r in revisions if r.get("revision") != current]
    if not older:
        raise ValueError(f"set/{cset['metadata']['name']} has no previous revision to go back to")
    return older[-1]


@rollout_app.command("undo")
def undo(
    ref: list[str] = typer.Argument(..., help="set/NAME"),
    to_revision: int = typer.Option(None, "--to-revision", help="Go to this revision (see `dlxc describe set NAME`)."),
) -> None:
    """Put the previous template back (a rolling update to it follows)."""
    name = _set_name(ref)

    async def go(client: Client) -> str:
        from dlxc.client.guarded import replace_guarded

        targets: list[Obj] = []

        def decide(cset: Obj) -> Obj | None:
            try:
                targets.append(undo_target(cset, to_revision))
            except ValueError as exc:
                fail(str(exc))
            if targets[-1]["revision"] == (cset.get("status") or {}).get("currentRevision"):
                return None
            cset["spec"]["template"] = targets[-1]["template"]
            return cset

        # Read and decided again on a conflict: the controller's status writes (the autoscaler's every
        # period) move the set's version between the read and the replace.
        _, written = await replace_guarded(client, "containersets", name, decide)
        if written is None:
            return f"container set {name} is already at revision {targets[-1]['revision']} (nothing changed)"
        return f"set/{name} rolled back to revision {targets[-1]['revision']}"

    console.out(with_client(go))
