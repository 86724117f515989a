"""The pure parts of the kubelet's stream server and the client's reading of its status."""
from __future__ import annotations

from pathlib import Path

import pytest

from dlxc.client.streams import Outcome, status_outcome
from kubelet.runtime import LxcRuntime
from kubelet.streams import _returncode, exit_status, failure_status


@pytest.mark.parametrize(
    ("raw", "code"),
    [pytest.param(0, 0, id="ok"), pytest.param(3, 3, id="exit-3"), pytest.param(-9, 137, id="sigkill"), pytest.param(-1, 129, id="sighup")],
)
def test_exit_codes_round_trip_through_the_status(raw: int, code: int) -> None:
    assert status_outcome(exit_status(_returncode(raw))) == Outcome(code)


def test_a_failure_that_is_no_exit_code_is_1_with_its_message() -> None:
    status = failure_status("container web is Stopped", reason="Conflict", code=409)
    assert status_outcome(status) == Outcome(1, "container web is Stopped")
    assert status_outcome({}) == Outcome(1, "the session failed")


def test_attach_command_clears_the_environment_and_sets_only_what_it_is_given(tmp_path: Path) -> None:
    argv = LxcRuntime(tmp_path).attach_command("web", ["id", "-u"], uid=1000, gid=100, env={"HOME": "/home/a", "X": "1 2"})
    assert argv == [
        "lxc-attach", "--name", "web", "--lxcpath", str(tmp_path), "--clear-env", "--uid", "1000", "--gid", "100",
        "--set-var", "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        "--set-var", "HOME=/home/a", "--set-var", "X=1 2", "--", "id", "-u",
    ]
    with pytest.raises(ValueError):
        LxcRuntime(tmp_path).attach_command("../etc", ["true"])


def test_console_log_files_oldest_first_and_previous(tmp_path: Path) -> None:
    runtime = LxcRuntime(tmp_path)
    directory = tmp_path / "web"
    directory.mkdir()
    assert runtime.console_log_files("web") == []
    (directory / "console.log").write_text("new\n")
    (directory / "console.log.1").write_text("old\n")
    assert runtime.console_log_files("web") == [directory / "console.log.1", directory / "console.log"]
    runtime._rotate_console_log("web")
    assert runtime.console_log_files("web") == []
    assert runtime.console_log_files("web", previous=True) == [directory / "console.previous.log"]
    assert (directory / "console.previous.log").read_text() == "old\nnew\n"


def test_an_exec_child_is_waited_for_without_a_thread_of_its_own() -> None:
    import asyncio
    import sys
    import threading

    from kubelet.streams import wait_children_by_pidfd

    async def go() -> tuple[int, int]:
        installed = wait_children_by_pidfd(asyncio.get_running_loop())
        assert installed or sys.version_info >= (3, 12)  # 3.12 waits by pidfd by itself
        try:
            before = threading.active_count()
            proc = await asyncio.create_subprocess_exec("sleep", "0.2")
            during = threading.active_count()
            assert await proc.wait() == 0
            return before, during
        finally:
            if installed:
                asyncio.set_child_watcher(None)  # the next test's loop gets asyncio's default again

    before, during = asyncio.run(go())
    assert during == before


def test_the_state_check_reuses_one_liblxc_handle_and_still_sees_a_deletion(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import shutil

    import lxc

    made: list[str] = []

    class Counted(lxc.Container):  # type: ignore[misc]
        def __init__(self, name: str, config_path: str | None = None) -> None:
            made.append(name)
            super().__init__(name, config_path)

    monkeypatch.setattr(lxc, "Container", Counted)
    runtime = LxcRuntime(tmp_path)
    (tmp_path / "web").mkdir()
    (tmp_path / "web" / "config").write_text("lxc.uts.name = web\n")
    assert [runtime.state("web") for _ in range(3)] == ["STOPPED"] * 3
    assert made == ["web"]  # one parse of the config, not one per exec
    shutil.rmtree(tmp_path / "web")
    assert runtime.state("web") is None  # the handle stats the config file at each ask
    (tmp_path / "web").mkdir()
    (tmp_path / "web" / "config").write_text("lxc.uts.name = web\n")
    assert runtime.state("web") == "STOPPED"


def test_a_followed_log_goes_on_from_its_dump_and_ends_when_its_client_drops(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # A real aiohttp server as the kubelet runs it: no handler is cancelled when its client leaves.
    import asyncio

    from aiohttp import web

    from kubelet import streams
    from kubelet.settings import KubeletSettings

    runtime = LxcRuntime(tmp_path)
    monkeypatch.setattr(runtime, "state", lambda name: "RUNNING")
    log = tmp_path / "web" / "console.log"
    log.parent.mkdir()
    log.write_bytes(b"dumped\n")
    monkeypatch.setattr(streams.StreamServer, "_authorized", lambda self, request: None)
    real_follower, real_follow = streams.LogFollower, streams.follow_log

    def follower_after_a_write(*args, **kwargs):  # type: ignore[no-untyped-def]
        with open(log, "ab") as fh:
            fh.write(b"written-during-the-dump\n")  # after the dump went out, before the follow began
        return real_follower(*args, **kwargs)

    ended = asyncio.Event()

    async def watched_follow(*args, **kwargs):  # type: ignore[no-untyped-def]
        try:
            async for chunk in real_follow(*args, **{**kwargs, "interval": 0.01}):
                yield chunk
        finally:
            ended.set()

    monkeypatch.setattr(streams, "LogFollower", follower_after_a_write)
    monkeypatch.setattr(streams, "follow_log", watched_follow)

    async def go() -> bytes:
        server = streams.StreamServer(runtime, KubeletSettings(node_name="n", lxc_path=tmp_path, image_dir=tmp_path), apiserver="127.0.0.1:1")
        runner = web.AppRunner(server.app(), access_log=None, handle_signals=False, shutdown_timeout=1.0)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        try:
            port = runner.addresses[0][1]
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(b"GET /logs/web?follow=1&tail=1 HTTP/1.1\r\nHost: kubelet\r\n\r\n")
            received = b""
            while b"written-during-the-dump\n" not in received:
                received += await asyncio.wait_for(reader.read(4096), 5)
            writer.close()
            await writer.wait_closed()
            await asyncio.wait_for(ended.wait(), 5)  # the follow stopped: no poll left running for nobody
            return received
        finally:
            await runner.cleanup()

    received = asyncio.run(go())
    assert b"dumped\n" in received
