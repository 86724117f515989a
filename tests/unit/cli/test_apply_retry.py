"""`dlxc apply` sends an idempotent apply again when the server was briefly unavailable, not when it is down."""
from __future__ import annotations

import asyncio
from typing import Any

import pytest

from dlxc.apply.applier import ApplyResult
from dlxc.cli import apply as apply_cli
from dlxc.client.errors import Invalid, TemporaryError, Unreachable


def fake_apply_set(failures: list[Exception]) -> tuple[list[int], Any]:
    calls: list[int] = []

    async def apply_set(client: Any, manifests: Any, **kwargs: Any) -> list[ApplyResult]:
        calls.append(1)
        if failures:
            raise failures.pop(0)
        return [ApplyResult("container/web", "created")]

    return calls, apply_set


@pytest.fixture(autouse=True)
def no_sleep(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    slept: list[float] = []

    async def sleep(delay: float) -> None:
        slept.append(delay)

    monkeypatch.setattr(apply_cli.asyncio, "sleep", sleep)
    return slept


def test_a_503_while_etcd_elects_is_applied_again(monkeypatch: pytest.MonkeyPatch, no_sleep: list[float],
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    calls, fake = fake_apply_set([TemporaryError("etcd leader changed"), TemporaryError("etcd leader changed")])
    monkeypatch.setattr(apply_cli, "apply_set", fake)
    assert asyncio.run(apply_cli.run_apply(object(), [])) == 0  # type: ignore[arg-type]
    assert len(calls) == 3 and no_sleep == [0.5, 1.0]
    captured = capsys.readouterr()
    assert "etcd leader changed; applying again in 0.5s" in captured.err
    assert "container/web created" in captured.out


@pytest.mark.parametrize("error", [Unreachable("cannot reach the apiserver at http://127.0.0.1:1: refused"),
                                   Invalid("Container is invalid: spec.image: required")], ids=["down", "invalid"])
def test_a_cluster_that_is_down_or_a_refusal_is_reported_at_once(monkeypatch: pytest.MonkeyPatch, no_sleep: list[float],
                                                                   error: Exception) -> None:
    calls, fake = fake_apply_set([error])
    monkeypatch.setattr(apply_cli, "apply_set", fake)
    with pytest.raises(type(error)):
        asyncio.run(apply_cli.run_apply(object(), []))  # type: ignore[arg-type]
    assert len(calls) == 1 and no_sleep == []


def test_an_unavailable_server_is_reported_after_the_retries(monkeypatch: pytest.MonkeyPatch, no_sleep: list[float]) -> None:
    calls, fake = fake_apply_set([TemporaryError("etcd leader changed")] * 4)
    monkeypatch.setattr(apply_cli, "apply_set", fake)
    with pytest.raises(TemporaryError):
        asyncio.run(apply_cli.run_apply(object(), []))  # type: ignore[arg-type]
    assert len(calls) == 4 and no_sleep == list(apply_cli.RETRY_DELAYS)
