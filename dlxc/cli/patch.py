"""`dlxc patch KIND/NAME --type merge -p '{...}'`: one RFC 7386 merge patch, as kubectl does."""
from __future__ import annotations

import json

import typer

from dlxc.cli import console
from dlxc.cli.objref import parse_ref

__all__ = ["patch"]


def patch(
    args: list[str] = typer.Argument(..., help="KIND/NAME (or KIND NAME).", metavar="KIND/NAME"),
    body: str = typer.Option(..., "--patch", "-p", help="The patch as JSON (or YAML), e.g. '{\"spec\": {\"cpu\": 2}}'."),
    type_: str = typer.Option("merge", "--type", help="Only merge (RFC 7386 JSON merge patch)."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Validate on the server, write nothing."),
) -> None:
    """Merge-patch one object; null removes a key. The server validates the result."""
    ref, rest = parse_ref(args)
    if rest:
        console.error(f"unexpected argument {rest[0]!r}; the patch goes in -p")
        raise typer.Exit(1)
    if type_ != "merge":
        console.error(f"--type {type_!r} is not supported; use --type merge (an RFC 7386 JSON merge patch)")
        raise typer.Exit(1)
    try:
        data = json.loads(body)
    except json.JSONDecodeError:
        import yaml

        try:
            data = yaml.safe_load(body)
        except yaml.YAMLError as exc:
            console.error(f"-p: not valid JSON or YAML: {str(exc).splitlines()[0]}")
            raise typer.Exit(1) from None
    if not isinstance(data, dict):
        console.error("-p: the patch must be an object, e.g. '{\"spec\": {\"cpu\": 2}}'")
        raise typer.Exit(1)

    async def go(client) -> None:  # type: ignore[no-untyped-def]
        from dlxc.client.errors import ApiError

        before = await client.get(ref.plural, ref.name)
        try:
            after = await client.patch(ref.plural, ref.name, data, dry_run=dry_run)
        except ApiError as exc:
            fields = [f"{d.get('field')}: {d.get('message')}" for d in exc.details if d.get("field")]
            console.error(f"{ref}: " + "; ".join([exc.message, *[f for f in fields if f not in exc.message]]))
            raise typer.Exit(1) from None
        from dlxc.apply.applier import image_change, rebuild_warning

        rebuild = image_change({**after, "kind": ref.kind.name}, before)
        if rebuild:
            console.warn(rebuild_warning(str(ref), rebuild))
        same = after["metadata"].get("resourceVersion") == before["metadata"].get("resourceVersion")
        if dry_run:
            console.out(f"{ref} patched (server dry run)")
        else:
            console.out(f"{ref} patched (no change)" if same else f"{ref} patched")

    from dlxc.cli.common import with_client

    with_client(go)
