"""How a recorded status.placement reads (explain-placement prints it; describe can show it)."""
from __future__ import annotations

import pytest

from dlxc.cli.explain_placement import placement_lines

CHOSEN = {
    "node": "large", "total": 94.25, "message": "node large scored 94.2 of 100 (2/3 nodes fit)",
    "scores": {"AvailableCPU": 100.0, "AvailableMemory": 87.5},
    "weights": {"AvailableCPU": 30, "AvailableMemory": 30},
    "runnersUp": [{"node": "medium", "total": 84.75, "scores": {"AvailableCPU": 100.0, "AvailableMemory": 62.5}}],
    "rejected": {"node not ready": 1},
}
NOWHERE = {"message": "0/3 nodes are available: 3 insufficient memory.", "rejected": {"insufficient memory": 3}}


@pytest.mark.parametrize(
    ("placement", "lines"),
    [
        (CHOSEN, [
            "node large scored 94.2 of 100 (2/3 nodes fit)",
            "NODE             TOTAL   AvailableCPU(30)   AvailableMemory(30)",
            "large (chosen)   94.2    100.0              87.5",
            "medium           84.8    100.0              62.5",
        ]),
        (NOWHERE, ["fits nowhere: 0/3 nodes are available: 3 insufficient memory."]),
    ],
    ids=["chosen-with-runner-up", "nowhere"],
)
def test_placement_lines(placement: dict, lines: list[str]) -> None:
    assert placement_lines(placement) == lines
