"""sync --watch keeps watching: a failed or ended file watch is made again, a missing folder is watched once it exists."""
from __future__ import annotations

import asyncio
import logging
import sys
import types
from pathlib import Path
from typing import Any

import pytest

from dlxc.apply import sync


def test_a_failed_watch_is_made_again_and_a_missing_folder_is_watched_once_it_exists(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture,
) -> None:
    later = tmp_path / "later"
    calls: list[tuple[str, ...]] = []
    fail, deliver = asyncio.Event(), asyncio.Event()

    async def awatch(*roots: str, **_: Any) -> Any:
        calls.append(roots)
        if len(calls) == 1:
            await fail.wait()
            raise OSError(28, "inotify watch limit reached")
        await deliver.wait()
        yield {("modified", roots[-1])}
        await asyncio.sleep(3600)

    monkeypatch.setitem(sys.modules, "watchfiles", types.SimpleNamespace(awatch=awatch))

    async def until(check: Any) -> None:
        async def poll() -> None:
            while not check():
                await asyncio.sleep(0.01)
        await asyncio.wait_for(poll(), 5)

    async def go() -> None:
        changed, ready = asyncio.Event(), asyncio.Event()
        watcher = asyncio.create_task(sync._watch_files([str(tmp_path), str(later)], changed, ready, again_after=0.05))
        try:
            await asyncio.wait_for(ready.wait(), 5)
            await until(lambda: len(calls) == 1)
            later.mkdir()
            fail.set()
            await until(lambda: len(calls) == 2)  # made again after the failure
            changed.clear()
            deliver.set()
            await asyncio.wait_for(changed.wait(), 5)  # and it delivers changes
        finally:
            watcher.cancel()
            await asyncio.gather(watcher, return_exceptions=True)

    with caplog.at_level(logging.WARNING, logger="dlxc.sync"):
        asyncio.run(go())
    assert calls[0] == (str(tmp_path),)
    assert calls[1] == (str(tmp_path), str(later))  # the folder that appeared is watched too
    assert any("inotify watch limit reached; watching again" in r.getMessage() for r in caplog.records)


def test_a_folder_that_appears_is_watched_while_the_others_are(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                              caplog: pytest.LogCaptureFixture) -> None:
    """One path watched, one missing: the watch is made again now and then to take the missing one in,
    quietly (no warning, no sync round), and a round once it is there."""
    later = tmp_path / "later"
    calls: list[tuple[str, ...]] = []

    async def awatch(*roots: str, stop_event: asyncio.Event, **_: Any) -> Any:
        calls.append(roots)
        await stop_event.wait()
        return
        yield  # an async generator that ends when told to

    monkeypatch.setitem(sys.modules, "watchfiles", types.SimpleNamespace(awatch=awatch))

    async def go() -> tuple[bool, bool]:
        changed, ready = asyncio.Event(), asyncio.Event()
        watcher = asyncio.create_task(sync._watch_files([str(tmp_path), str(later)], changed, ready, again_after=0.05))
        try:
            while len(calls) < 3:
                await asyncio.sleep(0.01)
            quiet = changed.is_set()  # the looks while it is missing start no round
            later.mkdir()
            for _ in range(500):
                if calls[-1] == (str(tmp_path), str(later)):
                    break
                await asyncio.sleep(0.01)
            return quiet, changed.is_set()  # its appearing does: it may hold files already
        finally:
            watcher.cancel()
            await asyncio.gather(watcher, return_exceptions=True)

    with caplog.at_level(logging.WARNING, logger="dlxc.sync"):
        assert asyncio.run(go()) == (False, True)
    assert calls[0] == (str(tmp_path),) and calls[-1] == (str(tmp_path), str(later))
    assert [r.getMessage() for r in caplog.records] == []
