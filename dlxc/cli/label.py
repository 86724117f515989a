"""`dlxc label KIND/NAME k=v k2- [--overwrite]`: set or remove labels, as kubectl does; node labels live in spec.labels."""
from __future__ import annotations

import typer

from dlxc.cli import console
from dlxc.cli.objref import ObjRef, parse_ref

__all__ = ["label", "parse_changes", "run_label"]


def parse_changes(args: list[str], *, what: str) -> tuple[dict[str, str], list[str]]:
    """`k=v` to set and `k-` to remove; raises ValueError naming the bad argument."""
    sets: dict[str, str] = {}
    removes: list[str] = []
    for arg in args:
        if "=" in arg:
            key, _, value = arg.partition("=")
            if not key:
                raise ValueError(f"{arg!r}: the {what} key is empty; use KEY=VALUE or KEY-")
            sets[key] = value
        elif arg.endswith("-") and len(arg) > 1:
            removes.append(arg[:-1])
        else:
            raise ValueError(f"{arg!r}: use KEY=VALUE to set a {what} or KEY- to remove it")
    both = sorted(set(sets) & set(removes))
    if both:
        raise ValueError(f"{what} {both[0]!r} is both set and removed")
    if not sets and not removes:
        raise ValueError(f"give at least one {what}: KEY=VALUE or KEY-")
    return sets, removes


def _current(obj: dict, ref: ObjRef, field: str) -> dict[str, str]:
    """The values in effect: a node's labels are its kubelet's (metadata) overlaid by the user's (spec), as the scheduler reads them."""
    values = dict((obj.get("metadata") or {}).get(field) or {})
    if ref.kind.name == "Node" and field == "labels":
        values.update((obj.get("spec") or {}).get("labels") or {})
    return values


def _patch(ref: ObjRef, field: str, sets: dict[str, str], removes: list[str], current: dict[str, str]) -> dict:
    gone: dict[str, None] = {k: None for k in removes if k in current}
    if ref.kind.name == "Node" and field == "labels":
        # The user's node labels are spec.labels (desired state the scheduler's nodeSelector reads);
        # a removal also drops the kubelet's registered label of that key, or it would still match.
        return {"metadata": {"labels": dict(gone)}, "spec": {"labels": {**sets, **gone}}}
    return {"metadata": {field: {**sets, **gone}}}


def run_label(args: list[str], *, overwrite: bool, field: str, verb: str) -> None:
    """Shared by `label` and `annotate`: read, check --overwrite, one merge PATCH."""
    what = field[:-1]  # label | annotation
    ref, rest = parse_ref(args)
    try:
        sets, removes = parse_changes(rest, what=what)
        if field == "labels":
            from schemas.meta import validate_labels

            validate_labels(sets)
    except ValueError as exc:
        console.error(f"{ref}: {exc}")
        raise typer.Exit(1) from None

    async def go(client) -> None:  # type: ignore[no-untyped-def]
        live = await client.get(ref.plural, ref.name)
        current = _current(live, ref, field)
        taken = sorted(k for k, v in sets.items() if k in current and current[k] != v)
        if taken and not overwrite:
            key = taken[0]
            console.error(f"{ref}: {what} {key!r} already has a value ({current[key]}); use --overwrite to change it")
            raise typer.Exit(1)
        missing = [k for k in removes if k not in current]
        for key in missing:
            console.warn(f"{ref}: {what} {key!r} not found")
        if all(current.get(k) == v for k, v in sets.items()) and len(missing) == len(removes):
            console.out(f"{ref} not {verb}")
            return
        await client.patch(ref.plural, ref.name, _patch(ref, field, sets, removes, current))
        console.out(f"{ref} {verb}")

    from dlxc.cli.common import with_client

    with_client(go)


def label(
    args: list[str] = typer.Argument(..., help="KIND/NAME then KEY=VALUE to set, KEY- to remove.", metavar="KIND/NAME KEY=VALUE... KEY-..."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Allow changing the value of an existing label."),
) -> None:
    """Set or remove labels on a container or node (a node's go to spec.labels, which nodeSelector matches)."""
    run_label(args, overwrite=overwrite, field="labels", verb="labeled")
