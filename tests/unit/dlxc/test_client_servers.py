"""Which apiservers a client uses once it has read the advertised list (dlxc.client.api.merge_servers)."""
from __future__ import annotations

from typing import Any

import pytest

from dlxc.client.api import merge_servers


@pytest.mark.parametrize(("servers", "current", "advertised", "want"), [
    (["https://a:1"], 0, [], (["https://a:1"], 0)),
    (["https://a:1"], 0, ["https://b:1", "https://a:1/"], (["https://b:1", "https://a:1"], 1)),
    (["https://lb:1"], 0, ["https://a:1", "https://b:1"], (["https://lb:1", "https://a:1", "https://b:1"], 0)),
    (["https://a:1", "https://dead:1"], 1, ["https://a:1", "https://b:1"], (["https://dead:1", "https://a:1", "https://b:1"], 0)),
    (["https://a:1", "https://b:1"], 0, ["https://b:1", "https://b:1", 7], (["https://a:1", "https://b:1"], 0)),
], ids=["none-advertised", "current-kept-in-place", "unadvertised-current-first", "in-use-kept-until-it-fails", "dedup-and-junk"])
def test_merge_servers(servers: list[str], current: int, advertised: list[Any], want: tuple[list[str], int]) -> None:
    assert merge_servers(servers, current, advertised) == want
