"""`dlxc dashboard`: a one-time link that logs a browser into the web dashboard with your token."""
from __future__ import annotations

import webbrowser
from typing import TYPE_CHECKING

import typer

from dlxc.cli import console
from dlxc.cli.common import with_client

if TYPE_CHECKING:
    from dlxc.client.api import Client

__all__ = ["dashboard", "login_link"]


async def login_link(client: Client) -> tuple[str, int]:
    """The link (on the apiserver the client talks to: the code lives in its memory) and its lifetime."""
    got = await client.request("POST", "/ui/login-link")
    return client.server.rstrip("/") + got["path"], int(got.get("expiresInSeconds", 0))


def dashboard(
    open_browser: bool = typer.Option(False, "--open", help="Open the link in the default browser too."),
) -> None:
    """Print a link to the web dashboard that logs in as you, once, within two minutes."""
    url, _ = with_client(login_link)
    console.out(url)
    if open_browser and not webbrowser.open(url):
        console.warn("no browser could be opened here; open the link yourself")
