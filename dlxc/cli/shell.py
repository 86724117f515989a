"""`dlxc shell`: the original design's interactive prompt (`dlxc> list nodes`, `deploy FILE`, `start NAME`, ...) on the CLI's own verbs.

Each shell verb calls the same function as its CLI verb (get.show, apply.run_apply,
power.power, ...), so the two can never disagree. On a terminal it has readline history
(kept in ~/.local/state/dlxc/shell_history) and tab completion of verbs, kinds, object
names and files; piped, it reads one command per line with no prompt, as a script.
"""
from __future__ import annotations

import asyncio
import cmd
import glob
import os
import shlex
import sys
from collections.abc import Awaitable
from pathlib import Path
from typing import Any, TypeVar

import click
import typer

from dlxc.apply.applier import delete_one
from dlxc.cli import console
from dlxc.cli.apply import load_or_fail, run_apply
from dlxc.cli.common import client_config
from dlxc.cli.describe import describe_object
from dlxc.cli.get import show
from dlxc.cli.power import power
from dlxc.cli.status import show_status
from dlxc.client.api import Client
from dlxc.client.errors import ApiError
from schemas import kind_for_plural

__all__ = ["DlxcShell", "history_path", "shell"]

T = TypeVar("T")
KINDS_WORDS = ["containers", "nodes"]


def history_path() -> Path:
    state = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(state) / "dlxc" / "shell_history"


class DlxcShell(cmd.Cmd):
    """The prompt; every do_* is one verb."""

    intro = "dlxc shell: list nodes|containers, describe KIND NAME, deploy FILE, start|stop|restart|delete NAME, status, quit"

    def __init__(self, runner: asyncio.Runner, client: Client, *, interactive: bool) -> None:
        super().__init__()
        self.runner = runner
        self.client = client
        self.interactive = interactive
        self.use_rawinput = interactive
        self.prompt = "dlxc> " if interactive else ""
        self.failures = 0

    # -- plumbing ---------------------------------------------------------------------------

    def _run(self, coro: Awaitable[T]) -> T | None:
        """Run one verb; its errors become one line and the prompt goes on."""
        try:
            return self.runner.run(coro)  # type: ignore[arg-type]
        except ApiError as exc:
            console.error(exc.message)
        except (click.exceptions.Exit, typer.Exit) as exc:
            if getattr(exc, "exit_code", 1) == 0:
                return None
        except ValueError as exc:
            console.error(str(exc))
        self.failures += 1
        return None

    def _check(self, code: Any) -> None:
        if isinstance(code, int) and code:
            self.failures += 1

    def emptyline(self) -> bool:
        return False  # an empty line does nothing (cmd would repeat the last command)

    def default(self, line: str) -> bool:
        console.error(f"unknown command {line.split()[0]!r}; type help")
        self.failures += 1
        return False

    def _names(self, plural: str, text: str) -> list[str]:
        try:
            items, _ = self.runner.run(self.client.list(plural))
        except ApiError:
            return []
        return sorted(i["metadata"]["name"] for i in items if i["metadata"]["name"].startswith(text))

    # -- verbs -----------------------------------------------------------------------------

    def do_list(self, arg: str) -> None:
        """list nodes|containers [-o wide|yaml|json|name]: what `dlxc get` shows."""
        words = shlex.split(arg)
        output = "table"
        if len(words) == 3 and words[1] == "-o":
            output = words[2]
        elif len(words) != 1:
            console.error("usage: list nodes|containers [-o wide|yaml|json|name]")
            self.failures += 1
            return
        try:
            kind = kind_for_plural(words[0])
        except KeyError:
            console.error(f"unknown kind {words[0]!r}; use nodes or containers")
            self.failures += 1
            return
        self._run(show(self.client, kind, output=output))

    def complete_list(self, text: str, line: str, begidx: int, endidx: int) -> list[str]:
        return [w for w in KINDS_WORDS if w.startswith(text)]

    def do_describe(self, arg: str) -> None:
        """describe container|node NAME: spec, status, conditions, events, placement."""
        words = shlex.split(arg)
        if len(words) != 2:
            console.error("usage: describe container|node NAME")
            self.failures += 1
            return
        try:
            kind = kind_for_plural(words[0])
        except KeyError:
            console.error(f"unknown kind {words[0]!r}; use container or node")
            self.failures += 1
            return
        self._run(describe_object(self.client, kind, words[1]))

    def complete_describe(self, text: str, line: str, begidx: int, endidx: int) -> list[str]:
        words = line[:begidx].split()
        if len(words) <= 1:
            return [w for w in ("container", "node") if w.startswith(text)]
        try:
            return self._names(kind_for_plural(words[1]).plural, text)
        except KeyError:
            return []

    def do_deploy(self, arg: str) -> None:
        """deploy FILE|DIR: what `dlxc apply -f` does."""
        paths = shlex.split(arg)
        if not paths:
            console.error("usage: deploy FILE|DIR")
            self.failures += 1
            return

        async def go() -> int:
            return await run_apply(self.client, load_or_fail(paths, recursive=False))

        self._check(self._run(go()))

    def complete_deploy(self, text: str, line: str, begidx: int, endidx: int) -> list[str]:
        return [p + ("/" if os.path.isdir(p) else "") for p in glob.glob(text + "*")]

    def _power(self, verb: str, arg: str) -> None:
        names = shlex.split(arg)
        if not names:
            console.error(f"usage: {verb} NAME...")
            self.failures += 1
            return
        self._check(self._run(power(self.client, verb, names)))

    def do_start(self, arg: str) -> None:
        """start NAME...: set spec.state to Running."""
        self._power("start", arg)

    def do_stop(self, arg: str) -> None:
        """stop NAME...: set spec.state to Stopped."""
        self._power("stop", arg)

    def do_restart(self, arg: str) -> None:
        """restart NAME...: ask the kubelet to restart the container."""
        self._power("restart", arg)

    def do_delete(self, arg: str) -> None:
        """delete NAME...: delete containers."""
        names = shlex.split(arg)
        if not names:
            console.error("usage: delete NAME...")
            self.failures += 1
            return

        async def go() -> int:
            missing = 0
            for name in names:
                result = await delete_one(self.client, "containers", name, ref=f"container/{name}")
                if result.action == "not found":
                    missing += 1
                    console.error(f"{result.ref} not found")
                else:
                    console.out(f"{result.ref} deleted")
            return missing

        self._check(self._run(go()))

    def _complete_containers(self, text: str, line: str, begidx: int, endidx: int) -> list[str]:
        return self._names("containers", text)

    complete_start = complete_stop = complete_restart = complete_delete = _complete_containers

    def do_status(self, arg: str) -> None:
        """status: the whole cluster on one screen."""
        self._run(show_status(self.client))

    def do_quit(self, arg: str) -> bool:
        """quit: leave the shell (also exit or Ctrl-D)."""
        return True

    do_exit = do_quit

    def do_EOF(self, arg: str) -> bool:  # noqa: N802 - the name cmd.Cmd calls on end of input
        if self.interactive:
            console.out("")
        return True


def shell() -> None:
    """An interactive prompt over the same verbs: list, describe, deploy, start, stop, restart, delete, status."""
    interactive = sys.stdin.isatty()
    history = history_path()
    readline: Any = None
    if interactive:
        try:
            import readline  # noqa: F401 - importing it gives input() history and completion
        except ImportError:
            readline = None
        if readline is not None:
            history.parent.mkdir(parents=True, exist_ok=True)
            if history.exists():
                readline.read_history_file(str(history))
            readline.set_history_length(1000)
    with asyncio.Runner() as runner:
        client = Client(client_config())
        prompt = DlxcShell(runner, client, interactive=interactive)
        try:
            prompt.cmdloop(intro=prompt.intro if interactive else "")
        except KeyboardInterrupt:
            console.out("")
        finally:
            runner.run(client.close())
            if readline is not None:
                readline.write_history_file(str(history))
    if prompt.failures and not interactive:
        raise typer.Exit(1)
