"""The pipe that carries an archive streamed through the apiserver into the unpacking thread."""
from __future__ import annotations

import io
import threading

import pytest

from kubelet.restores import _Pipe


def test_bytes_fed_in_chunks_read_back_whole_in_any_sizes() -> None:
    data = bytes(range(256)) * 5000
    pipe = _Pipe(depth=2)

    def feed() -> None:
        for i in range(0, len(data), 70000):
            assert pipe.feed(data[i:i + 70000])
        pipe.feed(None)

    threading.Thread(target=feed).start()
    got = io.BytesIO()
    for size in (1, 511, 131072, -1):
        got.write(pipe.read(size))
    while chunk := pipe.read(1 << 20):
        got.write(chunk)
    assert got.getvalue() == data


def test_a_broken_transfer_is_an_error_at_the_end_not_a_short_file() -> None:
    pipe = _Pipe()
    pipe.feed(b"abc")
    pipe.error = RuntimeError("cannot reach the kubelet of node n1")
    pipe.feed(None)
    assert pipe.read(10) == b"abc"
    with pytest.raises(OSError, match="^the transfer broke: cannot reach the kubelet of node n1$"):
        pipe.read(10)


def test_closing_releases_a_waiting_sender_and_a_waiting_reader() -> None:
    pipe = _Pipe(depth=1)
    assert pipe.feed(b"x")
    results: list[bool] = []
    sender = threading.Thread(target=lambda: results.append(pipe.feed(b"y")))
    sender.start()
    pipe.close()
    sender.join(timeout=5)
    assert results == [False]
    assert pipe.read(1) == b"x"
    with pytest.raises(OSError, match="abandoned"):
        pipe.read(1)


def test_the_loop_sends_without_a_worker_thread_and_waits_for_room() -> None:
    import asyncio
    from concurrent.futures import ThreadPoolExecutor

    pipe = _Pipe(depth=1)
    got: list[bytes] = []

    async def go() -> list[bool]:
        # The default pool's only thread is taken: send must not need one (the unpacking holds the
        # render's thread, and a few restores at once would otherwise wait on each other for ever).
        loop = asyncio.get_running_loop()
        blocked = threading.Event()
        loop.set_default_executor(ThreadPoolExecutor(max_workers=1))
        hog = loop.run_in_executor(None, blocked.wait)
        reader = threading.Thread(target=lambda: got.extend(pipe.read(1) for _ in range(3)))
        reader.start()
        sent = [await pipe.send(b"a"), await pipe.send(b"b"), await pipe.send(b"c")]  # room only as the reader takes
        reader.join(timeout=5)
        pipe.close()
        sent.append(await pipe.send(None))  # closed: nobody reads any more
        blocked.set()
        await hog
        return sent

    assert asyncio.run(asyncio.wait_for(go(), 10)) == [True, True, True, False]
    assert got == [b"a", b"b", b"c"]
