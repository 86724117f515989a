"""The real runtime keeps one liblxc handle per container for its state looks (no root needed: nothing runs)."""
from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest

from kubelet import runtime as runtime_module
from kubelet.runtime import LxcRuntime


def test_looks_reuse_one_handle_and_drop_it_when_the_container_is_gone(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    made: list[str] = []
    real = runtime_module.lxc.Container

    def counting(name: str, path: str) -> Any:
        made.append(name)
        return real(name, path)

    monkeypatch.setattr(runtime_module.lxc, "Container", counting)
    (tmp_path / "web").mkdir()
    (tmp_path / "web" / "config").write_text("lxc.uts.name = web\nlxc.rootfs.path = dir:/nonexistent\n")
    rt = LxcRuntime(tmp_path)
    for _ in range(3):
        found = rt.inspect("web")
        assert found is not None and found.state == "STOPPED" and ("lxc.uts.name", "web") in found.items
    assert rt.state("web") == "STOPPED" and rt.init_pids() == {}
    assert made == ["web"]  # one parse of the config, not one per look
    shutil.rmtree(tmp_path / "web")
    assert rt.inspect("web") is None and "web" not in rt._state_handles  # noqa: SLF001
    rt._state_handles["old"] = real("old", str(tmp_path))  # noqa: SLF001
    rt.init_pids()
    assert "old" not in rt._state_handles  # noqa: SLF001 - names no longer under the lxcpath are forgotten
