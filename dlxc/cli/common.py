"""What every verb shares: the client from config and flags, running a coroutine, exiting on errors."""
from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, TypeVar

import typer

from dlxc.cli import console
from dlxc.client.config import ClientConfig, ConfigError, load_config
from dlxc.client.errors import ApiError

if TYPE_CHECKING:
    from dlxc.client.api import Client

__all__ = ["client_config", "duration", "fail", "run", "seconds", "with_client"]

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


def client_config() -> ClientConfig:
    """The client config, with the global --server/--token of this command line over it."""
    from typer._click.globals import get_current_context

    ctx = get_current_context(silent=True)
    flags = (ctx.find_root().obj if ctx is not None else None) or {}
    try:
        return load_config(server=flags.get("server"), token=flags.get("token"))
    except ConfigError as exc:  # a broken config file, or a $DLXC_CONFIG naming none
        return fail(str(exc))


def with_client(action: Callable[[Client], Awaitable[T]], *, streaming: bool = False) -> T:
    """Run `action` with a client. One-shot requests use the stdlib OneShotClient (nothing heavy
    to import); a verb that watches or waits (`streaming`) gets the aiohttp Client."""

    async def go() -> T:
        if streaming:
            from dlxc.client.api import Client

            async with Client(client_config()) as client:
                return await action(client)
        from dlxc.client.oneshot import OneShotClient

        async with OneShotClient(client_config()) as oneshot:
            return await action(oneshot)  # type: ignore[arg-type]

    return run(go())


def seconds(text: str, *, flag: str) -> float:
    """A duration flag's value in seconds: 30s, 2m, 1h, 500ms or plain seconds; else a usage error."""
    from dlxc.client.waiter import parse_duration

    try:
        return parse_duration(text)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint=f"'{flag}'") from None


def duration(value: Any) -> float:
    """A typer `parser=` for number-of-seconds flags that also take 30s, 2m, 1h or 500ms."""
    if isinstance(value, (int, float)):
        return float(value)
    from dlxc.client.waiter import parse_duration

    try:
        return parse_duration(str(value))
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from None


def fail(message: str, code: int = 1) -> Any:
    console.error(message)
    raise typer.Exit(code)
