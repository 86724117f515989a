from __future__ import annotations

from pathlib import Path

import pytest

from scheduler.config import SchedulerConfigError, load_settings
from scheduler.plugins import DEFAULT_FILTERS


def test_defaults_are_the_original_design() -> None:
    settings = load_settings()
    assert settings.weights == {"AvailableCPU": 30, "AvailableMemory": 30, "AvailableDisk": 20, "ContainerLoad": 20,
                                "AntiAffinitySpread": 100}
    assert settings.filters == list(DEFAULT_FILTERS)
    assert settings.seed == 0


def test_file_then_flags(tmp_path: Path) -> None:
    path = tmp_path / "scheduler.yaml"
    path.write_text("seed: 5\nweights: {AvailableCPU: 50, ContainerLoad: 0}\nretryMaxSeconds: 10\n")
    settings = load_settings(path, seed=9, weights=["AvailableDisk=1"])
    assert settings.seed == 9
    assert settings.retry_max_seconds == 10
    assert settings.weights == {"AvailableCPU": 50, "AvailableMemory": 30, "AvailableDisk": 1, "ContainerLoad": 0,
                                "AntiAffinitySpread": 100}
    assert set(settings.score_plugins()) == {"AvailableCPU", "AvailableMemory", "AvailableDisk", "AntiAffinitySpread"}


@pytest.mark.parametrize(
    ("text", "flags", "message"),
    [
        ("weights: {AvailableGPU: 1}\n", [],
         "weights: unknown score plugin 'AvailableGPU'; known: AvailableCPU, AvailableMemory, AvailableDisk, "
         "ContainerLoad, AntiAffinitySpread"),
        ("weights: {AvailableCPU: -1}\n", [], "weights: weight of AvailableCPU must be 0 or more"),
        ("filters: [NodeReady, Magic]\n", [], "filters: unknown filter plugin 'Magic'; known: NodeReady, "
         "NodeSchedulable, NodeSelector, ContainerCapacity, ResourcesFit, AntiAffinity"),
        ("sed: 1\n", [], "sed: unknown field"),
        ("- 1\n", [], "must be a mapping of settings"),
        ("", ["AvailableCPU"], "--weight 'AvailableCPU': use NAME=NUMBER, e.g. AvailableCPU=40"),
        ("", ["AvailableCPU=0", "AvailableMemory=0", "AvailableDisk=0", "ContainerLoad=0"],
         "weights: at least one resource score plugin needs a weight above 0"),
    ],
    ids=["unknown-scorer", "negative", "unknown-filter", "unknown-field", "not-a-mapping", "bad-flag", "all-zero"],
)
def test_bad_settings_name_file_and_field(tmp_path: Path, text: str, flags: list[str], message: str) -> None:
    path = tmp_path / "scheduler.yaml"
    path.write_text(text)
    with pytest.raises(SchedulerConfigError) as err:
        load_settings(path, weights=flags)
    assert str(err.value).endswith(message)
    assert str(err.value).startswith("--weight" if message.startswith("--weight") else str(path))
