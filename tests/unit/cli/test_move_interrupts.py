"""Ctrl-C during `dlxc move`/`drain`: asyncio.run's second press tears the loop down and cancels a move
between its delete and its create (its container left deleted); the commands take the presses themselves."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

SCRIPT = """
import asyncio, os, signal, sys
# As at a terminal: a run started in the background by a non-interactive shell (a CI job) inherits
# SIGINT ignored, and asyncio.run then takes no Ctrl-C at all.
signal.signal(signal.SIGINT, signal.default_int_handler)
from dlxc.apply.moves import _to_the_end
guarded = sys.argv[1] == "guarded"
finished = []

async def past_the_delete():
    await asyncio.sleep(1.0)
    finished.append("created on the target")

async def main():
    if guarded:
        from dlxc.cli.move import finish_moves_on_interrupt
        finish_moves_on_interrupt()
    loop = asyncio.get_running_loop()
    loop.call_later(0.1, os.kill, os.getpid(), signal.SIGINT)
    loop.call_later(0.3, os.kill, os.getpid(), signal.SIGINT)
    await _to_the_end(past_the_delete())

try:
    asyncio.run(main())
except (asyncio.CancelledError, KeyboardInterrupt) as exc:
    print(type(exc).__name__, finished)
"""


def run(mode: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", SCRIPT, mode], capture_output=True, text=True, timeout=30,
                          cwd=Path(__file__).resolve().parents[3])


def test_a_second_ctrl_c_does_not_cut_a_move_past_its_delete() -> None:
    unguarded = run("plain")
    assert unguarded.stdout == "KeyboardInterrupt []\n", unguarded.stderr  # what asyncio.run alone does
    guarded = run("guarded")
    assert guarded.stdout == "CancelledError ['created on the target']\n", guarded.stderr
    assert guarded.stderr.splitlines() == [
        "interrupted: a move past its delete finishes first (or goes back where it was); the others stop",
        "still finishing the moves past their delete; Ctrl-\\ quits at once, leaving such a container in its move's backup",
    ]
