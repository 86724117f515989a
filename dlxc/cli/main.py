"""The `dlxc` command: wires every verb module into one typer app."""
from __future__ import annotations

import typer

from dlxc.cli import adopt as adopt_cmd
from dlxc.cli import annotate as annotate_cmd
from dlxc.cli import apply as apply_cmd
from dlxc.cli import components, delete as delete_cmd, get as get_cmd, up as up_cmd
from dlxc.cli import cordon as cordon_cmd
from dlxc.cli import describe as describe_cmd
from dlxc.cli import diff as diff_cmd
from dlxc.cli import edit as edit_cmd
from dlxc.cli import explain as explain_cmd
from dlxc.cli import explain_placement as placement_cmd
from dlxc.cli import hollow_nodes as hollow_cmd
from dlxc.cli import init as init_cmd
from dlxc.cli import join as join_cmd
from dlxc.cli import label as label_cmd
from dlxc.cli import patch as patch_cmd
from dlxc.cli import power, reset as reset_cmd, schema as schema_cmd, shell as shell_cmd, status as status_cmd
from dlxc.cli import sync as sync_cmd
from dlxc.cli import wait as wait_cmd
from dlxc.cli.config import config_app
from dlxc.cli.node import node_app
from dlxc.cli.token import token_app
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
app.command("diff")(diff_cmd.diff)
app.command("describe")(describe_cmd.describe)
app.command("status")(status_cmd.status)
app.command("wait")(wait_cmd.wait)
app.command("start")(power.start)
app.command("stop")(power.stop)
app.command("restart")(power.restart)
app.command("sync")(sync_cmd.sync)
app.command("shell")(shell_cmd.shell)
app.command("schema")(schema_cmd.schema)
app.command("explain")(explain_cmd.explain)
app.command("adopt")(adopt_cmd.adopt)
app.command("up")(up_cmd.up)
app.command("down")(up_cmd.down)
app.command("init")(init_cmd.init)
app.command("join")(join_cmd.join)
app.command("reset")(reset_cmd.reset)
app.command("cordon")(cordon_cmd.cordon)
app.command("uncordon")(cordon_cmd.uncordon)
app.command("explain-placement")(placement_cmd.explain_placement)
app.command("label")(label_cmd.label)
app.command("annotate")(annotate_cmd.annotate)
app.command("edit")(edit_cmd.edit)
app.command("patch")(patch_cmd.patch)
app.add_typer(config_app, name="config")
app.add_typer(token_app, name="token")
app.add_typer(node_app, name="node")
app.add_typer(top_app, name="top")
app.command("apiserver")(components.apiserver)
app.command("scheduler")(components.scheduler)
app.command("controller")(components.controller)
app.command("kubelet")(components.kubelet)
app.command("hollow-nodes")(hollow_cmd.hollow_nodes)


def main() -> None:
    app()
