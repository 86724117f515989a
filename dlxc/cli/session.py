"""Running an exec or console session at the user's terminal: raw mode, stdin, window size, exit code."""
from __future__ import annotations

import asyncio
import os
import shutil
import signal
import sys
import termios
import threading
import tty
from typing import Any

from dlxc.client.api import Client
from dlxc.client.streams import CHANNEL_STDERR, Outcome, Stream, open_stream

__all__ = ["run_session", "terminal_size"]

_READ = 64 * 1024


def terminal_size() -> tuple[int, int]:
    size = shutil.get_terminal_size((80, 24))
    return size.columns, size.lines


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        try:
            view = view[os.write(fd, view):]
        except BrokenPipeError:
            return


def _pump_stdin(loop: asyncio.AbstractEventLoop, stream: Stream, stop: threading.Event) -> None:
    """Blocking reads in a thread (works for files, pipes and terminals alike); each chunk waits until
    it is sent, so a slow container never makes this process buffer stdin."""
    try:
        while not stop.is_set():
            try:
                data = os.read(0, _READ)
            except OSError:
                data = b""
            if stop.is_set():
                return
            if not data:
                asyncio.run_coroutine_threadsafe(stream.close_stdin(), loop).result()
                return
            asyncio.run_coroutine_threadsafe(stream.send_stdin(data), loop).result()
    except Exception:  # the session ended while sending: nothing left to feed
        return


async def run_session(
    client: Client, name: str, subresource: str, params: list[tuple[str, str]], *, stdin: bool, tty_mode: bool,
    before: bytes = b"",
) -> Outcome:
    """Open the stream, wire it to this process's stdin/stdout/stderr (raw terminal with tty), return how it ended."""
    if tty_mode:
        width, height = terminal_size()
        params = [*params, ("width", str(width)), ("height", str(height)), ("term", os.environ.get("TERM", "xterm"))]
    stream = await open_stream(client, name, subresource, params)
    if before:
        _write_all(1, before)
    loop = asyncio.get_running_loop()
    saved: Any = None
    stop = threading.Event()
    if tty_mode and os.isatty(0):
        saved = termios.tcgetattr(0)
        tty.setraw(0, termios.TCSANOW)  # not the default TCSAFLUSH: it would drop what was typed ahead
    if tty_mode:
        loop.add_signal_handler(signal.SIGWINCH, lambda: asyncio.ensure_future(stream.resize(*terminal_size())))
    if stdin:
        # A daemon thread: a blocking read of a terminal cannot be interrupted; it ends with the process.
        threading.Thread(target=_pump_stdin, args=(loop, stream, stop), daemon=True).start()
    try:
        return await stream.output(lambda channel, data: _write_all(2 if channel == CHANNEL_STDERR else 1, data))
    finally:
        stop.set()
        if tty_mode:
            loop.remove_signal_handler(signal.SIGWINCH)
        if saved is not None:
            termios.tcsetattr(0, termios.TCSADRAIN, saved)
        sys.stdout.flush()
