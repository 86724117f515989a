"""`dlxc exec NAME [-i] [-t] -- CMD...`: run a command inside a running container on any node, through the API."""
from __future__ import annotations

import typer

from dlxc.cli.completion import complete_container_names

__all__ = ["exec_command", "exec_params"]


def exec_params(
    command: list[str], *, tty: bool, stdin: bool, user: str | None = None, env: list[str] | None = None, cwd: str | None = None
) -> list[tuple[str, str]]:
    """The query of an exec request (shared with `enter`, `passwd` and the benchmark)."""
    params = [("command", arg) for arg in command]
    params += [("stdin", "1" if stdin else "0"), ("tty", "1" if tty else "0")]
    if user:
        params.append(("user", user))
    params += [("env", item) for item in env or []]
    if cwd:
        params.append(("cwd", cwd))
    return params


def exec_command(
    name: str = typer.Argument(..., help="Container.", autocompletion=complete_container_names),
    command: list[str] = typer.Argument(..., help="Command and arguments (after --)."),
    stdin: bool = typer.Option(False, "--stdin", "-i", help="Forward stdin to the command (EOF closes it)."),
    tty: bool = typer.Option(False, "--tty", "-t", help="Give the command a terminal that follows this one's size; raw mode."),
    user: str = typer.Option(None, "--user", "-u", help="User name or uid to run as (default: root)."),
    env: list[str] = typer.Option(None, "--env", "-e", help="KEY=VALUE for the command's environment; repeatable."),
    cwd: str = typer.Option(None, "--cwd", "-w", help="Working directory inside the container."),
) -> None:
    """Run CMD in the running container NAME; its exit code is dlxc's (a signal death: 128+N)."""
    from dlxc.cli.common import fail, with_client
    from dlxc.cli.session import run_session

    for item in env or []:
        if "=" not in item or item.startswith("="):
            fail(f"--env {item!r} must be KEY=VALUE", 2)
    params = exec_params(command, tty=tty, stdin=stdin, user=user, env=env, cwd=cwd)
    outcome = with_client(lambda client: run_session(client, name, "exec", params, stdin=stdin, tty_mode=tty), streaming=True)
    if outcome.message:
        fail(outcome.message, outcome.exit_code)
    raise typer.Exit(outcome.exit_code)
