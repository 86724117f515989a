"""The `dlxc` command: wires every verb module into one typer app."""
from __future__ import annotations

import typer

from dlxc.cli import apply as apply_cmd
from dlxc.cli import components, delete as delete_cmd, get as get_cmd, up as up_cmd
from dlxc.cli import cordon as cordon_cmd
from dlxc.cli import explain_placement as explain_cmd
from dlxc.cli import hollow_nodes as hollow_cmd
from dlxc.cli.config import config_app

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
app.command("up")(up_cmd.up)
app.command("down")(up_cmd.down)
app.command("cordon")(cordon_cmd.cordon)
app.command("uncordon")(cordon_cmd.uncordon)
app.command("explain-placement")(explain_cmd.explain_placement)
app.add_typer(config_app, name="config")
app.command("apiserver")(components.apiserver)
app.command("scheduler")(components.scheduler)
app.command("controller")(components.controller)
app.command("kubelet")(components.kubelet)
app.command("hollow-nodes")(hollow_cmd.hollow_nodes)


def main() -> None:
    app()
