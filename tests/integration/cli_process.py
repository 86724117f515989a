"""`dlxc` run as a process of its own, for tests that must act on what the CLI has shown so far."""
from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any


def dlxc_acting_on(api: Any, tmp_path: Path, args: list[str], trigger: str, act: Callable[[], None]) -> tuple[int, str, str]:
    """`dlxc ARGS` as a process of its own (env as the `cli` fixture gives), its stdout read line by
    line: `act()` runs once, as soon as a line fully matches the regex `trigger`, so what it does
    follows what the CLI has shown, not a guess at how long that takes. (exit code, stdout, stderr)."""
    env = {**api.env(), "DLXC_INVENTORY_DIR": str(tmp_path / "inventory"), "XDG_STATE_HOME": str(tmp_path / "state")}
    lines: list[str] = []
    with (tmp_path / "dlxc.stderr").open("w+") as err, subprocess.Popen(
        [str(Path(sys.executable).parent / "dlxc"), *args], env=env, stdout=subprocess.PIPE, stderr=err, text=True,
    ) as proc:
        assert proc.stdout is not None
        acted = False
        for line in proc.stdout:
            lines.append(line)
            if not acted and re.fullmatch(trigger, line.rstrip("\n")):
                acted = True
                act()
        code = proc.wait(timeout=30)
        err.seek(0)
        return code, "".join(lines), err.read()
