"""Where `dlxc backup restore` binds the container: the node that wrote the archive while it is Ready,
else a node the scheduler picks (the archive then comes from a shared --backup-dir): bound to a removed
or dead node, it stayed Pending for good."""
from __future__ import annotations

import asyncio
import copy
from typing import Any

import pytest
import typer

from dlxc.cli.backup import restore_container
from dlxc.client.errors import NotFound

BACKUP = {"metadata": {"name": "web-20261130-030000"}, "spec": {"container": "web"},
          "status": {"phase": "Completed", "node": "n1", "containerSpec": {"image": "busybox", "nodeSelector": {"disk": "ssd"}}}}


def node(name: str, *, ready: bool = True, labels: dict[str, str] | None = None) -> dict:
    return {"metadata": {"name": name, "labels": labels or {}}, "spec": {},
            "status": {"conditions": [{"type": "Ready", "status": "True" if ready else "Unknown"}],
                       "allocatable": {"cpu": 4, "memory": 8 * 2**30, "disk": 2**40, "containers": 100}}}


class Api:
    def __init__(self, nodes: list[dict]) -> None:
        self.store: dict[str, dict[str, dict]] = {"nodes": {n["metadata"]["name"]: n for n in nodes},
                                                  "backups": {BACKUP["metadata"]["name"]: BACKUP}, "containers": {}}

    async def get(self, plural: str, name: str) -> dict:
        if name not in self.store[plural]:
            raise NotFound(f"{plural}/{name} not found")
        return copy.deepcopy(self.store[plural][name])

    async def list(self, plural: str, **_: Any) -> tuple[list[dict], str]:
        return list(self.store[plural].values()), "1"

    async def create(self, plural: str, body: dict) -> dict:
        self.store[plural][body["metadata"]["name"]] = body
        return body


@pytest.mark.parametrize(("nodes", "bound"), [
    ([node("n1", labels={"disk": "ssd"}), node("n2", labels={"disk": "ssd"})], "n1"),  # the writer is Ready: there
    ([node("n1", ready=False), node("n2"), node("n3", labels={"disk": "ssd"})], "n3"),  # dead: where the spec fits
    ([node("n2"), node("n3", labels={"disk": "ssd"})], "n3"),  # removed
], ids=["writer-ready", "writer-dead", "writer-removed"])
def test_a_restore_is_bound_where_it_can_run(nodes: list[dict], bound: str) -> None:
    api = Api(nodes)
    made = asyncio.run(restore_container(api, BACKUP["metadata"]["name"], name=None, node=None))  # type: ignore[arg-type]
    assert made["spec"]["nodeName"] == bound


def test_a_restore_that_fits_nowhere_says_so_and_creates_nothing(capsys: pytest.CaptureFixture[str]) -> None:
    api = Api([node("n1", ready=False), node("n2")])
    with pytest.raises(typer.Exit):
        asyncio.run(restore_container(api, BACKUP["metadata"]["name"], name=None, node=None))  # type: ignore[arg-type]
    assert api.store["containers"] == {}
    assert "node n1 that wrote backup web-20261130-030000 is not Ready, and container web fits on no other node" in capsys.readouterr().err
