"""The `dlxc` command: a table of verbs, each imported only when it is the one asked for.

Every command should answer at once, so this module imports typer and nothing else of weight.
The table below holds each verb's name, where its function (or sub-app) lives and its one-line
help; `dlxc --help` and completion of verb names read only the table. A verb's module, with
its own imports (aiohttp, numpy, the scheduler, ...), is loaded when that verb runs or when its
own `--help` is asked. A new verb is one line here and one module under `dlxc/cli/`.
"""
from __future__ import annotations

from typing import Any

import typer
from typer.core import TyperGroup

__all__ = ["VERBS", "LazyGroup", "app", "main"]

# name: ("module:attribute", one-line help). Order is the order of `dlxc --help`.
VERBS: dict[str, tuple[str, str]] = {
    "apply": ("dlxc.cli.apply:apply", "Create or update the objects in the manifests; with --prune delete the ones left out."),
    "get": ("dlxc.cli.get:get", "List objects, or show one; with -w keep the table up to date."),
    "delete": ("dlxc.cli.delete:delete", "Delete objects by name or by manifest."),
    "diff": ("dlxc.cli.diff:diff", "Show what `apply` would change, as `diff -u` of live against would-be objects."),
    "describe": ("dlxc.cli.describe:describe", "Show one object in full: spec, status, conditions, events, placement."),
    "status": ("dlxc.cli.status:status", "One screen for the whole cluster."),
    "wait": ("dlxc.cli.wait:wait", "Wait until an object reaches a phase, condition or deletion."),
    "start": ("dlxc.cli.power:start", "Set spec.state to Running."),
    "stop": ("dlxc.cli.power:stop", "Set spec.state to Stopped."),
    "restart": ("dlxc.cli.power:restart", "Ask the kubelet to restart containers."),
    "sync": ("dlxc.cli.sync:sync", "Make the cluster match a folder; `sync status DIR` compares only."),
    "shell": ("dlxc.cli.shell:shell", "An interactive prompt over the same verbs."),
    "schema": ("dlxc.cli.schema:schema", "Write the JSON Schema of every manifest form."),
    "explain": ("dlxc.cli.explain:explain", "Document a kind or one of its fields."),
    "adopt": ("dlxc.cli.adopt:adopt", "Take over an LXC container dlxc did not create."),
    "backup": ("dlxc.cli.backup:backup_app", "Back up containers, list, delete and restore their backups."),
    "snapshot": ("dlxc.cli.snapshot:snapshot_app", "Take, list, restore and delete snapshots of a container's data."),
    "export": ("dlxc.cli.export:export", "Write a container's archive (rootfs and spec) to a file or stdout."),
    "import": ("dlxc.cli.importer:import_archive", "Create a container from an archive `export` wrote."),
    "move": ("dlxc.cli.move:move", "Move a container to another node (stop, archive, restore there, start)."),
    "drain": ("dlxc.cli.drain:drain", "Cordon a node and move every container off it."),
    "up": ("dlxc.cli.up:up", "Start a local cluster in the background."),
    "down": ("dlxc.cli.up:down", "Stop the local cluster's processes and containers."),
    "init": ("dlxc.cli.init:init", "Start a cluster's control plane on this host; print the join command."),
    "join": ("dlxc.cli.join:join", "Add this host to a cluster as a node (the command `init` printed)."),
    "server": ("dlxc.cli.server:server", "Run this host's control plane in the foreground (the dlxc-server unit)."),
    "reset": ("dlxc.cli.reset:reset", "Undo init or join on this host: processes, containers, state."),
    "node": ("dlxc.cli.node:node_app", "Manage the cluster's hosts (node remove)."),
    "certs": ("dlxc.cli.certs:certs_app", "Check and renew this host's certificates (check-expiration, renew)."),
    "scale": ("dlxc.cli.scale:scale", "Set the number of members of a set."),
    "rollout": ("dlxc.cli.rollout:rollout_app", "Follow or undo the rolling update of a set."),
    "cluster": ("dlxc.cli.cluster:cluster_app", "Build clusters: a front-end and N working nodes."),
    "cordon": ("dlxc.cli.cordon:cordon", "Mark nodes unschedulable: running containers stay."),
    "uncordon": ("dlxc.cli.cordon:uncordon", "Mark nodes schedulable again."),
    "explain-placement": ("dlxc.cli.explain_placement:explain_placement", "Show where each container of the manifests would be placed, and why."),
    "dashboard": ("dlxc.cli.dashboard:dashboard", "Print a one-time link that logs a browser into the web dashboard."),
    "label": ("dlxc.cli.label:label", "Set or remove labels on a container or node."),
    "annotate": ("dlxc.cli.annotate:annotate", "Set or remove annotations on a container or node."),
    "edit": ("dlxc.cli.edit:edit", "Open an object's YAML in $EDITOR and apply what is saved."),
    "patch": ("dlxc.cli.patch:patch", "Merge-patch one object; null removes a key."),
    "version": ("dlxc.cli.version:version", "Print the client's and the server's versions."),
    "config": ("dlxc.cli.config:config_app", "Show the client configuration, or add an apiserver to it."),
    "token": ("dlxc.cli.token:token_app", "Manage API tokens."),
    "top": ("dlxc.cli.top:top_app", "Show resource usage of containers or nodes."),
    "apiserver": ("dlxc.cli.components:apiserver", "Serve the API over etcd."),
    "scheduler": ("dlxc.cli.components:scheduler", "Bind unbound containers to nodes by weighted score."),
    "controller": ("dlxc.cli.components:controller", "Run the controllers (node lifecycle, container sets)."),
    "kubelet": ("dlxc.cli.components:kubelet", "Run the node agent: register, heartbeat, reconcile containers."),
    "hollow-nodes": ("dlxc.cli.hollow_nodes:hollow_nodes", "Register N hollow nodes (no LXC) for scale tests."),
    "exec": ("dlxc.cli.exec:exec_command", "Run a command inside a running container, on any node."),
    "enter": ("dlxc.cli.enter:enter", "Open a login shell inside a running container."),
    "logs": ("dlxc.cli.logs:logs", "Print a container's console output (this run or the previous one)."),
    "console": ("dlxc.cli.console_attach:console", "Attach to a container's console; Ctrl-a q detaches."),
    "passwd": ("dlxc.cli.passwd:passwd", "Set a user's password inside a container."),
    "terminal": ("dlxc.cli.terminal:terminal", "Print a one-time URL of a browser terminal in a container."),
}


def load_verb(name: str) -> Any:
    """The click command of one verb, importing its module now."""
    import importlib

    from typer.main import get_command_from_info, get_group
    from typer.models import CommandInfo

    target, short_help = VERBS[name]
    module_name, attribute = target.split(":")
    obj = getattr(importlib.import_module(module_name), attribute)
    if isinstance(obj, typer.Typer):
        group = get_group(obj)
        group.name = name
        return group
    return get_command_from_info(
        CommandInfo(name=name, callback=obj, short_help=short_help),
        pretty_exceptions_short=True,
        rich_markup_mode="rich",
    )


def _plain_values_without_pydantic() -> None:
    """Let typer hand plain strings (and lists of them) to a verb without pydantic.

    Typer (0.2x) coerces every parameter through a pydantic TypeAdapter, built on first use:
    importing pydantic and building the adapters costs more than the rest of `dlxc get`. A value
    that is already what the annotation asks for (a `str` for `str`, strings for `list[str]`, a
    bool for `bool`) needs no coercion; anything else (numbers, paths, choices, env strings for
    flags) still goes through typer's own code, so its checks and messages are unchanged.
    Typers without `build_runtime_param` (before 0.2x) never imported pydantic: nothing to do.
    """
    from typer import core

    original = getattr(core, "build_runtime_param", None)
    if original is None or getattr(original, "_dlxc_plain", False):
        return

    class PlainFirst:
        def __init__(self, descriptor: Any) -> None:
            self.descriptor = descriptor
            self.annotation = descriptor.annotation
            self.fallback: Any = None

        def coerce(self, value: Any, param: Any, ctx: Any) -> Any:
            many = param.multiple or param.nargs == -1
            if value is None:
                return () if many else None
            if self.annotation is str and not many and isinstance(value, str):
                return value
            if self.annotation == list[str] and isinstance(value, (list, tuple)) and all(isinstance(v, str) for v in value):
                return list(value)
            if self.annotation is bool and isinstance(value, bool):
                return value
            if self.fallback is None:
                self.fallback = original(self.descriptor)
            return self.fallback.coerce(value, param=param, ctx=ctx)

    def build(descriptor: Any) -> Any:
        # Private typer API: if its shape ever changes, fall back to typer's own (slower) path.
        try:
            plain = descriptor.file_annotation is None and descriptor.parameter_info.parser is None
        except AttributeError:
            plain = False
        return PlainFirst(descriptor) if plain else original(descriptor)

    build._dlxc_plain = True  # type: ignore[attr-defined]
    core.build_runtime_param = build  # type: ignore[attr-defined]


_plain_values_without_pydantic()


def usage_line(exc: Any) -> str:
    """`error: MESSAGE (see 'dlxc VERB --help')`: one line a script can grep and a user can act on."""
    message = " ".join(exc.format_message().split())
    where = f" (see '{exc.ctx.command_path} --help')" if exc.ctx is not None else ""
    return f"error: {message}{where}"


class LazyGroup(TyperGroup):
    """A group whose commands come from VERBS: listed from the table, imported when chosen."""

    def list_commands(self, ctx: Any) -> list[str]:
        return list(VERBS)

    def get_command(self, ctx: Any, cmd_name: str) -> Any:
        if cmd_name not in VERBS:
            return None
        if self.commands.get(cmd_name) is None:
            self.commands[cmd_name] = load_verb(cmd_name)
        return self.commands[cmd_name]

    def format_commands(self, ctx: Any, formatter: Any) -> None:
        with formatter.section("Commands"):
            formatter.write_dl([(name, short_help) for name, (_, short_help) in VERBS.items()])

    def shell_complete(self, ctx: Any, incomplete: str) -> list[Any]:
        from typer._click.shell_completion import CompletionItem

        verbs = [CompletionItem(name, help=help) for name, (_, help) in VERBS.items() if name.startswith(incomplete)]
        # Options of the group itself (--server, --help, ...) come from the plain Command.
        return verbs + super(TyperGroup, self).shell_complete(ctx, incomplete)

    def main(self, args: Any = None, prog_name: str | None = None, complete_var: str | None = None,
             standalone_mode: bool = True, **extra: Any) -> Any:
        """As click's, but a usage error is one line on stderr (`error: ...`), exit code 2."""
        if not standalone_mode:
            return super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        import sys

        from typer._click.exceptions import ClickException, NoArgsIsHelpError, UsageError
        from typer.exceptions import Abort

        try:
            code = super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        except NoArgsIsHelpError as exc:
            exc.show()
            sys.exit(exc.exit_code)
        except UsageError as exc:
            sys.stderr.write(usage_line(exc) + "\n")
            sys.exit(exc.exit_code)
        except ClickException as exc:
            sys.stderr.write(f"error: {exc.format_message()}\n")
            sys.exit(exc.exit_code)
        except Abort:
            sys.stderr.write("error: aborted\n")
            sys.exit(1)
        sys.exit(code if isinstance(code, int) else 0)

    def resolve_command(self, ctx: Any, args: list[str]) -> Any:
        # Suggestions for a typo ("Did you mean ...") come from the whole table, not only loaded verbs.
        self.commands = {**{name: None for name in VERBS}, **self.commands}  # type: ignore[dict-item]
        try:
            return super().resolve_command(ctx, args)
        finally:
            self.commands = {k: v for k, v in self.commands.items() if v is not None}


app = typer.Typer(
    cls=LazyGroup,
    help="dlxc: declarative LXC containers across many hosts.",
    no_args_is_help=True,
    add_completion=True,
    pretty_exceptions_enable=False,
    # Plain help for the verb list: rich costs more to import than the rest of `dlxc --help`.
    rich_markup_mode=None,
)


@app.callback()
def _root(
    ctx: typer.Context,
    server: str = typer.Option(None, "--server", "-s", envvar="DLXC_SERVER", help="The apiserver's URL (comma-separated for several)."),
    token: str = typer.Option(None, "--token", envvar="DLXC_TOKEN", help="The bearer token."),
) -> None:
    """dlxc: declarative LXC containers across many hosts."""
    ctx.obj = {"server": server, "token": token}


def main() -> None:
    app()
