"""`dlxc enter NAME`: a login shell inside the container (bash when there is one, else /bin/sh)."""
from __future__ import annotations

import typer

from dlxc.cli.completion import complete_container_names

__all__ = ["LOGIN_SHELL", "enter"]

# One command for every image: bash -l where installed, else the POSIX shell as a login shell.
LOGIN_SHELL = ["/bin/sh", "-c", 'if command -v bash >/dev/null 2>&1; then exec bash -l; fi; exec /bin/sh -l']


def enter(
    name: str = typer.Argument(..., help="Container.", autocompletion=complete_container_names),
    user: str = typer.Option(None, "--user", "-u", help="User name or uid (default: root)."),
) -> None:
    """Open a login shell in the running container NAME (like `exec -it NAME -- bash -l`)."""
    from dlxc.cli.common import fail, with_client
    from dlxc.cli.exec import exec_params
    from dlxc.cli.session import run_session

    params = exec_params(LOGIN_SHELL, tty=True, stdin=True, user=user)
    outcome = with_client(lambda client: run_session(client, name, "exec", params, stdin=True, tty_mode=True), streaming=True)
    if outcome.message:
        fail(outcome.message, outcome.exit_code)
    raise typer.Exit(outcome.exit_code)
