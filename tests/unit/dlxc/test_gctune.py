"""Garbage collection of the busy processes: young collections rarer, long-lived state frozen."""
from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from dlxc import gctune


@pytest.fixture
def restored() -> Iterator[None]:
    threshold = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*threshold)


@pytest.mark.usefixtures("restored")
def test_tune_makes_young_collections_wait_and_keeps_the_older_ratios() -> None:
    gc.set_threshold(700, 10, 10)
    gctune.tune()
    assert gc.get_threshold() == (gctune.YOUNG, 10, 10)
    gctune.tune(1000)
    assert gc.get_threshold() == (1000, 10, 10)


@pytest.mark.usefixtures("restored")
def test_freeze_exempts_what_is_alive_from_later_collections() -> None:
    state = [{"node": i} for i in range(1000)]
    frozen = gctune.freeze()
    assert frozen == gc.get_freeze_count() >= len(state)
    assert not any(state[0] is obj for obj in gc.get_objects())  # no generation holds it any more


@pytest.mark.usefixtures("restored")
def test_only_the_apiservers_own_process_tunes_the_collector(monkeypatch: pytest.MonkeyPatch) -> None:
    """`dlxc apiserver` tunes and freezes; an apiserver run inside another process (tests, tools) must not."""
    from apiserver.server import ApiServer, ApiServerSettings, config_for, create_app, serve

    ran: list[bool] = []
    monkeypatch.setattr(ApiServer, "run", lambda self: ran.append(self.own_process))
    gc.set_threshold(700, 10, 10)
    serve(ApiServerSettings(), host="127.0.0.1", port=1, insecure_http=True)
    assert ran == [True] and gc.get_threshold() == (gctune.YOUNG, 10, 10)
    assert ApiServer(config_for(create_app(ApiServerSettings()), host="127.0.0.1", port=1)).own_process is False


@pytest.mark.usefixtures("restored")
def test_freeze_when_freezes_once_ready_while_main_runs() -> None:
    """The scheduler freezes its caches once synced, not before; main's own end is awaited as it is."""
    import asyncio
    import logging

    seen: list[int] = []

    async def scenario() -> None:
        ready, stop = asyncio.Event(), asyncio.Event()

        async def main() -> None:
            await asyncio.sleep(0.01)
            seen.append(gc.get_freeze_count())  # not ready yet: nothing frozen
            ready.set()
            await asyncio.sleep(0.01)
            seen.append(gc.get_freeze_count())
            await stop.wait()

        async def wait_ready() -> None:
            await ready.wait()

        task = asyncio.ensure_future(gctune.freeze_when(main(), wait_ready, log=logging.getLogger("test")))
        await asyncio.sleep(0.05)
        stop.set()
        await asyncio.wait_for(task, 1.0)

    gc.unfreeze()
    asyncio.run(scenario())
    assert seen[0] == 0 and seen[1] > 0


@pytest.mark.usefixtures("restored")
def test_freeze_when_never_ready_does_not_freeze_and_passes_mains_error_on() -> None:
    import asyncio
    import logging

    async def main() -> None:
        raise RuntimeError("lost the apiserver")

    async def never() -> None:
        await asyncio.Event().wait()

    gc.unfreeze()
    with pytest.raises(RuntimeError, match="lost the apiserver"):
        asyncio.run(gctune.freeze_when(main(), never, log=logging.getLogger("test")))
    assert gc.get_freeze_count() == 0


@pytest.mark.usefixtures("restored")
def test_the_scheduler_command_tunes_the_collector(monkeypatch: pytest.MonkeyPatch) -> None:
    from dlxc.cli import components

    ran: list[object] = []
    monkeypatch.setattr(components, "_run_until_signal", lambda main, config, **kw: ran.append(main))
    monkeypatch.setattr(components, "_client_config", lambda server, token: None)
    gc.set_threshold(700, 10, 10)
    components.scheduler(server=None, token=None, config=None, seed=None, weight=None, leader_elect=False,
                         identity=None, log_level="warning")
    assert len(ran) == 1 and gc.get_threshold() == (gctune.YOUNG, 10, 10)


def test_freeze_when_cancelled_lets_main_finish_its_cleanup() -> None:
    """Leadership lost: the scheduler's run() cleans up (its tasks, its event recorder) before freeze_when returns."""
    import asyncio
    import logging

    cleaned: list[bool] = []

    async def main() -> None:
        try:
            await asyncio.Event().wait()
        finally:
            await asyncio.sleep(0.01)  # e.g. the event recorder's last flush
            cleaned.append(True)

    async def never() -> None:
        await asyncio.Event().wait()

    async def scenario() -> None:
        task = asyncio.ensure_future(gctune.freeze_when(main(), never, log=logging.getLogger("test")))
        await asyncio.sleep(0.01)
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        assert cleaned == [True]

    asyncio.run(scenario())
