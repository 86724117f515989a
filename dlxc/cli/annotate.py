"""`dlxc annotate KIND/NAME k=v k2- [--overwrite]`: set or remove annotations, as kubectl does."""
from __future__ import annotations

import typer

from dlxc.cli.label import run_label

__all__ = ["annotate"]


def annotate(
    args: list[str] = typer.Argument(..., help="KIND/NAME then KEY=VALUE to set, KEY- to remove.", metavar="KIND/NAME KEY=VALUE... KEY-..."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Allow changing the value of an existing annotation."),
) -> None:
    """Set or remove annotations on a container or node."""
    run_label(args, overwrite=overwrite, field="annotations", verb="annotated")
