"""The `dlxc` command: wires every verb module into one typer app."""
from __future__ import annotations

import typer

from dlxc.cli import adopt as adopt_cmd
from dlxc.cli import apply as apply_cmd
from dlxc.cli import components, delete as delete_cmd, get as get_cmd, up as up_cmd
from dlxc.cli.config import config_app
from dlxc.cli.top import top_app

__all__ = ["app", "main"]

app = typer.Typer(
    help="dlxc: declarative LXC containers across many hosts.",
    no_args_is_help=True,
    add_completion=True,
    pretty_exceptions_enable=False,
)
app.command("apply")(apply_cmd.apply)
app.command("get")(get_cmd.get)
app.command("delete")(delete_cmd.delete)
app.command("adopt")(adopt_cmd.adopt)
app.command("up")(up_cmd.up)
app.command("down")(up_cmd.down)
app.add_typer(config_app, name="config")
app.add_typer(top_app, name="top")
app.command("apiserver")(components.apiserver)
app.command("scheduler")(components.scheduler)
app.command("controller")(components.controller)
app.command("kubelet")(components.kubelet)


def main() -> None:
    app()
