"""Where an init/join host keeps things, and what reset may delete."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from dlxc.cluster.host import HostLayout, reset_host


def test_defaults_and_state_dir() -> None:
    assert HostLayout.of(None) == HostLayout(Path("/etc/dlxc"), Path("/var/lib/dlxc"), Path("/var/log/dlxc"))
    layout = HostLayout.of(Path("/srv/h1"))
    assert (layout.etc, layout.data, layout.log, layout.lxc_path, layout.pki) == (
        Path("/srv/h1/etc"), Path("/srv/h1/data"), Path("/srv/h1/log"), Path("/srv/h1/data/lxc"), Path("/srv/h1/etc/pki"))


def test_reset_refuses_a_folder_init_or_join_did_not_make(tmp_path: Path) -> None:
    (tmp_path / "etc").mkdir()
    (tmp_path / "etc" / "precious").write_text("keep me")
    with pytest.raises(RuntimeError, match="holds no host that `dlxc init` or `dlxc join` set up"):
        reset_host(HostLayout.of(tmp_path))
    assert (tmp_path / "etc" / "precious").read_text() == "keep me"


def test_init_and_join_refuse_the_folder_of_a_dlxc_up_cluster(tmp_path: Path) -> None:
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "layout.json").write_text("{}")
    with pytest.raises(RuntimeError, match="holds a `dlxc up` cluster; stop it with `dlxc down --purge`"):
        HostLayout.of(tmp_path).make()
    assert not (tmp_path / "etc").exists()


def test_reset_cli_says_why_and_exits_1(tmp_path: Path) -> None:
    result = subprocess.run([sys.executable, "-m", "dlxc", "reset", "--state-dir", str(tmp_path), "--yes"],
                            capture_output=True, text=True, timeout=30, check=False)
    assert (result.returncode, result.stdout) == (1, "")
    assert result.stderr == (f"error: {tmp_path / 'etc'} holds no host that `dlxc init` or `dlxc join` set up; not removing anything "
                             f"(a `dlxc up` cluster is removed with `dlxc down --purge`)\n")


def _answers(monkeypatch: pytest.MonkeyPatch, *answers: object) -> list[str]:
    """httpx.patch gives `answers` in turn (an exception is raised); returns the URLs asked."""
    import httpx

    from dlxc.cluster import host

    asked: list[str] = []
    pending = list(answers)

    def patch(url: str, **kwargs: object) -> httpx.Response:
        asked.append(url)
        answer = pending.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return httpx.Response(answer, text="no")  # type: ignore[arg-type]

    monkeypatch.setattr(host.httpx, "patch", patch)
    monkeypatch.setattr(host.time, "sleep", lambda seconds: None)
    return asked


def test_recording_the_address_waits_out_an_apiserver_away_for_a_moment(monkeypatch: pytest.MonkeyPatch) -> None:
    import httpx

    from dlxc.client.config import ClientConfig
    from dlxc.cluster.host import annotate_address

    asked = _answers(monkeypatch, httpx.ConnectError("refused"), 503, 200)
    annotate_address(ClientConfig(server="https://127.0.0.1:9", token="t"), "n2", "127.0.0.2")
    assert asked == ["https://127.0.0.1:9/apis/dlxc.io/v1/nodes/n2"] * 3


def test_recording_the_address_refused_says_how_to_finish_by_hand(monkeypatch: pytest.MonkeyPatch) -> None:
    from dlxc.client.config import ClientConfig
    from dlxc.cluster.host import annotate_address

    asked = _answers(monkeypatch, 403)
    with pytest.raises(RuntimeError) as refused:
        annotate_address(ClientConfig(server="https://127.0.0.1:9", token="t"), "n2", "127.0.0.2")
    assert len(asked) == 1
    assert str(refused.value) == ("node n2 is up, but recording its address failed (HTTP 403: no); "
                                  "run `dlxc annotate node/n2 dlxc.io/advertise-address=127.0.0.2 --overwrite`")
