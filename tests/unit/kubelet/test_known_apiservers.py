"""The apiservers a kubelet learnt, kept in its lxcpath across restarts (kubelet.apiservers.KnownServers)."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from dlxc.client.api import Client
from dlxc.client.config import ClientConfig
from kubelet.apiservers import KnownServers

A, B, C, LB = "https://a:6443", "https://b:6443", "https://c:6443", "https://lb:6443"


def test_without_a_file_the_configured_servers_are_all() -> None:
    assert KnownServers(Path("/nonexistent/.dlxc-apiservers.json"), [A]).load() == [A]


def test_a_saved_list_is_read_back_after_the_configured_ones(tmp_path: Path) -> None:
    path = tmp_path / "known.json"
    assert KnownServers(path, [LB]).save([LB, A, B]) is True
    assert json.loads(path.read_text()) == {"configured": [LB], "servers": [LB, A, B]}
    assert KnownServers(path, [LB]).load() == [LB, A, B]


def test_the_configured_server_is_never_dropped(tmp_path: Path) -> None:
    path = tmp_path / "known.json"
    # The load balancer failed and the client moved on; the list it learnt no longer has it.
    KnownServers(path, [LB, A]).save([B, C])
    assert KnownServers(path, [LB, A]).load() == [LB, A, B, C]


def test_it_is_written_only_when_it_changed(tmp_path: Path) -> None:
    path = tmp_path / "known.json"
    KnownServers(path, [A]).save([A, B])
    before = path.stat().st_ino
    again = KnownServers(path, [A])
    again.load()
    assert again.save([A, B]) is False and path.stat().st_ino == before
    assert again.save([A, B, C]) is True and path.stat().st_ino != before  # a new file renamed over the old
    assert again.load() == [A, B, C]
    assert [p.name for p in tmp_path.iterdir()] == ["known.json"]  # no temporary file left


@pytest.mark.parametrize("text", ["{not json", "[1, 2]", '{"configured": ["https://a:6443"], "servers": "https://b:6443"}',
                                  '{"configured": ["https://a:6443"], "servers": [7]}'],
                         ids=["not-json", "not-a-mapping", "servers-not-a-list", "servers-not-urls"])
def test_a_broken_file_is_ignored(tmp_path: Path, text: str, caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "known.json"
    path.write_text(text)
    assert KnownServers(path, [A]).load() == [A]
    assert f"ignoring {path}" in caplog.text


def test_a_list_learnt_under_other_configured_servers_is_ignored(tmp_path: Path) -> None:
    """The kubelet was pointed at another apiserver (another cluster?): what it learnt before is not used."""
    path = tmp_path / "known.json"
    KnownServers(path, [A]).save([A, B])
    fresh = KnownServers(path, [C])
    assert fresh.load() == [C]
    assert fresh.save([C, A]) is True  # and the next refresh replaces it


def test_the_client_fails_over_to_added_servers_after_its_own() -> None:
    client = Client(ClientConfig(server=f"{A},{B}"))
    client.add_servers([B, f"{C}/", " ", LB])
    assert client.servers == [A, B, C, LB] and client.server == A


class _Started(Exception):
    """Raised by the network at Kubelet.run's first host change: what came before it is what a test looks at."""


class _StopAtBridge:
    @staticmethod
    def ensure_bridge(*_: object) -> None:
        raise _Started


@pytest.mark.parametrize(("interval", "want"), [(30.0, [A, B, C]), (0.0, [A])], ids=["refreshing", "refresh-off"])
def test_the_kubelet_adds_what_it_learnt_before_its_first_request(tmp_path: Path, interval: float, want: list[str]) -> None:
    import asyncio
    import ipaddress

    from kubelet.agent import Kubelet
    from kubelet.apiservers import KNOWN_FILE
    from kubelet.hostfeatures import HostFeatures
    from kubelet.idmap import IdMap
    from kubelet.settings import KubeletSettings

    settings = KubeletSettings(node_name="n1", lxc_path=tmp_path / "lxc", image_dir=tmp_path / "images",
                               subnet=ipaddress.IPv4Interface("10.99.0.1/24"), apiserver_refresh_interval=interval)
    KnownServers(settings.lxc_path / KNOWN_FILE, [A]).save([B, C])
    client = Client(ClientConfig(server=A, token="t"))  # never asked: the run stops before any request
    agent = Kubelet(client, None, None, _StopAtBridge, settings, idmap=IdMap(100000, 100000), host=HostFeatures())  # type: ignore[arg-type]
    with pytest.raises(_Started):
        asyncio.run(agent.run())
    assert client.servers == want and client.server == A
