"""DLXC_EVENT_LOOP: uvloop by default, asyncio on request, anything else a clear error naming the variable."""
from __future__ import annotations

import asyncio

import pytest

from dlxc import eventloop


@pytest.mark.parametrize(("value", "loop"), [(None, "uvloop"), ("", "uvloop"), ("uvloop", "uvloop"), (" AsyncIO ", "asyncio")],
                         ids=["unset", "empty", "uvloop", "asyncio"])
def test_loop_name(monkeypatch: pytest.MonkeyPatch, value: str | None, loop: str) -> None:
    if value is None:
        monkeypatch.delenv(eventloop.ENV, raising=False)
    else:
        monkeypatch.setenv(eventloop.ENV, value)
    assert eventloop.loop_name() == loop


def test_a_name_that_is_no_loop_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(eventloop.ENV, "trio")
    with pytest.raises(ValueError, match="DLXC_EVENT_LOOP='trio' is not an event loop: use one of uvloop, asyncio"):
        eventloop.loop_name()


@pytest.mark.parametrize("name", ["uvloop", "asyncio"])
def test_run_uses_the_loop_asked_for(monkeypatch: pytest.MonkeyPatch, name: str) -> None:
    monkeypatch.setenv(eventloop.ENV, name)
    seen: list[str] = []

    async def main() -> None:
        seen.append(type(asyncio.get_running_loop()).__module__)

    eventloop.run(main())
    assert seen[0].startswith("uvloop" if name == "uvloop" else "asyncio")
