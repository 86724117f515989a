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
