"""What every verb shares: the client from config and flags, running a coroutine, exiting on errors."""
from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import typer

from dlxc.cli import console
from dlxc.client.api import Client
from dlxc.client.config import ConfigError, load_config
from dlxc.client.errors import ApiError

__all__ = ["run", "with_client"]

T = TypeVar("T")


def run(coro: Awaitable[T]) -> T:
    """Run a coroutine; API and client-config errors become one line on stderr and exit code 1."""
    try:
        return asyncio.run(coro)  # type: ignore[arg-type]
    except ApiError as exc:
        console.error(exc.message)
        raise typer.Exit(1) from None
    except ConfigError as exc:
        console.error(str(exc))
        raise typer.Exit(1) from None


def with_client(action: Callable[[Client], Awaitable[T]]) -> T:
    async def go() -> T:
        async with Client(load_config()) as client:
            return await action(client)

    return run(go())


def fail(message: str, code: int = 1) -> Any:
    console.error(message)
    raise typer.Exit(code)
